package netstack

import (
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// testForwardProxy is a forward proxy on loopback that requires
// Proxy-Authorization (when auth is set) and records the request lines and
// tunnels it saw. It forwards absolute-form requests and opens CONNECT
// tunnels, as squid or tinyproxy do.
type testForwardProxy struct {
	auth string // "user:password", or "" for none
	mu   sync.Mutex
	seen []string // "GET http://host/path" or "CONNECT host:port", with " auth=ok|missing"
	srv  *httptest.Server
}

func newTestForwardProxy(t *testing.T, auth string) *testForwardProxy {
	p := &testForwardProxy{auth: auth}
	tr := &http.Transport{Proxy: nil}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok := p.auth == "" || r.Header.Get("Proxy-Authorization") == "Basic "+base64.StdEncoding.EncodeToString([]byte(p.auth))
		p.mu.Lock()
		line := r.Method + " " + r.RequestURI
		if ok {
			p.seen = append(p.seen, line+" auth=ok")
		} else {
			p.seen = append(p.seen, line+" auth=missing")
		}
		p.mu.Unlock()
		if !ok {
			w.Header().Set("Proxy-Authenticate", `Basic realm="test"`)
			http.Error(w, "proxy auth required", http.StatusProxyAuthRequired)
			return
		}
		if r.Method == http.MethodConnect {
			up, err := net.Dial("tcp", r.Host)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			w.WriteHeader(200)
			// Hijack flushes the 200 before it stops the server's
			// background read, which may so take the first byte of the
			// client's TLS ClientHello: it is in rw's reader, so read
			// the tunnel from there, not from c.
			c, rw, err := w.(http.Hijacker).Hijack()
			if err != nil {
				up.Close()
				return
			}
			go func() { io.Copy(up, rw); up.Close() }()
			io.Copy(c, up)
			c.Close()
			return
		}
		if !r.URL.IsAbs() {
			http.Error(w, "not a proxy request", http.StatusBadRequest)
			return
		}
		r.RequestURI = ""
		r.Header.Del("Proxy-Authorization")
		resp, err := tr.RoundTrip(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	t.Cleanup(p.srv.Close)
	t.Cleanup(tr.CloseIdleConnections)
	return p
}

func (p *testForwardProxy) addr() string { return p.srv.Listener.Addr().String() }

func (p *testForwardProxy) lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.seen...)
}

// proxyHandler forwards every request through its proxy: to the https
// upstream when tls is set, else to the http upstream origin.
type proxyHandler struct {
	tlsHandler
	proxy  atomic.Pointer[UpstreamProxy]
	origin string
}

func (h *proxyHandler) Serve(x *Exchange) {
	if t := h.up.Load(); t != nil {
		x.ForwardTLS(t)
		return
	}
	x.ForwardProxy(h.proxy.Load(), h.origin)
}

// TestUpstreamProxyHTTP: an http upstream through a forward proxy gets the
// absolute-form target and Proxy-Authorization on every request (the client's
// own Proxy-Authorization is not passed on); proxy connections are pooled;
// a wrong password is the proxy's 407, passed to the client.
func TestUpstreamProxyHTTP(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "host=%s uri=%s proxyauth=%q", r.Host, r.RequestURI, r.Header.Get("Proxy-Authorization"))
	}))
	defer backend.Close()
	px := newTestForwardProxy(t, "alice:s3cret")
	origin := backend.Listener.Addr().String()
	h := &proxyHandler{origin: origin}
	h.proxy.Store(NewUpstreamProxy(px.addr(), "alice", "s3cret"))
	s := startProxy(t, h, Config{})
	base := "http://" + s.Addr().String()
	c := &http.Client{}
	for i := 0; i < 3; i++ {
		req, _ := http.NewRequest("GET", base+"/items?id=7", nil)
		req.Header.Set("Proxy-Authorization", "Basic client-secret")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := fmt.Sprintf(`host=%s uri=/items?id=7 proxyauth=""`, origin)
		if resp.StatusCode != 200 || string(body) != want {
			t.Fatalf("request %d: %d %q, want 200 %q", i, resp.StatusCode, body, want)
		}
	}
	lines := px.lines()
	want := "GET http://" + origin + "/items?id=7 auth=ok"
	if len(lines) != 3 || lines[0] != want || lines[2] != want {
		t.Fatalf("proxy saw %q, want 3 × %q", lines, want)
	}

	h.proxy.Store(NewUpstreamProxy(px.addr(), "alice", "wrong"))
	st, body, _ := get(t, c, base+"/x")
	if st != 407 || !strings.Contains(body, "proxy auth required") {
		t.Fatalf("wrong proxy password: %d %q, want the proxy's 407", st, body)
	}
}

// TestUpstreamProxyConnect: an https upstream through a forward proxy is
// reached by a CONNECT tunnel with Proxy-Authorization, then TLS to the
// upstream (SNI and the certificate check are the upstream's, not the
// proxy's); the tunnel is pooled; a refused tunnel (407) or an unreachable
// proxy is a 502 that says why.
func TestUpstreamProxyConnect(t *testing.T) {
	ca := newTestCA(t)
	b, conns := tlsBackend(t, ca.leaf(t, "backend.test"), true, 0)
	addr := b.Listener.Addr().String()
	px := newTestForwardProxy(t, "bob:pw")
	h := &proxyHandler{}
	direct := NewUpstreamTLS(addr, &tls.Config{ServerName: "backend.test", RootCAs: ca.pool})
	h.up.Store(direct.Via(NewUpstreamProxy(px.addr(), "bob", "pw")))
	s := startProxy(t, h, Config{})
	base := "http://" + s.Addr().String()
	c := &http.Client{}
	for i := 0; i < 5; i++ {
		st, body, _ := get(t, c, base+"/hello")
		if st != 200 || !strings.Contains(body, "alpn=http/1.1 sni=backend.test") {
			t.Fatalf("request %d: %d %q", i, st, body)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("5 requests through the tunnel used %d backend connections, want 1 (pooled)", n)
	}
	if lines := px.lines(); len(lines) != 1 || lines[0] != "CONNECT "+addr+" auth=ok" {
		t.Fatalf("proxy saw %q, want one authenticated CONNECT %s", lines, addr)
	}

	h.up.Store(direct.Via(NewUpstreamProxy(px.addr(), "bob", "wrong")))
	st, body, _ := get(t, c, base+"/hello")
	if st != 502 || !strings.Contains(body, "refused the tunnel to "+addr+": 407 Proxy Authentication Required") {
		t.Fatalf("refused tunnel: %d %q", st, body)
	}
	if m, _ := h.failed.Load().(string); !strings.Contains(m, "407") {
		t.Errorf("UpstreamFailed message %q does not name the 407", m)
	}

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	h.up.Store(direct.Via(NewUpstreamProxy(dead, "", "")))
	st, body, _ = get(t, c, base+"/hello")
	if st != 502 || !strings.Contains(body, "Backend proxy "+dead+" unreachable") {
		t.Fatalf("unreachable proxy: %d %q", st, body)
	}
}

// TestParseTunnelStatus: the CONNECT answer's status line.
func TestParseTunnelStatus(t *testing.T) {
	for _, tc := range []struct {
		line   string
		status int
		reason string
		ok     bool
	}{
		{"HTTP/1.1 200 Connection established\r\n", 200, "Connection established", true},
		{"HTTP/1.0 200 OK\r\n", 200, "OK", true},
		{"HTTP/1.1 407 Proxy Authentication Required\r\n", 407, "Proxy Authentication Required", true},
		{"HTTP/1.1 403 \"no\"\r\n", 403, "?no?", true},
		{"HTTP/1.1 200\r\n", 200, "", true},
		{"SSH-2.0-OpenSSH\r\n", 0, "", false},
		{"HTTP/1.1 2x0 OK\r\n", 0, "", false},
		{"HTTP/2 200\r\n", 0, "", false},
	} {
		st, rs, ok := parseTunnelStatus([]byte(tc.line))
		if st != tc.status || rs != tc.reason || ok != tc.ok {
			t.Errorf("%q: %d %q %t, want %d %q %t", tc.line, st, rs, ok, tc.status, tc.reason, tc.ok)
		}
	}
}

// FuzzParseTunnelStatus: any line is answered without panic; an accepted
// one has a 3-digit status and a reason safe to put in a JSON body.
func FuzzParseTunnelStatus(f *testing.F) {
	for _, s := range []string{"HTTP/1.1 200 Connection established\r\n", "HTTP/1.0 407 Proxy Authentication Required\r\n", "HTTP/1.1 2", "\x00\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		st, reason, ok := parseTunnelStatus(line)
		if !ok {
			return
		}
		if st < 100 || st > 999 || strings.ContainsAny(reason, "\"\\\r\n") {
			t.Fatalf("%q: %d %q", line, st, reason)
		}
	})
}
