package appliance

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apimgw/apimgw/netstack"
	"github.com/apimgw/apimgw/policy"
	"github.com/apimgw/apimgw/wire"
)

// startBodyGateway is startGateway with a body buffering limit.
func startBodyGateway(t *testing.T, snap *wire.Snapshot, limit int) string {
	t.Helper()
	h := &Handler{BodyLimit: limit}
	c, err := Compile(snap, policy.NewState(nil))
	if err != nil {
		t.Fatal(err)
	}
	h.Swap(c)
	s := netstack.New(netstack.Config{Addr: "127.0.0.1:0", Loops: 2, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, h)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return "http://" + s.Addr().String()
}

// TestBodyBuffering: pipelines that read bodies get them buffered (request
// and response, gzip decoded), within the limit: 413 for a request over it,
// 502 for a response over it; other operations stream.
func TestBodyBuffering(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/base/gzip":
			w.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(w)
			io.WriteString(zw, "compressed colour from the backend")
			zw.Close()
		case "/base/big":
			w.Write(bytes.Repeat([]byte("colour "), 20000))
		default:
			w.Header().Set("X-Encoding-Seen", r.Header.Get("Content-Encoding"))
			io.WriteString(w, "backend saw: "+string(body)+" (colour)")
		}
	}))
	t.Cleanup(backend.Close)
	fr := `<policies><inbound><find-and-replace from="cat" to="dog"/></inbound><backend><forward-request/></backend>` +
		`<outbound><find-and-replace from="colour" to="color"/></outbound></policies>`
	snap := &wire.Snapshot{ProtocolVersion: wire.ProtocolVersion, Version: 1,
		APIs: []wire.API{{ID: "b", Path: "b", ServiceURL: backend.URL + "/base", Protocols: []string{"http"},
			Operations: []wire.Operation{
				{ID: "rw", Method: "POST", URLTemplate: "/rw", Policy: fr},
				{ID: "gzip", Method: "POST", URLTemplate: "/gzip", Policy: fr},
				{ID: "big", Method: "POST", URLTemplate: "/big", Policy: fr},
				{ID: "stream", Method: "POST", URLTemplate: "/stream"},
			}}}}
	if err := snap.Seal(); err != nil {
		t.Fatal(err)
	}
	base := startBodyGateway(t, snap, 64<<10)
	post := func(path string, body []byte, hdr ...string) (int, http.Header, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", base+"/b"+path, bytes.NewReader(body))
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header, string(got)
	}
	if st, _, got := post("/rw", []byte("a cat")); st != 200 || got != "backend saw: a dog (color)" {
		t.Errorf("rewrite both bodies: %d %q", st, got)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	io.WriteString(zw, "a gzipped cat")
	zw.Close()
	if st, h, got := post("/rw", gz.Bytes(), "Content-Encoding", "gzip"); st != 200 || got != "backend saw: a gzipped dog (color)" || h.Get("X-Encoding-Seen") != "" {
		t.Errorf("gzip request: %d %q %v", st, got, h)
	}
	// Go's client asks for gzip itself and decodes transparently unless we
	// ask: use a transport that does not.
	req, _ := http.NewRequest("POST", base+"/b/gzip", strings.NewReader("x"))
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(got) != "compressed color from the backend" || resp.Header.Get("Content-Encoding") != "" {
		t.Errorf("gzip response: %d %q %v", resp.StatusCode, got, resp.Header)
	}
	if st, _, got := post("/rw", bytes.Repeat([]byte("x"), 100<<10)); st != 413 || !strings.Contains(got, "larger than this gateway buffers") {
		t.Errorf("request over the limit: %d %q", st, got)
	}
	if st, _, got := post("/big", nil); st != 502 || !strings.Contains(got, "response body is larger") {
		t.Errorf("response over the limit: %d %q", st, got)
	}
	// No body-reading policy: streamed, any size.
	if st, _, got := post("/stream", bytes.Repeat([]byte("cat "), 50<<10)); st != 200 || !strings.HasPrefix(got, "backend saw: cat cat") || len(got) < 200<<10 {
		t.Errorf("streamed: %d %d bytes", st, len(got))
	}
}

// TestBodyBudget: the bytes buffered by all requests together are bounded: a
// request whose body (and the engine's copy of it for the backend) would
// pass the budget while another is being buffered gets 503 with Retry-After,
// and the budget is free again once that one ends.
func TestBodyBudget(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "got %d", n)
	}))
	t.Cleanup(backend.Close)
	snap := &wire.Snapshot{ProtocolVersion: wire.ProtocolVersion, Version: 1,
		APIs: []wire.API{{ID: "b", Path: "b", ServiceURL: backend.URL, Protocols: []string{"http"},
			Operations: []wire.Operation{{ID: "rw", Method: "POST", URLTemplate: "/rw", Policy: `<policies><inbound><find-and-replace from="a" to="b"/></inbound></policies>`}}}}}
	if err := snap.Seal(); err != nil {
		t.Fatal(err)
	}
	h := &Handler{BodyLimit: 1 << 20, BodyBudget: 150 << 10}
	c, err := Compile(snap, policy.NewState(nil))
	if err != nil {
		t.Fatal(err)
	}
	h.Swap(c)
	s := netstack.New(netstack.Config{Addr: "127.0.0.1:0", Loops: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, h)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	addr := s.Addr().String()
	body := bytes.Repeat([]byte("x"), 80<<10)
	head := "POST /b/rw HTTP/1.1\r\nHost: t\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"
	// The first request sends part of its body and holds the rest.
	held, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	held.Write([]byte(head))
	held.Write(body[:1024])
	// Its reservation is made on the loop; poll until a second request is refused.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Post("http://"+addr+"/b/rw", "text/plain", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 503 {
			if resp.Header.Get("Retry-After") != "1" || !strings.Contains(string(got), "holding too many request and response bodies") {
				t.Fatalf("503 without Retry-After or message: %v %q", resp.Header, got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never refused: %d %q", resp.StatusCode, got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	held.Write(body[1024:])
	r := bufio.NewReader(held)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(got) != "got 81920" {
		t.Fatalf("held request: %d %q", resp.StatusCode, got)
	}
	resp2, err := http.Post("http://"+addr+"/b/rw", "text/plain", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != 200 {
		t.Fatalf("after the held request: %d", resp2.StatusCode)
	}
	// The reservation ends when the exchange does, just after the answer.
	for n := h.buffered.Load(); n != 0; n = h.buffered.Load() {
		if time.Now().After(deadline.Add(10 * time.Second)) {
			t.Fatalf("%d bytes still reserved", n)
		}
		time.Sleep(time.Millisecond)
	}
}
