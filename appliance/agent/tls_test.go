package agent_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apimgw/apimgw/appliance/agent"
	"github.com/apimgw/apimgw/appliance/envconf"
	"github.com/apimgw/apimgw/store"
)

// The test binary's proxy: HTTP_PROXY and HTTPS_PROXY point at it and
// NO_PROXY names skip.test and .invalid, set before anything reads the environment (Go
// reads it once per process). Loopback endpoints, which every other test
// uses, are never proxied. The proxy maps the names *.test to 127.0.0.1.
var testProxy struct {
	url      string
	connects atomic.Int64
	gets     atomic.Int64
}

func TestMain(m *testing.M) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	testProxy.url = "http://" + ln.Addr().String()
	go http.Serve(ln, http.HandlerFunc(serveProxy))
	os.Setenv("HTTP_PROXY", testProxy.url)
	os.Setenv("HTTPS_PROXY", testProxy.url)
	os.Setenv("NO_PROXY", "skip.test,.invalid")
	os.Exit(m.Run())
}

// mapHost turns apimcp.test:PORT into 127.0.0.1:PORT.
func mapHost(hostport string) string {
	host, port, _ := net.SplitHostPort(hostport)
	if strings.HasSuffix(host, ".test") {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// direct is the proxy's own transport: never through a proxy (itself).
var direct = &http.Transport{}

func serveProxy(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		testProxy.connects.Add(1)
		up, err := net.Dial("tcp", mapHost(r.Host))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusOK)
		hj, _ := w.(http.Hijacker)
		c, rw, err := hj.Hijack()
		if err != nil {
			up.Close()
			return
		}
		if n := rw.Reader.Buffered(); n > 0 {
			b, _ := rw.Reader.Peek(n)
			up.Write(b)
		}
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); io.Copy(up, c); up.(*net.TCPConn).CloseWrite() }()
		go func() { defer wg.Done(); io.Copy(c, up); c.Close() }()
		wg.Wait()
		up.Close()
		return
	}
	testProxy.gets.Add(1)
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.URL.Host = mapHost(r.URL.Host)
	resp, err := direct.RoundTrip(out)
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
}

// testCA makes a CA and a server certificate for apimcp.test and
// 127.0.0.1; it returns the server's TLS config and the CA's PEM file.
func testCA(t *testing.T) (*tls.Config, string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "apimgw test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "apimcp.test"},
		DNSNames: []string{"apimcp.test", "skip.test"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, caFile
}

// TestTLSAndProxy: the control plane over HTTPS with a private CA, reached
// directly or through HTTPS_PROXY (CONNECT), honouring NO_PROXY.
func TestTLSAndProxy(t *testing.T) {
	srvTLS, caFile := testCA(t)
	cp := &controlPlane{t: t, dir: t.TempDir(), addr: "127.0.0.1:0", tls: srvTLS}
	cp.start()
	t.Cleanup(cp.stop)
	tok := cp.setupGateway("gw1")
	_, port, _ := net.SplitHostPort(cp.addr)

	cases := []struct {
		name     string
		endpoint string
		opt      func(*agent.Config)
		connect  bool   // expect a sync
		errPart  string // else expect this in the last error
		proxied  bool
		warn     string
	}{
		{"1 private CA", cp.URL, func(c *agent.Config) { c.CAFile = caFile }, true, "", false, ""},
		{"2 system roots refuse it", cp.URL, func(*agent.Config) {}, false, "certificate signed by unknown authority", false, ""},
		{"3 validation disabled", cp.URL, func(c *agent.Config) { c.DisableCertificateValidation = true }, true, "", false, "DISABLED"},
		{"4 through HTTPS_PROXY", "https://apimcp.test:" + port, func(c *agent.Config) { c.CAFile = caFile }, true, "", true, ""},
		{"5 NO_PROXY", "https://skip.test:" + port, func(c *agent.Config) { c.CAFile = caFile }, false, "skip.test", false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := testProxy.connects.Load()
			g := newGateway(t, c.endpoint, tok, "", c.opt)
			g.run()
			if c.connect {
				eventually(t, 10*time.Second, "synced", func() bool { return g.applied.Load() == 1 }, func() string { return g.Logs.String() })
			} else {
				eventually(t, 10*time.Second, "failures", func() bool { return g.Agent.Status().Failures >= 2 })
				if st := g.Agent.Status(); st.Connected || !strings.Contains(st.LastError, c.errPart) {
					t.Fatalf("status %+v, want offline with %q", st, c.errPart)
				}
			}
			if got := testProxy.connects.Load() > before; got != c.proxied {
				t.Fatalf("went through the proxy: %v, want %v", got, c.proxied)
			}
			if c.warn != "" && !strings.Contains(g.Logs.String(), c.warn) {
				t.Fatalf("no warning %q in the log:\n%s", c.warn, g.Logs)
			}
		})
	}
}

// TestNewRefusesBadConfig: each unusable setting is refused with ErrConfig
// and a message naming it.
func TestNewRefusesBadConfig(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "apimgw.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600)
	tok := func() *envconf.Token { return nil }
	good := agent.Config{Endpoint: "https://cp.example", Token: tok, Store: st}
	good.Apply = func(context.Context, []byte) error { return nil }
	cases := []struct {
		name string
		mod  func(*agent.Config)
		want string
	}{
		{"1 no endpoint", func(c *agent.Config) { c.Endpoint = "" }, "no control plane endpoint"},
		{"2 not a URL", func(c *agent.Config) { c.Endpoint = "ftp://x" }, "not an http(s) URL"},
		{"3 no store", func(c *agent.Config) { c.Store = nil }, "required"},
		{"4 CA file missing", func(c *agent.Config) { c.CAFile = "/nonexistent/ca.pem" }, "config.service.ca"},
		{"5 CA file without certificates", func(c *agent.Config) { c.CAFile = notPEM }, "holds no PEM certificate"},
	}
	for _, c := range cases {
		cfg := good
		c.mod(&cfg)
		_, err := agent.New(cfg)
		if !errors.Is(err, agent.ErrConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want ErrConfig with %q", c.name, err, c.want)
		}
	}
	if _, err := agent.New(good); err != nil {
		t.Fatalf("good config refused: %v", err)
	}
}
