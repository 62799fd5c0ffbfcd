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
	"math/big"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// selfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "apimgw test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func TestTLS(t *testing.T) {
	b := newBackend(t)
	h := &testHandler{upstream: b.Listener.Addr().String()}
	s := startProxy(t, h, Config{})
	cert, pool := selfSigned(t)
	addr, err := s.ServeTLS("127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 1}}
	base := "https://" + addr.String()
	for i := 0; i < 20; i++ {
		st, body, _ := get(t, c, base+"/echo-headers")
		if st != 200 || !strings.Contains(body, "X-Forwarded-Proto: https") || !strings.Contains(body, "X-Forwarded-For: 127.0.0.1") {
			t.Fatalf("request %d over TLS: %d %q", i, st, body)
		}
	}
	resp, err := c.Get(base + "/big")
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || n != 8<<20 {
		t.Fatalf("download over TLS: %d bytes, %v", n, err)
	}
	// A client that never finishes its handshake is dropped; plain HTTP on the
	// TLS port gets no HTTP answer.
	raw, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(raw, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	raw.SetReadDeadline(time.Now().Add(3 * time.Second))
	got, _ := io.ReadAll(raw)
	if strings.Contains(string(got), "HTTP/1.1 200") {
		t.Fatalf("plain HTTP answered on the TLS port: %q", got)
	}
	raw.Close()
}

// listeningSockets returns the listening sockets (TCP over IPv4 and IPv6, and
// Unix) that this process holds, by inode, with a description.
func listeningSockets(t *testing.T) map[string]string {
	t.Helper()
	own := map[string]bool{}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("listing own fds: %v", err)
	}
	for _, fd := range fds {
		if l, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil && strings.HasPrefix(l, "socket:[") {
			own[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	out := map[string]string{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) > 9 && fs[3] == "0A" && own[fs[9]] { // 0A: TCP_LISTEN
				out[fs[9]] = f + " " + fs[1]
			}
		}
	}
	b, err := os.ReadFile("/proc/net/unix")
	if err != nil {
		t.Fatalf("/proc/net/unix: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		fs := strings.Fields(line)
		if len(fs) > 6 && fs[3] == "00010000" && own[fs[6]] { // __SO_ACCEPTCON
			out[fs[6]] = "unix " + strings.Join(fs[7:], " ")
		}
	}
	return out
}

// TestTLSBridgeOpensNoListener: the plaintext of TLS connections reaches the
// event loops through socket pairs, so serving TLS opens no socket but the TLS
// listener itself — nothing another local process could connect to and be
// paired with a client's plaintext (the bridge used to pair connections
// accepted on a 127.0.0.1 listener by source port).
func TestTLSBridgeOpensNoListener(t *testing.T) {
	b := newBackend(t)
	h := &testHandler{upstream: b.Listener.Addr().String()}
	s := startProxy(t, h, Config{})
	before := listeningSockets(t)
	cert, pool := selfSigned(t)
	addr, err := s.ServeTLS("127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for i := 0; i < 5; i++ {
		if st, _, _ := get(t, c, "https://"+addr.String()+"/echo-headers"); st != 200 {
			t.Fatalf("request %d over TLS: %d", i, st)
		}
	}
	tlsPort := fmt.Sprintf(":%04X", addr.(*net.TCPAddr).Port)
	var extra []string
	for ino, what := range listeningSockets(t) {
		if _, ok := before[ino]; !ok && !strings.HasSuffix(what, tlsPort) {
			extra = append(extra, what)
		}
	}
	if len(extra) > 0 {
		t.Fatalf("serving TLS opened listeners besides %s: %v", addr, extra)
	}
}

// BenchmarkTLSKeepAlive is BenchmarkProxyKeepAlive over TLS: requests one at
// a time over one keep-alive TLS connection, through the TLS bridge to the
// event loop and on to a keep-alive upstream.
func BenchmarkTLSKeepAlive(b *testing.B) {
	up := rawBackend(b)
	s := startProxy(b, &forwardAll{upstream: up}, Config{Loops: 1})
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	addr, err := s.ServeTLS("127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	if err != nil {
		b.Fatal(err)
	}
	c, err := tls.Dial("tcp", addr.String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	benchRoundTrips(b, keepAliveRoundTrip(b, c))
}
