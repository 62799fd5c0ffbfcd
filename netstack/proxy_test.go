package netstack

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testHandler forwards to one upstream, with a few paths that exercise the
// other decisions.
type testHandler struct {
	upstream string
	done     atomic.Int64
	mu       sync.Mutex
	statuses []int
}

func (h *testHandler) Serve(x *Exchange) {
	target := string(x.Req.Bytes(x.Req.Target))
	switch {
	case target == "/direct":
		x.Respond(200, "", []Field{{"Content-Type", "text/plain"}}, []byte("direct answer"))
	case target == "/suspend":
		x.Suspend()
		go func() {
			time.Sleep(5 * time.Millisecond)
			x.Resume(func(x *Exchange) {
				x.Respond(202, "", nil, []byte("resumed"))
			})
		}()
	case target == "/suspend-forward":
		x.Suspend()
		go x.Resume(func(x *Exchange) {
			x.SetTarget([]byte("/echo-headers"))
			x.Forward(h.upstream)
		})
	case target == "/down":
		x.Forward("127.0.0.1:1")
	case strings.HasPrefix(target, "/slow"):
		x.SetTimeout(200 * time.Millisecond)
		x.Forward(h.upstream)
	case target == "/nodecision":
	default:
		x.SetHeader("X-Gateway", "apimgw")
		x.DelHeader("X-Remove-Me")
		x.Forward(h.upstream)
	}
}

func (h *testHandler) Response(x *Exchange) {
	if x.Resp.Status == 418 {
		x.Respond(200, "", nil, []byte("replaced"))
		return
	}
	x.SetResponseHeader("X-Served-By", "apimgw")
}

func (h *testHandler) Done(x *Exchange) {
	h.done.Add(1)
	h.mu.Lock()
	h.statuses = append(h.statuses, x.Status)
	h.mu.Unlock()
}

type backend struct {
	*httptest.Server
	conns atomic.Int64
	reqs  atomic.Int64
	paths chan string
}

func newBackend(t *testing.T) *backend {
	b := &backend{paths: make(chan string, 1000)}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		b.reqs.Add(1)
		select {
		case b.paths <- r.URL.Path:
		default:
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"path":%q}`, r.URL.Path)
	})
	mux.HandleFunc("/echo-headers", func(w http.ResponseWriter, r *http.Request) {
		b.reqs.Add(1)
		for k, v := range r.Header {
			fmt.Fprintf(w, "%s: %s\n", k, strings.Join(v, ","))
		}
		fmt.Fprintf(w, "Host: %s\n", r.Host)
	})
	mux.HandleFunc("/sha", func(w http.ResponseWriter, r *http.Request) {
		b.reqs.Add(1)
		h := sha256.New()
		n, _ := io.Copy(h, r.Body)
		fmt.Fprintf(w, "%d %s", n, hex.EncodeToString(h.Sum(nil)))
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		// A deterministic body of the requested size, chunked (no length).
		n := 8 << 20
		buf := make([]byte, 64<<10)
		for i := range buf {
			buf[i] = byte(i * 7)
		}
		for n > 0 {
			k := min(n, len(buf))
			w.Write(buf[:k])
			n -= k
		}
	})
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < 5; i++ {
			fmt.Fprintf(w, "part%d;", i)
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/teapot", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(418)
		io.WriteString(w, "teapot body")
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Second)
		io.WriteString(w, "late")
	})
	mux.HandleFunc("/delay", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(500 * time.Millisecond)
		io.WriteString(w, "delayed")
	})
	mux.HandleFunc("/nocontent", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(204)
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "no upgrade", 400)
			return
		}
		conn, rw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		rw.Flush()
		io.Copy(conn, rw) // echo
	})
	b.Server = httptest.NewUnstartedServer(mux)
	b.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			b.conns.Add(1)
		}
	}
	b.Start()
	t.Cleanup(b.Close)
	return b
}

func startProxy(t testing.TB, h Handler, cfg Config) *Server {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	if cfg.Loops == 0 {
		cfg.Loops = 2
	}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s := New(cfg, h)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s
}

func setup(t *testing.T) (*backend, *testHandler, *Server, string) {
	b := newBackend(t)
	h := &testHandler{upstream: b.Listener.Addr().String()}
	s := startProxy(t, h, Config{})
	return b, h, s, "http://" + s.Addr().String()
}

func get(t *testing.T, c *http.Client, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s body: %v", url, err)
	}
	return resp.StatusCode, string(body), resp.Header
}

func TestProxyBasics(t *testing.T) {
	b, h, _, base := setup(t)
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	for i := 0; i < 50; i++ {
		st, body, hdr := get(t, c, base+"/hello")
		if st != 200 || body != `{"path":"/hello"}` || hdr.Get("X-Served-By") != "apimgw" {
			t.Fatalf("got %d %q %v", st, body, hdr)
		}
	}
	if n := b.conns.Load(); n > 2 {
		t.Errorf("upstream connections not reused: %d for 50 requests", n)
	}
	st, body, _ := get(t, c, base+"/direct")
	if st != 200 || body != "direct answer" {
		t.Fatalf("direct: %d %q", st, body)
	}
	st, body, _ = get(t, c, base+"/suspend")
	if st != 202 || body != "resumed" {
		t.Fatalf("suspend: %d %q", st, body)
	}
	st, body, _ = get(t, c, base+"/suspend-forward")
	if st != 200 || !strings.Contains(body, "X-Forwarded-For: 127.0.0.1") {
		t.Fatalf("suspend-forward: %d %q", st, body)
	}
	st, body, _ = get(t, c, base+"/chunked")
	if st != 200 || body != "part0;part1;part2;part3;part4;" {
		t.Fatalf("chunked: %d %q", st, body)
	}
	st, body, _ = get(t, c, base+"/teapot")
	if st != 200 || body != "replaced" {
		t.Fatalf("replaced response: %d %q", st, body)
	}
	st, _, _ = get(t, c, base+"/nocontent")
	if st != 204 {
		t.Fatalf("204: %d", st)
	}
	st, body, _ = get(t, c, base+"/nodecision")
	if st != 500 || !strings.Contains(body, `"statusCode":500`) {
		t.Fatalf("no decision: %d %q", st, body)
	}
	// Done runs on the loop just after the last response is written: the
	// client may read it first.
	for deadline := time.Now().Add(2 * time.Second); h.done.Load() < 57 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if h.done.Load() != 57 {
		t.Errorf("Done called %d times", h.done.Load())
	}
}

func TestProxyHeaders(t *testing.T) {
	_, _, _, base := setup(t)
	req, _ := http.NewRequest("GET", base+"/echo-headers", nil)
	req.Header.Set("X-Remove-Me", "1")
	req.Header.Set("X-Forwarded-For", "10.1.2.3")
	req.Header.Set("Connection", "X-Hop, keep-alive")
	req.Header.Set("X-Hop", "secret")
	req.Header.Set("Authorization", "Bearer x")
	req.Header.Set("Keep-Alive", "timeout=5")
	req.Header.Set("TE", "trailers")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	got := string(body)
	for _, want := range []string{"X-Gateway: apimgw", "X-Forwarded-For: 10.1.2.3, 127.0.0.1", "X-Forwarded-Proto: http",
		"X-Forwarded-Host: " + strings.TrimPrefix(base, "http://"), "Authorization: Bearer x"} {
		if !strings.Contains(got, want) {
			t.Errorf("upstream did not see %q in:\n%s", want, got)
		}
	}
	for _, bad := range []string{"X-Remove-Me", "X-Hop", "Keep-Alive", "Te:"} {
		if strings.Contains(got, bad) {
			t.Errorf("upstream saw %q:\n%s", bad, got)
		}
	}
}

func TestProxyBodies(t *testing.T) {
	_, _, _, base := setup(t)
	payload := make([]byte, 3<<20+123)
	for i := range payload {
		payload[i] = byte(i * 31)
	}
	sum := sha256.Sum256(payload)
	want := fmt.Sprintf("%d %s", len(payload), hex.EncodeToString(sum[:]))
	// Content-Length upload.
	resp, err := http.Post(base+"/sha", "application/octet-stream", bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != want {
		t.Fatalf("length upload: %q, want %q", body, want)
	}
	// Chunked upload (unknown length).
	pr, pw := io.Pipe()
	go func() {
		for off := 0; off < len(payload); off += 100000 {
			pw.Write(payload[off:min(off+100000, len(payload))])
		}
		pw.Close()
	}()
	resp, err = http.Post(base+"/sha", "application/octet-stream", pr)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != want {
		t.Fatalf("chunked upload: %q, want %q", body, want)
	}
	// Large chunked download.
	resp, err = http.Get(base + "/big")
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	resp.Body.Close()
	if err != nil || n != 8<<20 {
		t.Fatalf("download: %d bytes, %v", n, err)
	}
}

func TestProxyErrors(t *testing.T) {
	_, _, _, base := setup(t)
	st, body, _ := get(t, http.DefaultClient, base+"/down")
	if st != 502 || !strings.Contains(body, `"statusCode":502`) {
		t.Fatalf("down: %d %q", st, body)
	}
	st, body, _ = get(t, http.DefaultClient, base+"/slow")
	if st != 504 || !strings.Contains(body, `"statusCode":504`) {
		t.Fatalf("slow: %d %q", st, body)
	}
}

// rawExchange writes raw bytes to the proxy and returns everything it answers
// until it closes the connection (or a timeout).
func rawExchange(t *testing.T, addr, req string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(c)
	return string(out)
}

func TestProxyRejectsMalformed(t *testing.T) {
	b, _, s, _ := setup(t)
	addr := s.Addr().String()
	cases := []struct {
		req    string
		status string
	}{
		{"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", "400"},
		{"GET /x HTTP/1.1\r\n\r\n", "400"},
		{"GET /x HTTP/2.0\r\nHost: a\r\n\r\n", "505"},
		{"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", "501"},
		{"GET /" + strings.Repeat("a", 9000) + " HTTP/1.1\r\nHost: a\r\n\r\n", "414"},
		{"GET /x HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("b", 33000) + "\r\n\r\n", "431"},
		{"GET /x HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n", "400"},
		{"GET /x HTTP/1.1\r\nHost: a\r\nX: a\r\n folded\r\n\r\n", "400"},
		{"POST /chunkbad HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\n", "400"},
		{"POST /sha HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", "400"},
	}
	for i, tc := range cases {
		out := rawExchange(t, addr, tc.req)
		if !strings.HasPrefix(out, "HTTP/1.1 "+tc.status+" ") || !strings.Contains(out, `"statusCode":`+tc.status) {
			t.Errorf("case %d: got %q", i, out)
		}
	}
	// Only the request whose head was valid reached the backend (its body was
	// cut off when the chunk size turned out invalid).
	for {
		select {
		case p := <-b.paths:
			if p != "/chunkbad" {
				t.Errorf("backend saw a request: %s", p)
			}
			continue
		default:
		}
		break
	}
}

func TestProxyPipelining(t *testing.T) {
	_, _, s, _ := setup(t)
	req := "GET /one HTTP/1.1\r\nHost: a\r\n\r\nGET /direct HTTP/1.1\r\nHost: a\r\n\r\n" +
		"POST /sha HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc" +
		"GET /three HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
	out := rawExchange(t, s.Addr().String(), req)
	r := bufio.NewReader(strings.NewReader(out))
	var bodies []string
	for {
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			break
		}
		b, _ := io.ReadAll(resp.Body)
		bodies = append(bodies, string(b))
	}
	want := []string{`{"path":"/one"}`, "direct answer", "3 ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", `{"path":"/three"}`}
	if fmt.Sprint(bodies) != fmt.Sprint(want) {
		t.Fatalf("pipelined responses: %q", bodies)
	}
}

func TestProxyExpectContinue(t *testing.T) {
	_, _, _, base := setup(t)
	if _, err := exec.LookPath("curl"); err != nil {
		cannotTest(t, "curl not installed (make test installs it)")
	}
	out, err := exec.Command("curl", "-sS", "-H", "Expect: 100-continue", "--data-binary", strings.Repeat("x", 5000),
		"-w", " %{http_code}", base+"/sha").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "5000 ") || !strings.HasSuffix(string(out), " 200") {
		t.Fatalf("curl: %v %q", err, out)
	}
	// curl through the proxy, keep-alive with several URLs on one connection.
	out, err = exec.Command("curl", "-sS", base+"/a", base+"/b", base+"/direct").CombinedOutput()
	if err != nil || string(out) != `{"path":"/a"}{"path":"/b"}direct answer` {
		t.Fatalf("curl keep-alive: %v %q", err, out)
	}
}

func TestProxyWebSocket(t *testing.T) {
	_, _, s, _ := setup(t)
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	for i := 0; i < 10; i++ {
		msg := fmt.Sprintf("frame-%d-%s", i, strings.Repeat("z", i*1000))
		io.WriteString(c, msg)
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(r, got); err != nil || string(got) != msg {
			t.Fatalf("echo %d: %v", i, err)
		}
	}
}

func TestProxyShutdownDrains(t *testing.T) {
	b := newBackend(t)
	h := &testHandler{upstream: b.Listener.Addr().String()}
	s := New(Config{Addr: "127.0.0.1:0", Loops: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, h)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	base := "http://" + s.Addr().String()
	result := make(chan string, 1)
	go func() {
		resp, err := http.Get(base + "/delay")
		if err != nil {
			result <- err.Error()
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		result <- string(body)
	}()
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := <-result; got != "delayed" {
		t.Fatalf("in-flight request: %q", got)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("shutdown took too long")
	}
	if _, err := net.DialTimeout("tcp", s.Addr().String(), time.Second); err == nil {
		t.Fatal("still accepting after shutdown")
	}
}

func TestPing(t *testing.T) {
	_, _, s, base := setup(t)
	get(t, http.DefaultClient, base+"/direct")
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}
