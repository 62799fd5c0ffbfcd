package policy

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"time"

	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	pkcs12 "software.sslmate.com/src/go-pkcs12"
	"strings"
	"testing"
)

// These tests run corpus documents unchanged through the pipeline (every
// section, as drive does) and check what APIM would do with them. They cover
// the documents whose policies this package implements; documents that need
// send-request and the caches are run by the policies' own tests.

func corpusPipeline(t *testing.T, name string, named map[string]string) *Pipeline {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(corpusDir(t), "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	nv := map[string]NamedValue{}
	for k, v := range named {
		nv[k] = NamedValue{Value: v}
	}
	cp := NewCompiler(Options{NamedValues: nv})
	p, err := cp.Compile(ScopeOperation, Source{Name: name, XML: src})
	if err != nil {
		t.Fatalf("compile %s: %v", name, err)
	}
	return cp.Link(nil, nil, nil, p)
}

func TestCorpusBasicAuthentication(t *testing.T) {
	p := corpusPipeline(t, "Perform basic authentication.policy.xml", map[string]string{"UserId": "alice", "Password": "s3cret"})
	for _, tc := range []struct {
		auth   string
		status int
	}{
		{"Basic " + b64([]byte("alice:s3cret")), 200},
		{"Basic " + b64([]byte("alice:wrong")), 401},
		{"Basic !!!", 401},
		{"", 401}, // check-header refuses a missing header
	} {
		c := newCtx("GET", "/")
		if tc.auth != "" {
			c.Request.Headers.Add("Authorization", tc.auth)
		}
		drive(t, p, c, nil)
		if c.Response.StatusCode != tc.status {
			t.Errorf("Authorization %q: status %d, want %d", tc.auth, c.Response.StatusCode, tc.status)
		}
		if tc.status == 200 && c.Request.Headers.Has("Authorization") {
			t.Errorf("Authorization header not removed before forwarding")
		}
	}
}

func TestCorpusRegionalBackends(t *testing.T) {
	p := corpusPipeline(t, "Route requests to regional backend instances.xml", nil)
	for region, want := range map[string]string{"West US": "http://contoso-us.com/", "east asia": "http://contoso-asia.com/", "North Europe": "http://contoso-other.com/"} {
		c := newCtx("GET", "/")
		c.Deployment.Region = region
		var got string
		drive(t, p, c, func(c *Context) { got = c.Upstream.BaseURL })
		if got != want {
			t.Errorf("region %q: backend %q, want %q", region, got, want)
		}
	}
}

func TestCorpusHMACSignedJWT(t *testing.T) {
	p := corpusPipeline(t, "Create HMAC SHA256-Signed JWT.policy.xml", map[string]string{"hashing-secret": "top-secret"})
	c := newCtx("GET", "/")
	drive(t, p, c, nil)
	auth, _ := c.Request.Headers.Get("Authorization")
	parts := strings.Split(strings.TrimPrefix(auth, "Bearer "), ".")
	if !strings.HasPrefix(auth, "Bearer ") || len(parts) != 3 {
		t.Fatalf("Authorization %q", auth)
	}
	dec := func(s string) string {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("segment %q: %v", s, err)
		}
		return string(b)
	}
	if h := dec(parts[0]); h != `{"typ":"JWT","alg":"HS256"}` {
		t.Errorf("header %s", h)
	}
	var claims map[string]any
	if err := json.Unmarshal([]byte(dec(parts[1])), &claims); err != nil || claims["username"] != "john_doe" || claims["exp"] == nil {
		t.Errorf("payload %s (%v)", dec(parts[1]), err)
	}
	m := hmac.New(sha256.New, []byte("top-secret"))
	m.Write([]byte(parts[0] + "." + parts[1]))
	if want := base64.RawURLEncoding.EncodeToString(m.Sum(nil)); parts[2] != want {
		t.Errorf("signature %s, want %s", parts[2], want)
	}
}

func TestCorpusCorrelationID(t *testing.T) {
	p := corpusPipeline(t, "Add correlation id to inbound request.policy.xml", nil)
	c := newCtx("GET", "/")
	drive(t, p, c, nil)
	id, _ := c.Request.Headers.Get("correlationid")
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`).MatchString(id) {
		t.Fatalf("correlationid %q", id)
	}
	c = newCtx("GET", "/", "correlationid", "given")
	drive(t, p, c, nil)
	if id, _ := c.Request.Headers.Get("correlationid"); id != "given" {
		t.Fatalf("exists-action skip: %q", id)
	}
}

func TestCorpusAESRoundTrip(t *testing.T) {
	named := map[string]string{"AES-IV": "AAECAwQFBgcICQoLDA0ODw==", "AES-Key": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYX"}
	enc := corpusPipeline(t, "Encrypt data using expressions.policy.xml", named)
	c := newCtx("GET", "/")
	c.Request.MatchedParameters.Add("Goober", "secret")
	drive(t, enc, c, nil)
	v, _ := c.Variable("encryptedParameter")
	if v.String() != "WdafzkiCmid1AF7+VrLdWw==" { // openssl enc -aes-192-cbc of "secret"
		t.Fatalf("encrypted %q", v.String())
	}
	dec := corpusPipeline(t, "Decrypt AES Data using policy expressions.xml", named)
	c = newCtx("POST", "/")
	c.Request.Body, c.Request.Buffered = []byte(`{"encrpText":"`+v.String()+`"}`), true
	drive(t, dec, c, nil)
	if c.Response.StatusCode != 200 || string(c.Response.Body) != "secret" {
		t.Fatalf("decrypted: %d %q", c.Response.StatusCode, c.Response.Body)
	}
}

func TestCorpusExtractValueFromXML(t *testing.T) {
	p := corpusPipeline(t, "Extract value from XML.xml", nil)
	c := newCtx("GET", "/")
	drive(t, p, c, nil)
	if string(c.Response.Body) != "ABCDEF123456789" {
		t.Fatalf("body %q", c.Response.Body)
	}
}

func TestCorpusForwardedHeader(t *testing.T) {
	p := corpusPipeline(t, "Forward gateway hostname to backend for generating correct urls in responses.policy.xml", nil)
	c := newCtx("GET", "/", "Host", "api.contoso.com")
	drive(t, p, c, nil)
	if f, _ := c.Request.Headers.Get("Forwarded"); f != "proto=https;host=api.contoso.com;" {
		t.Fatalf("Forwarded %q", f)
	}
}

func TestCorpusFilterResponseByProduct(t *testing.T) {
	p := corpusPipeline(t, "Filter response content based on product name.policy.xml", nil)
	body := `{"lat":1,"current":{},"minutely":[],"hourly":[],"daily":[],"alerts":[]}`
	for product, want := range map[string]string{"Starter": "{\r\n  \"lat\": 1\r\n}", "Unlimited": body} {
		c := newCtx("GET", "/")
		c.ID.ProductName = product
		drive(t, p, c, func(c *Context) { c.Response.Body = []byte(body) })
		got := strings.ReplaceAll(string(c.Response.Body), "\r\n", "\n")
		if got != strings.ReplaceAll(want, "\r\n", "\n") {
			t.Errorf("product %s: body %q", product, got)
		}
	}
}

func TestCorpusRandomLoadBalancer(t *testing.T) {
	p := corpusPipeline(t, "Random load balancer simpler.policy.xml", map[string]string{"MyTrafficSplitApp_TrafficSplitWeight": "100", "MyTrafficSplitApp_TrafficBaseUrlOverride": "http://split.test"})
	c := newCtx("GET", "/")
	var got string
	drive(t, p, c, func(c *Context) { got = c.Upstream.BaseURL })
	if got != "http://split.test" {
		t.Fatalf("backend %q", got)
	}
}

func TestCorpusRouteBySize(t *testing.T) {
	p := corpusPipeline(t, "Route requests based on size.policy.xml", map[string]string{"alternate-path-and-query": "/big", "alternate-host": "http://big.test"})
	for size, want := range map[string]string{"100": "http://backend.test", "300000": "http://big.test"} {
		c := newCtx("POST", "/", "Content-Length", size)
		var got string
		drive(t, p, c, func(c *Context) { got = c.Upstream.BaseURL })
		if got != want {
			t.Errorf("Content-Length %s: backend %q, want %q", size, got, want)
		}
	}
}

func TestCorpusIPFilterBehindAppGateway(t *testing.T) {
	p := corpusPipeline(t, "Filter on IP Address when using Application Gateway.policy.xml", map[string]string{"ipValidated": "VALIDATED"})
	for xff, status := range map[string]int{"10.1.2.3": 200, "192.168.7.9:5000": 200, "203.0.113.7:4711": 403, "172.32.0.1": 403} {
		c := newCtx("GET", "/", "X-Forwarded-For", xff)
		c.Request.ClientIP = netip.MustParseAddr("10.255.0.1")
		tr := drive(t, p, c, nil)
		if tr.onError || c.Response.StatusCode != status {
			t.Errorf("X-Forwarded-For %s: status %d (on-error %v: %v), want %d", xff, c.Response.StatusCode, tr.onError, c.LastError, status)
			continue
		}
		if got, _ := c.Request.Headers.Get("X-Forwarded-For"); status == 200 && got != xff {
			t.Errorf("X-Forwarded-For %s: restored as %q", xff, got)
		}
	}
}

// The client-assertion block of "Get OAuth2 access token from AAD using
// client id and certificate using key vault manage identity.xml" (lines
// 44-91), run unchanged against a PKCS#12 certificate made here: the RS256
// signature must verify with the certificate's public key.
func TestCorpusCertificateClientAssertion(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(corpusDir(t), "examples", "Get OAuth2 access token from AAD using client id and certificate using key vault manage identity.xml"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(src)
	start := strings.Index(s, `<set-variable name="signedClientAssertion" value="@{`)
	end := strings.Index(s[start:], `}" />`)
	if start < 0 || end < 0 {
		t.Fatal("client assertion block not found in the corpus document")
	}
	block := s[start+len(`<set-variable name="signedClientAssertion" value="@{`) : start+end]
	e, ee := compileExpression(block, true)
	if ee != nil {
		t.Fatalf("compile: %s at %d", ee.msg, ee.off)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "client"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pfx, err := pkcs12.Modern.Encode(key, cert, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	c := newCtx("GET", "/")
	c.SetVariable("authorizationServer", StringValue("https://login.example/token"))
	c.SetVariable("clientId", StringValue("client-1"))
	c.SetVariable("keyVaultCertBase64", StringValue(base64.StdEncoding.EncodeToString(pfx)))
	c.budget = DefaultStepBudget
	v, err := e.eval(c)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(v.String(), ".")
	if len(parts) != 3 {
		t.Fatalf("assertion %q", v.String())
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, h[:], sig); err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}
	claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if !strings.Contains(string(claims), `"iss": "client-1"`) || !strings.Contains(string(claims), `"aud": "https://login.example/token"`) {
		t.Fatalf("claims %s", claims)
	}
}
