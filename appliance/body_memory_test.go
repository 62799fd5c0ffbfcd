package appliance

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apimgw/apimgw/netstack"
	"github.com/apimgw/apimgw/wire"
)

// bodyMemorySnap is the operations TestBodyMemoryReleased and
// TestBodyMemoryRefusal run: set-body through Body.As<string> (request) and
// find-and-replace (response), an expression that fails on the body, a
// forward that times out, and an expression that builds far more than the
// body (four copies of it).
func bodyMemorySnap(t *testing.T, backend string) *wire.Snapshot {
	t.Helper()
	onErr := `<on-error><set-header name="X-Reason" exists-action="override"><value>@(context.LastError.Reason)</value></set-header></on-error>`
	upper := `<policies><inbound><set-body>@(context.Request.Body.As<string>(preserveContent: true).ToUpperInvariant())</set-body></inbound>` +
		`<backend><forward-request/></backend><outbound><find-and-replace from="got" to="GOT"/></outbound>` + onErr + `</policies>`
	bad := `<policies><inbound><set-variable name="a" value="@(context.Request.Body.As<JObject>(preserveContent: true)[&quot;a&quot;].ToString())"/></inbound>` +
		`<backend><forward-request/></backend>` + onErr + `</policies>`
	slow := `<policies><inbound><find-and-replace from="a" to="b"/></inbound><backend><forward-request timeout="1"/></backend>` + onErr + `</policies>`
	triple := `<policies><inbound><set-body>@{ var s = context.Request.Body.As<string>(preserveContent: true); return s + s + s + s; }</set-body></inbound>` +
		`<backend><forward-request/></backend>` + onErr + `</policies>`
	snap := &wire.Snapshot{ProtocolVersion: wire.ProtocolVersion, Version: 1,
		APIs: []wire.API{{ID: "b", Path: "b", ServiceURL: backend, Protocols: []string{"http"},
			Operations: []wire.Operation{
				{ID: "upper", Method: "POST", URLTemplate: "/upper", Policy: upper},
				{ID: "bad", Method: "POST", URLTemplate: "/bad", Policy: bad},
				{ID: "slow", Method: "POST", URLTemplate: "/slow", Policy: slow},
				{ID: "triple", Method: "POST", URLTemplate: "/triple", Policy: triple},
			}}}}
	if err := snap.Seal(); err != nil {
		t.Fatal(err)
	}
	return snap
}

// bodyBackend answers "got N" with the request body's size; /slow waits 3 s
// first (longer than the forward's timeout) unless the request goes away.
func bodyBackend(t *testing.T) *httptest.Server {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/slow" {
			select {
			case <-time.After(3 * time.Second):
			case <-r.Context().Done():
			}
		}
		fmt.Fprintf(w, "got %d", n)
	}))
	t.Cleanup(be.Close)
	return be
}

// postBody POSTs b as text/plain to url and returns the status, headers
// and body of the answer.
func postBody(t *testing.T, url string, b []byte) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Post(url, "text/plain", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header, string(got)
}

// waitHeld polls the gateway-wide body count until cond holds for it.
func waitHeld(t *testing.T, h *Handler, what string, cond func(int64) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, _ := h.BodyMemory()
		if cond(n) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d body bytes held", what, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestBodyMemoryReleased: every request's body memory (the buffered body,
// the policies' copies, the engine's copies) is held while it runs and
// released when it ends, whichever way it ends: answered, on-error after a
// failing expression, a backend timeout through on-error, a client that
// goes away mid-body or while the backend works, a client too slow with its
// body (the engine's body timeout), an HTTP/2 stream reset. After each, the
// gateway-wide count is back to 0.
func TestBodyMemoryReleased(t *testing.T) {
	be := bodyBackend(t)
	g := startGatewayConfig(t, bodyMemorySnap(t, be.URL), netstack.Config{BodyIdleTimeout: 300 * time.Millisecond},
		func(h *Handler) { h.BodyLimit, h.BodyBudget = 4<<20, 64<<20 })
	h := g.h
	addr := strings.TrimPrefix(g.base, "http://")
	body := bytes.Repeat([]byte("abcdefgh"), 32<<10) // 256 KiB
	zero := func(n int64) bool { return n == 0 }
	post := func(path string, b []byte) (int, http.Header, string) {
		t.Helper()
		return postBody(t, g.base+"/b"+path, b)
	}
	rawHead := func(path string) []byte {
		return []byte("POST /b" + path + " HTTP/1.1\r\nHost: t\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
	}

	t.Run("answered", func(t *testing.T) {
		if st, _, got := post("/upper", body); st != 200 || got != "GOT 262144" {
			t.Fatalf("%d %q", st, got)
		}
		waitHeld(t, h, "after the answer", zero)
	})
	t.Run("on-error", func(t *testing.T) {
		st, hdr, got := post("/bad", body)
		if st != 500 || hdr.Get("X-Reason") != "ExpressionValueEvaluationFailure" {
			t.Fatalf("%d %v %q", st, hdr, got)
		}
		waitHeld(t, h, "after on-error", zero)
	})
	t.Run("backend-timeout", func(t *testing.T) {
		if st, _, got := post("/slow", body); st != 504 {
			t.Fatalf("%d %q", st, got)
		}
		waitHeld(t, h, "after the backend timed out", zero)
	})
	t.Run("client-gone-mid-body", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write(rawHead("/upper"))
		c.Write(body[:1000])
		waitHeld(t, h, "while the body arrives", func(n int64) bool { return n >= int64(len(body))-bodySlack })
		c.Close()
		waitHeld(t, h, "after the client went away mid-body", zero)
	})
	t.Run("client-gone-during-forward", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write(rawHead("/slow"))
		c.Write(body)
		waitHeld(t, h, "while the backend works", func(n int64) bool { return n > 0 })
		time.Sleep(100 * time.Millisecond)
		c.Close()
		waitHeld(t, h, "after the client went away during the forward", zero)
	})
	t.Run("body-timeout", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write(rawHead("/upper"))
		c.Write(body[:1000])
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 408 {
			t.Fatalf("a stalled body: %d", resp.StatusCode)
		}
		waitHeld(t, h, "after the body timeout", zero)
	})
	t.Run("h2-reset", func(t *testing.T) {
		tr := &http.Transport{Protocols: new(http.Protocols)}
		tr.Protocols.SetUnencryptedHTTP2(true)
		defer tr.CloseIdleConnections()
		pr, pw := io.Pipe()
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "POST", g.base+"/b/upper", pr)
		req.ContentLength = int64(len(body))
		done := make(chan error, 1)
		go func() {
			resp, err := tr.RoundTrip(req)
			if err == nil {
				resp.Body.Close()
			}
			done <- err
		}()
		pw.Write(body[:1000])
		waitHeld(t, h, "while the h2 body arrives", func(n int64) bool { return n >= int64(len(body))-bodySlack })
		cancel() // RST_STREAM
		pw.CloseWithError(context.Canceled)
		<-done
		waitHeld(t, h, "after the stream reset", zero)
		// The connection still serves another stream.
		req2, _ := http.NewRequest("POST", g.base+"/b/upper", bytes.NewReader(body))
		resp, err := tr.RoundTrip(req2)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(got) != "GOT 262144" || resp.ProtoMajor != 2 {
			t.Fatalf("h2 after the reset: %d HTTP/%d %q", resp.StatusCode, resp.ProtoMajor, got)
		}
		waitHeld(t, h, "after the h2 answer", zero)
	})
}

// TestBodyMemoryRefusal: a copy a policy needs that does not fit the budget
// fails the request with APIM's JSON error shape, 503, Retry-After: 1, and
// context.LastError.Reason GatewayBodyMemoryExhausted in on-error; a body
// whose buffering does not fit is 503 before it is read. The budget is back
// to 0 afterwards and a request that fits still passes.
func TestBodyMemoryRefusal(t *testing.T) {
	be := bodyBackend(t)
	g := startGatewayConfig(t, bodyMemorySnap(t, be.URL), netstack.Config{},
		func(h *Handler) { h.BodyLimit, h.BodyBudget = 4<<20, 1<<20 })
	post := func(path string, b []byte) (int, http.Header, string) {
		t.Helper()
		return postBody(t, g.base+"/b"+path, b)
	}
	body := bytes.Repeat([]byte("x"), 200<<10)
	// 200 KiB buffered, then s + s + s + s builds 800 KiB (and the partial
	// sums before it): over the 1 MiB budget.
	st, hdr, got := post("/triple", body)
	want := `{"statusCode":503,"message":"` + msgBodyBudget + `"}`
	if st != 503 || hdr.Get("Retry-After") != "1" || hdr.Get("X-Reason") != "GatewayBodyMemoryExhausted" || got != want {
		t.Fatalf("a policy's copy over the budget: %d %v %q", st, hdr, got)
	}
	// A body larger than the whole budget is refused before it is read.
	st, hdr, got = post("/upper", bytes.Repeat([]byte("x"), 2<<20))
	if st != 503 || hdr.Get("Retry-After") != "1" || got != want {
		t.Fatalf("a body over the budget: %d %v %q", st, hdr, got)
	}
	waitHeld(t, g.h, "after the refusals", func(n int64) bool { return n == 0 })
	// 200 KiB through set-body: the body, ToUpperInvariant's string, the
	// engine's two copies for the backend: 800 KiB fits.
	if st, _, got := post("/upper", body); st != 200 || got != "GOT 204800" {
		t.Fatalf("a request that fits: %d %q", st, got)
	}
	waitHeld(t, g.h, "after the answer", func(n int64) bool { return n == 0 })
}

// TestBodyStringView: Body.As<string>() views a large body in place (no
// copy); the view stays valid when it outlives the request (the value cache)
// and the connection reads further bodies, large or small.
func TestBodyStringView(t *testing.T) {
	be := bodyBackend(t)
	store := `<policies><inbound><cache-store-value key="@(context.Request.Headers.GetValueOrDefault(&quot;X-Key&quot;, &quot;&quot;))" value="@(context.Request.Body.As<string>(preserveContent: true))" duration="60"/>` +
		`<return-response><set-status code="204" reason="Stored"/></return-response></inbound></policies>`
	load := `<policies><inbound><cache-lookup-value key="@(context.Request.Headers.GetValueOrDefault(&quot;X-Key&quot;, &quot;&quot;))" variable-name="v"/>` +
		`<return-response><set-body>@((string)context.Variables["v"])</set-body></return-response></inbound></policies>`
	snap := &wire.Snapshot{ProtocolVersion: wire.ProtocolVersion, Version: 1,
		APIs: []wire.API{{ID: "b", Path: "b", ServiceURL: be.URL, Protocols: []string{"http"},
			Operations: []wire.Operation{
				{ID: "store", Method: "POST", URLTemplate: "/store", Policy: store},
				{ID: "load", Method: "GET", URLTemplate: "/load", Policy: load},
			}}}}
	if err := snap.Seal(); err != nil {
		t.Fatal(err)
	}
	g := startGatewayConfig(t, snap, netstack.Config{})
	c := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}} // one keep-alive connection
	do := func(method, path, key string, b []byte) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, g.base+"/b"+path, bytes.NewReader(b))
		req.Header.Set("X-Key", key)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(got)
	}
	bodies := map[string][]byte{}
	for i, size := range []int{bodyViewMinTest, 1 << 10, 200 << 10, bodyViewMinTest - 1, 3 << 10} {
		key := "k" + strconv.Itoa(i)
		bodies[key] = bytes.Repeat([]byte{byte('a' + i)}, size)
		if st, got := do("POST", "/store", key, bodies[key]); st != 204 {
			t.Fatalf("store %s: %d %q", key, st, got)
		}
	}
	for key, want := range bodies {
		if st, got := do("GET", "/load", key, nil); st != 200 || got != string(want) {
			t.Errorf("%s (%d bytes) after the connection read further bodies: %d, %d bytes, starts %q", key, len(want), st, len(got), got[:min(len(got), 8)])
		}
	}
}

// bodyViewMinTest is policy's bodyViewMin (64 KiB + 1): the smallest body
// viewed in place.
const bodyViewMinTest = 64<<10 + 1
