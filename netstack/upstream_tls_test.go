package netstack

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// testCA is a private certificate authority for TLS backend tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t testing.TB) *testCA {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "apimgw test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// leaf issues a server certificate for 127.0.0.1 and the given DNS names.
func (ca *testCA) leaf(t testing.TB, names ...string) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "backend"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: names, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// tlsHandler forwards every request to its UpstreamTLS.
type tlsHandler struct {
	up     atomic.Pointer[UpstreamTLS]
	failed atomic.Value // last UpstreamFailed message
}

func (h *tlsHandler) Serve(x *Exchange)    { x.ForwardTLS(h.up.Load()) }
func (h *tlsHandler) Response(x *Exchange) {}
func (h *tlsHandler) Done(x *Exchange)     {}
func (h *tlsHandler) UpstreamFailed(x *Exchange, status int, msg string) {
	h.failed.Store(msg)
}

// tlsBackend is an https backend with a certificate from ca (or self-signed
// when ca is nil); it answers with what it saw of the TLS session.
func tlsBackend(t *testing.T, cert tls.Certificate, keepAlive bool, idle time.Duration) (*httptest.Server, *atomic.Int64) {
	var conns atomic.Int64
	b := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			buf := make([]byte, 1<<20)
			for i := 0; i < 4; i++ {
				w.Write(buf)
			}
			return
		}
		fmt.Fprintf(w, "proto=%s alpn=%s sni=%s resumed=%t host=%s", r.Proto, r.TLS.NegotiatedProtocol, r.TLS.ServerName, r.TLS.DidResume, r.Host)
	}))
	b.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
	b.Config.SetKeepAlivesEnabled(keepAlive)
	b.Config.IdleTimeout = idle
	b.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are expected
	b.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	b.StartTLS()
	t.Cleanup(b.Close)
	return b, &conns
}

// TestUpstreamTLS: an https backend whose certificate comes from a private
// CA is reached through the engine when the CA is trusted (SNI sent, ALPN
// http/1.1, connections pooled, large bodies streamed); an untrusted or
// wrongly named certificate is a 502 that says why; a backend that closes
// every connection gets resumed sessions.
func TestUpstreamTLS(t *testing.T) {
	ca := newTestCA(t)
	b, conns := tlsBackend(t, ca.leaf(t, "backend.test"), true, 0)
	addr := b.Listener.Addr().String()
	h := &tlsHandler{}
	h.up.Store(NewUpstreamTLS(addr, &tls.Config{ServerName: "backend.test", RootCAs: ca.pool}))
	s := startProxy(t, h, Config{})
	base := "http://" + s.Addr().String()
	c := &http.Client{}
	for i := 0; i < 10; i++ {
		st, body, _ := get(t, c, base+"/hello")
		if st != 200 || !strings.Contains(body, "proto=HTTP/1.1 alpn=http/1.1 sni=backend.test") {
			t.Fatalf("request %d: %d %q", i, st, body)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("10 sequential requests used %d backend connections, want 1 (pooled)", n)
	}
	resp, err := c.Get(base + "/big")
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if n != 4<<20 {
		t.Errorf("download over upstream TLS: %d bytes", n)
	}

	// Not trusted: the system roots do not know the private CA.
	h.up.Store(NewUpstreamTLS(addr, &tls.Config{ServerName: "backend.test"}))
	st, body, _ := get(t, c, base+"/hello")
	if st != 502 || !strings.Contains(body, "Backend TLS handshake failed") || !strings.Contains(body, "unknown authority") {
		t.Errorf("untrusted backend: %d %q", st, body)
	}
	if m, _ := h.failed.Load().(string); !strings.Contains(m, "unknown authority") {
		t.Errorf("UpstreamFailed saw %q", m)
	}
	// Trusted CA, wrong name.
	h.up.Store(NewUpstreamTLS(addr, &tls.Config{ServerName: "other.test", RootCAs: ca.pool}))
	st, body, _ = get(t, c, base+"/hello")
	if st != 502 || !strings.Contains(body, "other.test") {
		t.Errorf("wrong name: %d %q", st, body)
	}

	// A backend without keep-alive: every request is a new connection, and
	// every handshake after the first resumes the session.
	b2, conns2 := tlsBackend(t, ca.leaf(t, "backend.test"), false, 0)
	h.up.Store(NewUpstreamTLS(b2.Listener.Addr().String(), &tls.Config{ServerName: "backend.test", RootCAs: ca.pool}))
	for i := 0; i < 3; i++ {
		st, body, _ := get(t, c, base+"/hello")
		want := fmt.Sprintf("resumed=%t", i > 0)
		if st != 200 || !strings.Contains(body, want) {
			t.Errorf("request %d without keep-alive: %d %q, want %s", i, st, body, want)
		}
	}
	if n := conns2.Load(); n != 3 {
		t.Errorf("backend without keep-alive saw %d connections, want 3", n)
	}
}

// TestUpstreamTLSStalePooled: a pooled TLS connection the backend closed
// while idle is not used for the next request (or is retried once).
func TestUpstreamTLSStalePooled(t *testing.T) {
	ca := newTestCA(t)
	b, conns := tlsBackend(t, ca.leaf(t, "backend.test"), true, 100*time.Millisecond)
	h := &tlsHandler{}
	h.up.Store(NewUpstreamTLS(b.Listener.Addr().String(), &tls.Config{ServerName: "backend.test", RootCAs: ca.pool}))
	s := startProxy(t, h, Config{})
	base := "http://" + s.Addr().String()
	for i := 0; i < 3; i++ {
		st, body, _ := get(t, &http.Client{}, base+"/hello")
		if st != 200 {
			t.Fatalf("request %d: %d %q", i, st, body)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if n := conns.Load(); n != 3 {
		t.Errorf("%d backend connections, want 3 (each idle one closed by the backend)", n)
	}
}
