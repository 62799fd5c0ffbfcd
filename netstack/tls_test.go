package netstack

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
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
