package gateway_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// e2eCA is a certificate authority for the mTLS end-to-end test.
type e2eCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newE2ECA(t *testing.T, name string) *e2eCA {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &e2eCA{cert: cert, key: key, pool: pool}
}

func (ca *e2eCA) pem() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})
}

// issue makes a leaf for 127.0.0.1 named cn (server and client usage).
func (ca *e2eCA) issue(t *testing.T, cn string) (*x509.Certificate, *ecdsa.PrivateKey) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert, key
}

// mtlsBackend is an https backend (certificate from serverCA) that requires
// a client certificate signed by clientCA.
func mtlsBackend(t *testing.T, serverCA, clientCA *e2eCA, tag string) *httptest.Server {
	cert, key := serverCA.issue(t, "backend "+tag)
	b := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "mtls backend %s: client=%s path=%s", tag, r.TLS.PeerCertificates[0].Subject.CommonName, r.URL.Path)
	}))
	b.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: key}},
		ClientCAs: clientCA.pool, ClientAuth: tls.RequireAndVerifyClientCert}
	b.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are expected
	b.StartTLS()
	t.Cleanup(b.Close)
	return b
}

// TestMTLSBackendEndToEnd: the real apimcp holds a client certificate (a PFX
// with a password) and backend entities with credentials.certificateIds; the
// real apimgw, synced from it, reaches an https backend that requires that
// certificate (200), and answers a backend that refuses it with a 502 in
// APIM's shape whose message says why, context.LastError set for on-error.
// The private key and the PFX password appear in no log of either binary,
// on no status page and in no GET of the management API.
func TestMTLSBackendEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end with the real binaries")
	}
	bin := e2eBinaries(t)
	serverCA, clientCA, otherCA := newE2ECA(t, "backend CA"), newE2ECA(t, "client CA"), newE2ECA(t, "another client CA")
	good := mtlsBackend(t, serverCA, clientCA, "good")
	picky := mtlsBackend(t, serverCA, otherCA, "picky") // does not accept our client certificate
	clientCert, clientKey := clientCA.issue(t, "apimgw client")
	const pfxPassword = "pfx-pa55word-e2e"
	pfx, err := pkcs12.Modern.Encode(clientKey, clientCert, []*x509.Certificate{clientCA.cert}, pfxPassword)
	if err != nil {
		t.Fatal(err)
	}
	k8, _ := x509.MarshalPKCS8PrivateKey(clientKey)
	keyB64 := base64.StdEncoding.EncodeToString(k8)
	secrets := map[string]string{
		"the private key (PKCS#8 base64)": keyB64[len(keyB64)/2 : len(keyB64)/2+32],
		"a PEM private key":               "PRIVATE KEY-----",
		"the PFX password":                pfxPassword,
		"the PFX":                         base64.StdEncoding.EncodeToString(pfx)[40:80],
	}

	cp := startCP(t, bin)
	defer func() {
		if t.Failed() {
			t.Logf("apimcp log:\n%s", cp.log)
		}
	}()
	b64 := base64.StdEncoding.EncodeToString
	cp.mustARM("PUT", "/certificates/client", map[string]any{"properties": map[string]any{"data": b64(pfx), "password": pfxPassword}}, 200, 201)
	cp.mustARM("PUT", "/certificates/backend-ca", map[string]any{"properties": map[string]any{"data": b64(serverCA.pem())}}, 200, 201)
	for id, u := range map[string]string{"mtls-good": good.URL, "mtls-picky": picky.URL} {
		cp.mustARM("PUT", "/backends/"+id, map[string]any{"properties": map[string]any{"url": u, "protocol": "http",
			"credentials": map[string]any{"certificateIds": []string{"client"}}}}, 200, 201)
	}
	cp.mustARM("PUT", "/apis/secure", map[string]any{"properties": map[string]any{"displayName": "mTLS", "path": "secure",
		"serviceUrl": good.URL, "protocols": []string{"http"}, "subscriptionRequired": false}}, 200, 201)
	for _, op := range []struct{ id, backend string }{{"good", "mtls-good"}, {"picky", "mtls-picky"}} {
		cp.mustARM("PUT", "/apis/secure/operations/"+op.id, map[string]any{"properties": map[string]any{
			"displayName": op.id, "method": "GET", "urlTemplate": "/" + op.id}}, 200, 201)
		cp.mustARM("PUT", "/apis/secure/operations/"+op.id+"/policies/policy", map[string]any{"properties": map[string]any{"format": "rawxml",
			"value": `<policies><inbound><base/><set-backend-service backend-id="` + op.backend + `"/></inbound><backend><base/></backend><outbound><base/></outbound>` +
				`<on-error><base/><set-header name="X-Last-Error" exists-action="override"><value>@(context.LastError.Source + ": " + context.LastError.Message)</value></set-header></on-error></policies>`}}, 200, 201)
	}
	cp.mustARM("PUT", "/gateways/gw1", map[string]any{"properties": map[string]any{"locationData": map[string]any{"name": "mtls"}}}, 200, 201)
	cp.mustARM("PUT", "/gateways/gw1/certificateAuthorities/backend-ca", map[string]any{"properties": map[string]any{"isTrusted": true}}, 200, 201)
	cp.ctl("gateway", "assign", "gw1", "secure")
	var tok struct{ Value string }
	json.Unmarshal(cp.ctl("-o", "json", "gateway", "token", "gw1", "--expiry", "1h"), &tok)

	gw := newGW(t, bin, cp.URL, "gw1", tok.Value)
	defer func() {
		if t.Failed() {
			t.Logf("apimgw log:\n%s", gw.log)
		}
	}()
	gw.start()
	gw.waitReady(15 * time.Second)

	get := func(path string) (int, http.Header, string) {
		resp, err := http.Get(gw.data + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(body)
	}
	for i := 0; i < 3; i++ {
		if st, _, body := get("/secure/good"); st != 200 || body != "mtls backend good: client=apimgw client path=/good" {
			t.Fatalf("backend that requires the client certificate: %d %q", st, body)
		}
	}
	st, hdr, body := get("/secure/picky")
	var answer struct {
		StatusCode int    `json:"statusCode"`
		Message    string `json:"message"`
	}
	if err := json.Unmarshal([]byte(body), &answer); st != 502 || err != nil || answer.StatusCode != 502 ||
		!strings.Contains(answer.Message, "Backend TLS handshake failed") || !strings.Contains(answer.Message, "certificate") {
		t.Fatalf("backend that refuses the client certificate: %d %q, want 502 {statusCode, message} saying why", st, body)
	}
	if le := hdr.Get("X-Last-Error"); !strings.HasPrefix(le, "forward-request: ") || !strings.Contains(le, "certificate") {
		t.Errorf("context.LastError in on-error: %q", le)
	}

	// Nowhere to be seen: logs, status page, status.json, metrics, GETs.
	places := map[string]string{"apimcp log": cp.log.String(), "apimgw log": gw.log.String()}
	for _, p := range []string{"/", "/status.json", "/metrics"} {
		resp, err := http.Get(gw.status + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		places["status page "+p] = string(b)
	}
	for _, p := range []string{"/certificates", "/certificates/client", "/backends", "/backends/mtls-good", "/gateways/gw1"} {
		places["GET "+p] = string(cp.mustARM("GET", p, nil, 200))
	}
	places["apimctl certificate list"] = string(cp.ctl("-o", "json", "certificate", "list"))
	for where, text := range places {
		for what, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s shows %s", where, what)
			}
		}
	}
	if s := places["GET /certificates/client"]; !strings.Contains(s, `"hasPrivateKey":true`) || !strings.Contains(s, "apimgw client") {
		t.Errorf("GET /certificates/client: %s", s)
	}
}
