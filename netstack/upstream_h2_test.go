package netstack

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

// h2BackendHandler is what the HTTP/2 test backends answer:
//
//	/proto      the protocol and the request's Host
//	/echo       the request body back, with its sha256 in a trailer
//	/big?n=     n MiB of zeros
//	/slow       blocks until release is closed
//	/reset      resets the stream before answering (RST_STREAM INTERNAL_ERROR)
//	/resetmid   resets it after part of the body
//	/trailers   a body and trailers
func h2BackendHandler(release <-chan struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/echo":
			w.Header().Set("Trailer", "X-Sum")
			h := sha256.New()
			n, _ := io.Copy(io.MultiWriter(w, h), r.Body)
			w.Header().Set("X-Sum", fmt.Sprintf("%x/%d", h.Sum(nil), n))
		case "/big":
			var n int
			fmt.Sscan(r.URL.Query().Get("n"), &n)
			buf := make([]byte, 1<<20)
			for i := 0; i < n; i++ {
				w.Write(buf)
			}
		case "/slow":
			<-release
			io.WriteString(w, "slow done")
		case "/reset":
			panic(http.ErrAbortHandler)
		case "/resetmid":
			w.Write(make([]byte, 64<<10))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		case "/trailers":
			w.Header().Set("Trailer", "Grpc-Status, Grpc-Message")
			io.WriteString(w, "body")
			w.Header().Set("Grpc-Status", "0")
			w.Header().Set("Grpc-Message", "ok")
		default:
			fmt.Fprintf(w, "proto=%s host=%s", r.Proto, r.Host)
		}
	})
}

// h2cThroughProxy starts an h2c backend answering h2BackendHandler(release)
// and a proxy forwarding to it over HTTP/2 with prior knowledge; it returns
// the proxy's base URL, an HTTP client and the backend's connection count.
func h2cThroughProxy(t *testing.T, release <-chan struct{}) (string, *http.Client, *atomic.Int64) {
	b, conns := h2Backend(t, nil, nil, h2BackendHandler(release))
	h := &tlsHandler{}
	h.up.Store(NewUpstreamH2C(b.Listener.Addr().String()))
	s := startProxy(t, h, Config{})
	return "http://" + s.Addr().String(), h2Client(), conns
}

// h2Backend starts a backend that speaks HTTP/2: over TLS with ALPN (protos
// offered as given) or, with cert nil, h2c with prior knowledge. It counts
// the connections it accepted.
func h2Backend(t *testing.T, cert *tls.Certificate, protos []string, h http.Handler) (*httptest.Server, *atomic.Int64) {
	var conns atomic.Int64
	var b *httptest.Server
	if cert == nil {
		b = httptest.NewUnstartedServer(h2c.NewHandler(h, &http2.Server{}))
	} else {
		b = httptest.NewUnstartedServer(h)
		b.EnableHTTP2 = true
		b.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}, NextProtos: protos}
	}
	b.Config.ErrorLog = log.New(io.Discard, "", 0)
	b.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	if cert == nil {
		b.Start()
	} else {
		b.StartTLS()
	}
	t.Cleanup(b.Close)
	return b, &conns
}

// h2Client is an HTTP/1.1 client with enough idle connections for the
// concurrent tests (the gateway's client side stays HTTP/1.1).
func h2Client() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128, DisableCompression: true}, Timeout: 5 * time.Minute} // a safety net, not a speed bar: -race on a busy 2-core box is slow
}

// TestUpstreamH2Multiplexed: HTTP/1.1 clients through the real gateway to an
// https backend that requires h2: many concurrent requests arrive as HTTP/2
// streams on one backend connection, from every event loop.
func TestUpstreamH2Multiplexed(t *testing.T) {
	ca := newTestCA(t)
	leaf := ca.leaf(t, "backend.test")
	b, conns := h2Backend(t, &leaf, []string{"h2"}, h2BackendHandler(nil))
	h := &tlsHandler{}
	up := NewUpstreamTLSMode(b.Listener.Addr().String(), &tls.Config{ServerName: "backend.test", RootCAs: ca.pool}, HTTP2Only)
	h.up.Store(up)
	s := startProxy(t, h, Config{Loops: 2})
	base := "http://" + s.Addr().String()
	c := h2Client()
	const n = 64
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Get(base + "/proto")
			if err != nil {
				errs <- err.Error()
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "proto=HTTP/2.0 host=127.0.0.1") {
				errs <- fmt.Sprintf("%d %q", resp.StatusCode, body)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if got := conns.Load(); got != 1 {
		t.Errorf("%d concurrent requests used %d backend connections, want 1 (multiplexed)", n, got)
	}
	if got := up.HTTP2Conns(); got != 1 {
		t.Errorf("pool made %d HTTP/2 connections, want 1", got)
	}
}

// TestUpstreamH2Modes: HTTP2Auto uses h2 when the backend picks it by ALPN
// and HTTP/1.1 when it does not; HTTP2Only refuses a backend without h2 with
// a 502 that says so; h2c reaches a plain-http backend with prior knowledge.
func TestUpstreamH2Modes(t *testing.T) {
	ca := newTestCA(t)
	leaf := ca.leaf(t, "backend.test")
	both, _ := h2Backend(t, &leaf, []string{"h2", "http/1.1"}, h2BackendHandler(nil))
	only1, _ := h2Backend(t, &leaf, []string{"http/1.1"}, h2BackendHandler(nil))
	plain, plainConns := h2Backend(t, nil, nil, h2BackendHandler(nil))
	cfg := &tls.Config{ServerName: "backend.test", RootCAs: ca.pool}
	h := &tlsHandler{}
	s := startProxy(t, h, Config{})
	base := "http://" + s.Addr().String()
	c := h2Client()
	for _, tc := range []struct {
		name   string
		up     *UpstreamTLS
		status int
		want   string
	}{
		{"auto, backend offers h2", NewUpstreamTLSMode(both.Listener.Addr().String(), cfg, HTTP2Auto), 200, "proto=HTTP/2.0"},
		{"auto, backend has only http/1.1", NewUpstreamTLSMode(only1.Listener.Addr().String(), cfg, HTTP2Auto), 200, "proto=HTTP/1.1"},
		{"default stays HTTP/1.1", NewUpstreamTLS(both.Listener.Addr().String(), cfg), 200, "proto=HTTP/1.1"},
		{"h2 required, backend has only http/1.1", NewUpstreamTLSMode(only1.Listener.Addr().String(), cfg, HTTP2Only), 502, "did not accept HTTP/2"},
		{"h2c prior knowledge", NewUpstreamH2C(plain.Listener.Addr().String()), 200, "proto=HTTP/2.0"},
	} {
		h.up.Store(tc.up)
		for i := 0; i < 3; i++ { // the second and third reuse what the first learned
			st, body, _ := get(t, c, base+"/proto")
			if st != tc.status || !strings.Contains(body, tc.want) {
				t.Errorf("%s, request %d: %d %q, want %d with %q", tc.name, i, st, body, tc.status, tc.want)
			}
		}
	}
	if n := plainConns.Load(); n != 1 {
		t.Errorf("h2c backend saw %d connections, want 1", n)
	}
}

// TestUpstreamH2Bodies: large bodies both ways over one h2c connection
// (flow control in both directions: 16 MiB up, 32 MiB down, against 256 KiB
// stream windows), several at once.
func TestUpstreamH2Bodies(t *testing.T) {
	base, c, conns := h2cThroughProxy(t, nil)
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(2)
		go func(i int) {
			defer wg.Done()
			up := bytes.Repeat([]byte{byte('a' + i)}, 16<<20)
			resp, err := c.Post(base+"/echo", "application/octet-stream", bytes.NewReader(up))
			if err != nil {
				t.Error(err)
				return
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !bytes.Equal(got, up) || err != nil {
				t.Errorf("echo %d: %d bytes back (%v), want %d", i, len(got), err, len(up))
			}
		}(i)
		go func() {
			defer wg.Done()
			resp, err := c.Get(base + "/big?n=32")
			if err != nil {
				t.Error(err)
				return
			}
			n, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if n != 32<<20 || err != nil {
				t.Errorf("download: %d bytes (%v), want %d", n, err, 32<<20)
			}
		}()
	}
	// A chunked upload (no length known): the engine re-chunks it, the
	// bridge turns the chunks into DATA frames.
	wg.Add(1)
	go func() {
		defer wg.Done()
		pr, pw := io.Pipe()
		go func() {
			for i := 0; i < 64; i++ {
				pw.Write(bytes.Repeat([]byte{'c'}, 64<<10))
			}
			pw.Close()
		}()
		resp, err := c.Post(base+"/echo", "application/octet-stream", pr)
		if err != nil {
			t.Error(err)
			return
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if n != 64*64<<10 {
			t.Errorf("chunked echo: %d bytes back, want %d", n, 64*64<<10)
		}
	}()
	wg.Wait()
	if n := conns.Load(); n != 1 {
		t.Errorf("backend saw %d connections, want 1", n)
	}
}

// TestUpstreamH2SlowStream: a stream the backend does not answer does not
// hold up the others on the same connection.
func TestUpstreamH2SlowStream(t *testing.T) {
	release := make(chan struct{})
	base, c, conns := h2cThroughProxy(t, release)
	slow := make(chan string, 1)
	go func() {
		_, body, _ := get(t, c, base+"/slow")
		slow <- body
	}()
	for i := 0; i < 20; i++ {
		if st, body, _ := get(t, c, base+"/proto"); st != 200 || !strings.Contains(body, "HTTP/2.0") {
			t.Fatalf("request %d beside the slow one: %d %q", i, st, body)
		}
	}
	select {
	case body := <-slow:
		t.Fatalf("the slow request finished before it was released: %q", body)
	default:
	}
	close(release)
	if body := <-slow; body != "slow done" {
		t.Errorf("slow request: %q", body)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("backend saw %d connections, want 1", n)
	}
}

// TestUpstreamH2Reset: a stream the backend resets before its head is a 502;
// one reset mid-body cuts the client's response; the connection stays in
// use for the next requests.
func TestUpstreamH2Reset(t *testing.T) {
	base, c, conns := h2cThroughProxy(t, nil)
	if st, body, _ := get(t, c, base+"/reset"); st != 502 {
		t.Errorf("reset before the head: %d %q, want 502", st, body)
	}
	resp, err := c.Get(base + "/resetmid")
	if err == nil {
		n, rerr := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if rerr == nil {
			t.Errorf("reset mid-body: the client read %d bytes and a clean end", n)
		}
	}
	for i := 0; i < 3; i++ {
		if st, body, _ := get(t, c, base+"/proto"); st != 200 {
			t.Errorf("after the resets: %d %q", st, body)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("backend saw %d connections, want 1 (a reset stream does not end the connection)", n)
	}
}

// TestUpstreamH2GoAwayUnderLoad: the backend sends GOAWAY while requests
// keep coming (keep-alives turned off mid-load: Go's server then says GOAWAY
// whenever a connection has no open stream, which the workers make sure
// happens by meeting once); every request still succeeds, on new
// connections. (TLS: net/http's own HTTP/2 server honours
// SetKeepAlivesEnabled; x/net's h2c one cannot see it.)
func TestUpstreamH2GoAwayUnderLoad(t *testing.T) {
	ca := newTestCA(t)
	leaf := ca.leaf(t, "backend.test")
	b, conns := h2Backend(t, &leaf, []string{"h2"}, h2BackendHandler(nil))
	h := &tlsHandler{}
	h.up.Store(NewUpstreamTLSMode(b.Listener.Addr().String(), &tls.Config{ServerName: "backend.test", RootCAs: ca.pool}, HTTP2Only))
	s := startProxy(t, h, Config{})
	base := "http://" + s.Addr().String()
	c := h2Client()
	const workers = 8
	var wg, met sync.WaitGroup
	met.Add(workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 40; i++ {
				if w == 0 && i == 10 {
					b.Config.SetKeepAlivesEnabled(false)
				}
				if i == 20 {
					met.Done()
					met.Wait()
				}
				resp, err := c.Get(base + "/proto")
				if err != nil {
					t.Error(err)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !strings.Contains(string(body), "HTTP/2.0") {
					t.Errorf("worker %d request %d: %d %q", w, i, resp.StatusCode, body)
				}
			}
		}(w)
	}
	wg.Wait()
	if n := conns.Load(); n < 2 {
		t.Errorf("backend saw %d connections: GOAWAY should have made the pool dial again", n)
	}
}

// TestUpstreamTrailers: backend trailers (HTTP/2 through the bridge, and
// HTTP/1.1 chunked) reach an HTTP/1.1 client that sent "TE: trailers", in
// the chunked trailer section; a client that did not gets none.
func TestUpstreamTrailers(t *testing.T) {
	h2b, _ := h2Backend(t, nil, nil, h2BackendHandler(nil))
	h1b := httptest.NewServer(h2BackendHandler(nil))
	t.Cleanup(h1b.Close)
	h := &tlsHandler{}
	s := startProxy(t, h, Config{})
	base := "http://" + s.Addr().String()
	c := h2Client()
	for _, tc := range []struct {
		name string
		up   *UpstreamTLS
		addr string
	}{
		{"h2c backend", NewUpstreamH2C(h2b.Listener.Addr().String()), ""},
		{"HTTP/1.1 backend", nil, h1b.Listener.Addr().String()},
	} {
		if tc.up != nil {
			h.up.Store(tc.up)
		}
		for _, te := range []bool{true, false} {
			req, _ := http.NewRequest("GET", base+"/trailers", nil)
			if te {
				req.Header.Set("TE", "trailers")
			}
			var resp *http.Response
			var err error
			if tc.up == nil {
				resp, err = forwardPlain(t, c, tc.addr, req)
			} else {
				resp, err = c.Do(req)
			}
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			got := resp.Trailer.Get("Grpc-Status") + "/" + resp.Trailer.Get("Grpc-Message")
			want := "/"
			if te {
				want = "0/ok"
			}
			if string(body) != "body" || got != want {
				t.Errorf("%s, TE trailers %t: body %q trailers %q, want %q", tc.name, te, body, got, want)
			}
		}
	}
}

// forwardPlain sends req through a proxy that forwards to a plain HTTP/1.1
// upstream at addr.
func forwardPlain(t *testing.T, c *http.Client, addr string, req *http.Request) (*http.Response, error) {
	s := startProxy(t, &testHandler{upstream: addr}, Config{})
	req.URL.Host = s.Addr().String()
	return c.Do(req)
}
