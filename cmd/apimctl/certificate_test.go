package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCertificateResource: apimctl uploads a PEM certificate with its key
// (base64 on the wire) and shows it without the key, in the table and in
// JSON.
func TestCertificateResource(t *testing.T) {
	startServer(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "apimctl client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	k8, _ := x509.MarshalPKCS8PrivateKey(key)
	file := filepath.Join(t.TempDir(), "client.pem")
	os.WriteFile(file, append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: k8})...), 0o600)
	mustCtl(t, "certificate", "create", "client", "--file", file)
	for _, args := range [][]string{{"certificate", "list"}, {"certificate", "get", "client"}, {"certificate", "get", "client", "-o", "json"}} {
		out := mustCtl(t, args...)
		if !strings.Contains(out, "apimctl client") || strings.Contains(out, "PRIVATE KEY") || strings.Contains(out, "BEGIN") {
			t.Errorf("apimctl %v:\n%s", args, out)
		}
	}
	if out := mustCtl(t, "certificate", "list"); !strings.Contains(out, "true") {
		t.Errorf("list does not say the key is there:\n%s", out)
	}
}
