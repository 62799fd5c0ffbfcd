package gateway_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writeCert writes a self-signed certificate for 127.0.0.1 and its key as PEM
// files and returns a pool that trusts it.
func writeCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "apimgw"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestHTTPSListener(t *testing.T) {
	b := backend(t).URL
	dir := t.TempDir()
	certFile, keyFile, pool := writeCert(t, dir)
	https := e2ePort(t)
	d := newDaemon(t, b, fmt.Sprintf("listen.https=%s\nlisten.https.certificate=%s\nlisten.https.key=%s\n", https, certFile, keyFile))
	d.start()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Get("https://" + https + "/echo/over-tls")
	if err != nil {
		t.Fatalf("https: %v\n%s", err, d.logs())
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "/over-tls") {
		t.Fatalf("https: %d %s", resp.StatusCode, body)
	}
	d.stop(syscall.SIGTERM)

	// listen.https without a certificate: off, with a warning saying what to set.
	d2 := newDaemon(t, b, "listen.https="+e2ePort(t)+"\n")
	d2.start()
	if !strings.Contains(d2.logs(), "HTTPS listener off: set listen.https.certificate") {
		t.Fatalf("no warning:\n%s", d2.logs())
	}
	d2.stop(syscall.SIGTERM)
}
