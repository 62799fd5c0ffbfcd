package appliance

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apimgw/apimgw/wire"
)

// tinyproxy is a real forward proxy (Debian's tinyproxy-bin, installed by
// scripts/deps.sh test) on loopback with basic authentication.
type tinyproxy struct {
	addr string
	mu   sync.Mutex
	log  bytes.Buffer
}

func (p *tinyproxy) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.Write(b)
}

func (p *tinyproxy) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// startTinyproxy runs tinyproxy in the foreground for the test, requiring
// user:password. Without the binary the test fails under CI and is skipped
// (saying so) otherwise.
func startTinyproxy(t *testing.T, user, password string) *tinyproxy {
	bin, err := exec.LookPath("tinyproxy")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tinyproxy is missing and CI is set, so this test may not be skipped: scripts/deps.sh test installs it (tinyproxy-bin)")
		}
		t.Skip("NOT TESTED: tinyproxy is missing (scripts/deps.sh test installs tinyproxy-bin)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	conf := filepath.Join(dir, "tinyproxy.conf")
	// No ConnectPort line: CONNECT is allowed to any port (the backends
	// listen on random loopback ports).
	os.WriteFile(conf, []byte(fmt.Sprintf("Port %d\nListen 127.0.0.1\nTimeout 30\nMaxClients 50\nBasicAuth %s %s\nLogLevel Connect\nAllow 127.0.0.1\nDisableViaHeader Yes\n", port, user, password)), 0o600)
	p := &tinyproxy{addr: fmt.Sprintf("127.0.0.1:%d", port)}
	cmd := exec.Command(bin, "-d", "-c", conf)
	cmd.Stdout, cmd.Stderr = p, p
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", p.addr)
		if err == nil {
			c.Close()
			return p
		}
		if i == 100 {
			t.Fatalf("tinyproxy did not listen on %s: %s", p.addr, p.logText())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestBackendProxy: backend entities with a proxy, through a real forward
// proxy (tinyproxy) with basic authentication: an http backend gets its
// requests in absolute form with Proxy-Authorization (the proxy strips it:
// the backend never sees the credentials); an https backend requiring a
// client certificate is reached through a CONNECT tunnel, TLS end to end
// (SNI, trust and the client certificate are the backend's); a wrong
// password is the proxy's own answer for http and a 502 naming the refusal for
// https (on-error runs, LastError set); the password is in no compile
// warning or error.
func TestBackendProxy(t *testing.T) {
	px := startTinyproxy(t, "gw", "pr0xy-pw")
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "plain uri=%s host=%s proxyauth=%q", r.RequestURI, r.Host, r.Header.Get("Proxy-Authorization"))
	}))
	t.Cleanup(plain.Close)
	ca := newPKI(t, "apimgw test CA")
	leaf, _, _ := issue(t, ca, "backend.test")
	clientCA := newPKI(t, "client CA")
	_, clientPEM, clientKey := issue(t, clientCA)
	pool := x509.NewCertPool()
	pool.AddCert(clientCA.cert)
	secure := httpsBackend(t, "via-proxy", leaf, pool)
	secureURL := strings.Replace(secure.URL, "127.0.0.1", "localhost", 1) // a name: SNI is sent
	onErr := `<policies><inbound><set-backend-service backend-id="%s"/></inbound><backend><forward-request/></backend><outbound/>` +
		`<on-error><set-header name="X-Last-Error" exists-action="override"><value>@(context.LastError.Message)</value></set-header></on-error></policies>`
	snapshot := func(password string) *wire.Snapshot {
		proxy := &wire.BackendProxy{URL: "http://" + px.addr, Username: "gw", Password: password}
		return &wire.Snapshot{ProtocolVersion: wire.ProtocolVersion, Version: 1,
			APIs: []wire.API{{ID: "s", Path: "s", Protocols: []string{"http"}, Operations: []wire.Operation{
				{ID: "plain", Method: "GET", URLTemplate: "/plain", Policy: fmt.Sprintf(onErr, "plain")},
				{ID: "secure", Method: "GET", URLTemplate: "/secure", Policy: fmt.Sprintf(onErr, "secure")}}}},
			Backends: []wire.Backend{
				{ID: "plain", URL: plain.URL + "/base", Protocol: "http", Proxy: proxy},
				{ID: "secure", URL: secureURL, Protocol: "http", Proxy: proxy,
					TLS:         &wire.BackendTLS{ValidateCertificateName: ptrFalse()}, // the leaf names backend.test, the URL localhost
					Credentials: &wire.BackendCredentials{CertificateIDs: []string{"client"}}}},
			Certificates: []wire.Certificate{{ID: "ca", CertificatePEM: ca.pem, TrustedCA: true},
				{ID: "client", CertificatePEM: clientPEM, PrivateKeyPEM: clientKey}},
		}
	}
	g := startGateway(t, nil)
	c := compileWith(t, snapshot("pr0xy-pw"), Options{})
	for _, w := range c.Warnings {
		if strings.Contains(w, "pr0xy-pw") {
			t.Errorf("a compile warning shows the proxy password: %s", w)
		}
	}
	g.h.Swap(c)
	for i := 0; i < 3; i++ {
		st, _, body := call(t, "GET", g.base+"/s/plain?x=1", nil)
		want := fmt.Sprintf(`plain uri=/base/plain?x=1 host=%s proxyauth=""`, strings.TrimPrefix(plain.URL, "http://"))
		if st != 200 || body != want {
			t.Fatalf("http backend through the proxy: %d %q, want 200 %q\n%s", st, body, want, px.logText())
		}
		st, _, body = call(t, "GET", g.base+"/s/secure", nil)
		if st != 200 || !strings.Contains(body, "tls backend via-proxy client=leaf") || !strings.Contains(body, "sni=localhost") {
			t.Fatalf("https backend through the proxy: %d %q", st, body)
		}
	}
	log := px.logText()
	secureAddr := strings.TrimPrefix(secureURL, "https://")
	if !strings.Contains(log, "Request (file descriptor") || !strings.Contains(log, "GET "+plain.URL+"/base/plain?x=1 HTTP/1.1") {
		t.Errorf("tinyproxy did not see the absolute-form request:\n%s", log)
	}
	if n := strings.Count(log, "CONNECT "+secureAddr+" HTTP/1.1"); n != 1 {
		t.Errorf("tinyproxy saw %d CONNECT %s (want 1: the tunnel is pooled):\n%s", n, secureAddr, log)
	}

	g.h.Swap(compileWith(t, snapshot("wrong"), Options{}))
	// tinyproxy refuses a wrong password with 401 (407 when there is none).
	if st, _, body := call(t, "GET", g.base+"/s/plain", nil); st != 401 || !strings.Contains(body, "tinyproxy") {
		t.Errorf("http backend, wrong proxy password: %d %q, want the proxy's own 401", st, body)
	}
	st, hdr, body := call(t, "GET", g.base+"/s/secure", nil)
	if st != 502 || !strings.Contains(body, "refused the tunnel to "+secureAddr+": 401 Unauthorized") ||
		!strings.Contains(hdr.Get("X-Last-Error"), "refused the tunnel") {
		t.Errorf("https backend, wrong proxy password: %d %q (X-Last-Error %q)", st, body, hdr.Get("X-Last-Error"))
	}
	if strings.Contains(body, "wrong") || strings.Contains(body, "pr0xy-pw") {
		t.Errorf("the answer shows a proxy password: %q", body)
	}
}

func ptrFalse() *bool { f := false; return &f }
