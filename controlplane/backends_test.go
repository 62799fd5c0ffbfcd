package controlplane

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/apimgw/apimgw/wire"
)

// testCert returns a self-signed certificate and its key (DER, parsed).
func testCert(t *testing.T, cn string) (*x509.Certificate, *ecdsa.PrivateKey) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, key
}

// TestCertificatesAndBackendEntities: certificates from PFX (with password)
// and PEM are stored parsed and shown without their key; a gateway's trusted
// CAs and its backends' client certificates reach its snapshot (the key only
// there); backend entities with TLS settings, credentials, a circuit
// breaker and a pool are stored and sent; what the gateway cannot do is
// refused with a 400 naming the field.
func TestCertificatesAndBackendEntities(t *testing.T) {
	ts := newTestServer(t)
	ts.seed()
	caCert, _ := testCert(t, "Private CA")
	clientCert, clientKey := testCert(t, "apimgw client")
	pfx, err := pkcs12.Modern.Encode(clientKey, clientCert, nil, "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caCert.Raw})
	b64 := base64.StdEncoding.EncodeToString

	// Refusals first: nothing is stored.
	for _, c := range []struct {
		path string
		body map[string]any
		want string
	}{
		{"/certificates/bad", map[string]any{"data": "!!"}, "properties.data"},
		{"/certificates/badpw", map[string]any{"data": b64(pfx), "password": "wrong"}, "password"},
		{"/certificates/kv", map[string]any{"keyVault": map[string]any{"secretIdentifier": "https://v"}}, "properties.keyVault"},
		{"/namedValues/kv", map[string]any{"displayName": "kv", "secret": true, "keyVault": map[string]any{"secretIdentifier": "https://v"}}, "properties.keyVault"},
		{"/backends/sf", map[string]any{"url": "fabric:/app/svc", "protocol": "http", "properties": map[string]any{"serviceFabricCluster": map[string]any{"managementEndpoints": []string{"https://c:19080"}}}}, "Service Fabric backends are not supported"},
		{"/backends/px", map[string]any{"url": "http://a", "protocol": "http", "proxy": map[string]any{"url": "https://p:3128"}}, "TLS to the proxy is not supported"},
		{"/backends/px2", map[string]any{"url": "http://a", "protocol": "http", "proxy": map[string]any{"url": "http://u:s3cret@p:3128"}}, "proxy.username and proxy.password"},
		{"/backends/px3", map[string]any{"url": "http://a", "protocol": "http", "proxy": map[string]any{"url": "p:3128"}}, "proxy.url"},
		{"/backends/px4", map[string]any{"url": "http://a", "protocol": "http", "proxy": map[string]any{"url": "http://p:3128", "password": "s3cret"}}, "a password needs a username"},
		{"/backends/pool0", map[string]any{"type": "Pool", "protocol": "http", "pool": map[string]any{"services": []any{map[string]any{"id": "/backends/nope"}}}}, `backend \"nope\" does not exist`},
		{"/backends/cb", map[string]any{"url": "http://a", "protocol": "http", "circuitBreaker": map[string]any{"rules": []any{map[string]any{
			"failureCondition": map[string]any{"percentage": 150, "interval": "PT1M"}, "tripDuration": "PT1M"}}}}, "failureCondition.percentage"},
		{"/backends/cb3", map[string]any{"url": "http://a", "protocol": "http", "circuitBreaker": map[string]any{"rules": []any{map[string]any{
			"failureCondition": map[string]any{"interval": "PT1M"}, "tripDuration": "PT1M"}}}}, "count or percentage is required"},
		{"/backends/cb2", map[string]any{"url": "http://a", "protocol": "http", "circuitBreaker": map[string]any{"rules": []any{map[string]any{
			"failureCondition": map[string]any{"count": 1, "interval": "one minute"}, "tripDuration": "PT1M"}}}}, "interval"},
		{"/backends/mtls", map[string]any{"url": "https://a", "protocol": "http", "credentials": map[string]any{"certificateIds": []string{"nope"}}}, `certificate \"nope\" does not exist`},
		{"/backends/h2x", map[string]any{"url": "https://a", "protocol": "http", "httpVersion": "h2"}, "properties.httpVersion"},
		{"/backends/h2auto", map[string]any{"url": "http://a", "protocol": "http", "httpVersion": "auto"}, "needs an https URL"},
	} {
		r := ts.do("PUT", c.path, props(c.body))
		if r.status != 400 || !strings.Contains(string(r.body), c.want) {
			t.Errorf("PUT %s: %d %s (want 400 naming %s)", c.path, r.status, r.body, c.want)
		}
		if strings.Contains(string(r.body), "s3cret") {
			t.Errorf("PUT %s: the password is in the error", c.path)
		}
	}

	ts.must(201, "PUT", "/certificates/client", props(map[string]any{"data": b64(pfx), "password": "s3cret"}))
	ts.must(201, "PUT", "/certificates/ca", props(map[string]any{"data": b64(caPEM)}))
	get := ts.must(200, "GET", "/certificates/client", nil)
	if s := string(get.body); strings.Contains(s, "PRIVATE KEY") || strings.Contains(s, "s3cret") || strings.Contains(s, b64(pfx)[:40]) ||
		!strings.Contains(s, `"thumbprint":"`) || !strings.Contains(s, `"hasPrivateKey":true`) || !strings.Contains(s, "apimgw client") {
		t.Errorf("GET certificate shows %s", s)
	}
	// A certificate without a key is not a client certificate.
	r := ts.do("PUT", "/backends/nokey", props(map[string]any{"url": "https://a", "protocol": "http", "credentials": map[string]any{"certificateIds": []string{"ca"}}}))
	if r.status != 400 || !strings.Contains(string(r.body), "no private key") {
		t.Errorf("client certificate without key: %d %s", r.status, r.body)
	}

	ts.must(201, "PUT", "/backends/m1", props(map[string]any{"url": "https://m1.internal", "protocol": "http",
		"tls":         map[string]any{"validateCertificateName": false},
		"credentials": map[string]any{"certificateIds": []string{"client"}, "header": map[string]any{"X-Key": []string{"v"}}},
		"circuitBreaker": map[string]any{"rules": []any{map[string]any{"name": "r", "failureCondition": map[string]any{"count": 3, "interval": "PT1M",
			"statusCodeRanges": []any{map[string]any{"min": 500, "max": 599}}, "errorReasons": []string{"Server errors"}}, "tripDuration": "PT30S", "acceptRetryAfter": true}}}}))
	ts.must(201, "PUT", "/backends/m2", props(map[string]any{"url": "http://m2.internal", "protocol": "http",
		"proxy": map[string]any{"url": "http://proxy.internal:3128", "username": "gw", "password": "pr0xy-s3cret"},
		"circuitBreaker": map[string]any{"rules": []any{map[string]any{"failureCondition": map[string]any{"percentage": 25, "count": 4, "interval": "PT5M",
			"statusCodeRanges": []any{map[string]any{"min": 500, "max": 599}}, "errorReasons": []string{"Timeout"}}, "tripDuration": "PT1M"}}}}))
	// The proxy password is a secret: a GET leaves it out, a PUT without it
	// (GET-modify-PUT) keeps it.
	for _, path := range []string{"/backends/m2", "/backends"} {
		if s := string(ts.must(200, "GET", path, nil).body); strings.Contains(s, "pr0xy-s3cret") || !strings.Contains(s, "proxy.internal:3128") {
			t.Errorf("GET %s shows %s", path, s)
		}
	}
	ts.must(200, "PUT", "/backends/m2", props(map[string]any{"url": "http://m2.internal", "protocol": "http",
		"proxy": map[string]any{"url": "http://proxy.internal:3128", "username": "gw"},
		"circuitBreaker": map[string]any{"rules": []any{map[string]any{"failureCondition": map[string]any{"percentage": 25, "count": 4, "interval": "PT5M",
			"statusCodeRanges": []any{map[string]any{"min": 500, "max": 599}}, "errorReasons": []string{"Timeout"}}, "tripDuration": "PT1M"}}}}))
	ts.must(201, "PUT", "/backends/pool1", props(map[string]any{"type": "Pool", "protocol": "http", "pool": map[string]any{"services": []any{
		map[string]any{"id": "/subscriptions/x/resourceGroups/y/providers/Microsoft.ApiManagement/service/z/backends/m1", "priority": 1, "weight": 3},
		map[string]any{"id": "m2", "priority": 2}}}}))
	if r := ts.do("DELETE", "/backends/m2", nil); r.status != 409 || !strings.Contains(string(r.body), "pool pool1") {
		t.Errorf("delete a pool member: %d %s", r.status, r.body)
	}
	if r := ts.do("DELETE", "/certificates/client", nil); r.status != 409 {
		t.Errorf("delete a certificate in use: %d %s", r.status, r.body)
	}
	ts.must(201, "PUT", "/gateways/gw1/certificateAuthorities/ca", props(map[string]any{"isTrusted": true}))
	ts.must(201, "PUT", "/apis/echo/policies/policy", props(map[string]any{"value": `<policies><inbound><set-backend-service backend-id="pool1"/></inbound></policies>`}))

	check := func(when string) {
		tok := ts.token("gw1", time.Hour)
		s := decodeSnap(t, ts.gwGet(tok, wire.PathConfig).body)
		var ids []string
		for _, b := range s.Backends {
			ids = append(ids, b.ID)
		}
		if strings.Join(ids, ",") != "m1,m2,pool1" {
			t.Fatalf("%s: snapshot backends %v", when, ids)
		}
		m1, m2, pool := s.Backends[0], s.Backends[1], s.Backends[2]
		if p := m2.Proxy; p == nil || p.URL != "http://proxy.internal:3128" || p.Username != "gw" || p.Password != "pr0xy-s3cret" {
			t.Errorf("%s: m2's proxy in the snapshot: %+v", when, m2.Proxy)
		}
		if fc := m2.CircuitBreaker.Rules[0].FailureCondition; fc.Percentage != 25 || fc.Count != 4 || fc.ErrorReasons[0] != "Timeout" {
			t.Errorf("%s: m2's failure condition in the snapshot: %+v", when, fc)
		}
		if m1.TLS == nil || *m1.TLS.ValidateCertificateName || m1.Credentials.CertificateIDs[0] != "client" || m1.CircuitBreaker.Rules[0].FailureCondition.Count != 3 ||
			pool.Type != "Pool" || pool.Pool.Services[0].ID != "m1" || pool.Pool.Services[0].Weight != 3 {
			t.Errorf("%s: backends %+v %+v", when, m1, pool)
		}
		if len(s.Certificates) != 2 || s.Certificates[0].ID != "ca" || !s.Certificates[0].TrustedCA || s.Certificates[0].PrivateKeyPEM != "" ||
			s.Certificates[1].ID != "client" || !strings.Contains(s.Certificates[1].PrivateKeyPEM, "PRIVATE KEY") || s.Certificates[1].TrustedCA {
			t.Errorf("%s: certificates %+v", when, s.Certificates)
		}
	}
	check("before restart")
	ts.restart() // stored in bbolt, parsed
	check("after restart")
	list := ts.must(200, "GET", "/certificates", nil)
	if strings.Contains(string(list.body), "PRIVATE KEY") {
		t.Errorf("list shows a key: %s", list.body)
	}
	cas := ts.must(200, "GET", "/gateways/gw1/certificateAuthorities", nil)
	if !strings.Contains(string(cas.body), `"isTrusted":true`) {
		t.Errorf("certificate authorities: %s", cas.body)
	}
	// The key is in bbolt (the control plane needs it), never in its logs.
	if strings.Contains(ts.logs.String(), "PRIVATE KEY") || strings.Contains(ts.logs.String(), "s3cret") {
		t.Error("a key or password was logged")
	}
}

// FuzzCertificateData: whatever a PUT carries as data and password, the
// parser answers (a certificate or a 400), never panics, and never echoes
// the password.
func FuzzCertificateData(f *testing.F) {
	caCert, _ := testCert(&testing.T{}, "fuzz")
	f.Add(base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caCert.Raw})), "")
	f.Add("MIIB", "pw")
	f.Add(base64.StdEncoding.EncodeToString([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")), "secretpw")
	f.Fuzz(func(t *testing.T, data, password string) {
		c := &Certificate{Data: data, Password: password}
		err := parseCertificateData(c)
		if err != nil && len(password) > 3 && strings.Contains(err.Error(), password) {
			t.Fatalf("the password is in the error: %v", err)
		}
		if err == nil && !strings.Contains(c.CertificatePEM, "BEGIN CERTIFICATE") {
			t.Fatalf("accepted without a certificate")
		}
	})
}

// TestTrustedCAsPerGateway: two gateways serving the same APIs get their
// own trusted CAs — a snapshot built for one is not handed to the other
// (the content is shared between gateways only when all of it is equal).
func TestTrustedCAsPerGateway(t *testing.T) {
	ts := newTestServer(t)
	ts.seed()
	caCert, _ := testCert(t, "Private CA")
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caCert.Raw})
	ts.must(201, "PUT", "/certificates/ca", props(map[string]any{"data": base64.StdEncoding.EncodeToString(caPEM)}))
	ts.must(201, "PUT", "/gateways/gw2", props(map[string]any{"locationData": map[string]any{"name": "edge"}}))
	ts.must(201, "PUT", "/gateways/gw2/apis/echo", nil)
	ts.must(201, "PUT", "/gateways/gw1/certificateAuthorities/ca", props(map[string]any{"isTrusted": true}))
	trusted := func(gw string) bool {
		s := decodeSnap(t, ts.gwGet(ts.token(gw, time.Hour), wire.PathConfig).body)
		for _, c := range s.Certificates {
			if c.ID == "ca" && c.TrustedCA {
				return true
			}
		}
		return false
	}
	if !trusted("gw1") || trusted("gw2") {
		t.Fatalf("gw1 trusts ca: %v (want true); gw2 trusts ca: %v (want false)", trusted("gw1"), trusted("gw2"))
	}
	ts.must(201, "PUT", "/gateways/gw2/certificateAuthorities/ca", props(map[string]any{"isTrusted": true}))
	ts.must(200, "DELETE", "/gateways/gw1/certificateAuthorities/ca", nil)
	if trusted("gw1") || !trusted("gw2") {
		t.Fatalf("after moving the CA: gw1 %v (want false), gw2 %v (want true)", trusted("gw1"), trusted("gw2"))
	}
}
