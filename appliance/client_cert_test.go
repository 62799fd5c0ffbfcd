package appliance

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/apimgw/apimgw/wire"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  string
}

func newTestCA(t *testing.T) *testCA {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

// issue returns a leaf (server when ip is set, else client) as PEM
// certificate, PEM PKCS#8 key, and the tls.Certificate.
func (ca *testCA) issue(t *testing.T, cn string, ip net.IP) (string, string, tls.Certificate) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if ip != nil {
		tmpl.IPAddresses, tmpl.ExtKeyUsage = []net.IP{ip}, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	p8, _ := x509.MarshalPKCS8PrivateKey(key)
	certPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}))
	kp, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, keyPEM, kp
}

func thumbprint(certPEM string) string {
	b, _ := pem.Decode([]byte(certPEM))
	sum := sha1.Sum(b.Bytes)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// TestAuthenticationCertificateMTLS: a backend that requires a client
// certificate gets the snapshot's certificate authentication-certificate
// names (by id or thumbprint), on the forward request and inside
// send-request; without the policy the handshake fails.
func TestAuthenticationCertificateMTLS(t *testing.T) {
	ca := newTestCA(t)
	_, _, serverKP := ca.issue(t, "backend", net.ParseIP("127.0.0.1"))
	clientPEM, clientKey, _ := ca.issue(t, "gateway-client", nil)
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	mtls := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "cn="+r.TLS.PeerCertificates[0].Subject.CommonName+" path="+r.URL.Path)
	}))
	mtls.TLS = &tls.Config{Certificates: []tls.Certificate{serverKP}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	mtls.StartTLS()
	t.Cleanup(mtls.Close)

	snap := &wire.Snapshot{ProtocolVersion: wire.ProtocolVersion, Version: 1,
		Certificates: []wire.Certificate{
			{ID: "ca", Thumbprint: thumbprint(ca.pem), CertificatePEM: ca.pem, TrustedCA: true},
			{ID: "client", Thumbprint: thumbprint(clientPEM), CertificatePEM: clientPEM, PrivateKeyPEM: clientKey},
		},
		APIs: []wire.API{{ID: "t", Path: "t", ServiceURL: mtls.URL, Protocols: []string{"http"},
			Operations: []wire.Operation{
				{ID: "id", Method: "GET", URLTemplate: "/id", Policy: `<policies><inbound><authentication-certificate certificate-id="client"/></inbound></policies>`},
				{ID: "thumb", Method: "GET", URLTemplate: "/thumb", Policy: `<policies><inbound><authentication-certificate thumbprint="` + strings.ToLower(thumbprint(clientPEM)) + `"/></inbound></policies>`},
				{ID: "none", Method: "GET", URLTemplate: "/none"},
				{ID: "call", Method: "GET", URLTemplate: "/call", Policy: `<policies><inbound>
  <send-request response-variable-name="r" timeout="10"><set-url>` + mtls.URL + `/called</set-url><authentication-certificate certificate-id="client"/></send-request>
  <return-response><set-body>@(((IResponse)context.Variables["r"]).Body.As<string>())</set-body></return-response></inbound></policies>`},
			}}}}
	base := serveWithTokens(t, snap, IdentityConfig{})
	for _, c := range []struct {
		path, want string
		status     int
	}{
		{"/id", "cn=gateway-client path=/id", 200},
		{"/thumb", "cn=gateway-client path=/thumb", 200},
		{"/id", "cn=gateway-client path=/id", 200}, // the pooled connection again
		{"/call", "cn=gateway-client path=/called", 200},
		{"/none", "", 502},
	} {
		st, body := httpGet(t, base+c.path)
		if st != c.status || c.want != "" && body != c.want {
			t.Errorf("%s: %d %q, want %d %q", c.path, st, body, c.status, c.want)
		}
	}
}

// TestSendRequestInOnErrorAfterUnreachableBackend: when the backend cannot
// be reached, on-error runs with LastError Source forward-request and Reason
// BackendConnectionFailure, and a send-request there is made off the loop
// before the answer goes out.
func TestSendRequestInOnErrorAfterUnreachableBackend(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	notify := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		io.WriteString(w, "noted "+string(b))
	}))
	t.Cleanup(notify.Close)
	snap := &wire.Snapshot{ProtocolVersion: wire.ProtocolVersion, Version: 1,
		APIs: []wire.API{{ID: "u", Path: "u", ServiceURL: dead, Protocols: []string{"http"},
			Operations: []wire.Operation{{ID: "x", Method: "GET", URLTemplate: "/x", Policy: `<policies><inbound/><backend><forward-request timeout="5"/></backend>
<on-error>
  <send-request response-variable-name="n" timeout="10"><set-url>` + notify.URL + `/incident</set-url><set-method>POST</set-method>
    <set-body>@(context.LastError.Source + "/" + context.LastError.Reason + "/" + context.LastError.Section)</set-body></send-request>
  <return-response><set-status code="503" reason="Down"/><set-body>@(((IResponse)context.Variables["n"]).Body.As<string>())</set-body></return-response>
</on-error></policies>`}}}}}
	base := serveWithTokens(t, snap, IdentityConfig{})
	for i := 0; i < 3; i++ {
		st, body := httpGet(t, base+"/x")
		if st != 503 || body != "noted forward-request/BackendConnectionFailure/backend" {
			t.Fatalf("request %d: %d %q", i, st, body)
		}
	}
}
