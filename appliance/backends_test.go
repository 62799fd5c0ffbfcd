package appliance

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
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apimgw/apimgw/policy"
	"github.com/apimgw/apimgw/wire"
)

// pki makes certificates for the TLS backend tests.
type pki struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  string
}

func newPKI(t *testing.T, name string) *pki {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &pki{cert: cert, key: key, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

// issue returns a leaf (server and client usage) for 127.0.0.1 and names,
// signed by ca, or self-signed when ca is nil; with PEM of cert and key.
func issue(t *testing.T, ca *pki, names ...string) (tls.Certificate, string, string) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "leaf"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: names, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	parent, signer := tmpl, any(key)
	if ca != nil {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	k8, _ := x509.MarshalPKCS8PrivateKey(key)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: k8}))
}

// httpsBackend answers "tls backend <tag> client=<CN of the client certificate>".
func httpsBackend(t *testing.T, tag string, cert tls.Certificate, clientCAs *x509.CertPool) *httptest.Server {
	b := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		client := "none"
		if len(r.TLS.PeerCertificates) > 0 {
			client = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		fmt.Fprintf(w, "tls backend %s client=%s auth=%s q=%s host=%s sni=%s", tag, client, r.Header.Get("Authorization"), r.URL.RawQuery, r.Host, r.TLS.ServerName)
	}))
	b.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	if clientCAs != nil {
		b.TLS.ClientCAs, b.TLS.ClientAuth = clientCAs, tls.RequireAndVerifyClientCert
	}
	b.Config.ErrorLog = log.New(io.Discard, "", 0)
	b.StartTLS()
	t.Cleanup(b.Close)
	return b
}

func compileWith(t *testing.T, snap *wire.Snapshot, o Options) *Compiled {
	t.Helper()
	if err := snap.Seal(); err != nil {
		t.Fatal(err)
	}
	c, err := CompileWith(snap, policy.NewState(nil), o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const onErrorShows = `<policies><inbound><base/></inbound><backend><base/></backend><outbound><base/></outbound>` +
	`<on-error><set-header name="X-On-Error" exists-action="override"><value>ran</value></set-header></on-error></policies>`

func viaBackend(id string) string {
	return `<policies><inbound><set-backend-service backend-id="` + id + `"/></inbound><backend><forward-request/></backend><outbound/>` +
		`<on-error><set-header name="X-On-Error" exists-action="override"><value>ran</value></set-header></on-error></policies>`
}

// TestHTTPSBackends: https service URLs and backend entities over real TLS:
// a private CA trusted through env.conf's bundle or through the snapshot's
// trusted CA certificates; untrusted and self-signed certificates refused
// with a 502 that says why (on-error runs); a self-signed backend accepted
// when its entity turns validation off.
func TestHTTPSBackends(t *testing.T) {
	ca := newPKI(t, "apimgw test CA")
	leaf, _, _ := issue(t, ca, "backend.test")
	private := httpsBackend(t, "private", leaf, nil)
	self, _, _ := issue(t, nil)
	selfSigned := httpsBackend(t, "self", self, nil)

	bundle := filepath.Join(t.TempDir(), "backend-ca.pem")
	if err := os.WriteFile(bundle, []byte(ca.pem), 0o600); err != nil {
		t.Fatal(err)
	}
	off := false
	snap := func(trustInSnapshot bool) *wire.Snapshot {
		s := &wire.Snapshot{ProtocolVersion: wire.ProtocolVersion, Version: 1,
			APIs: []wire.API{{ID: "s", Path: "s", ServiceURL: private.URL, Protocols: []string{"http"}, Policy: onErrorShows,
				Operations: []wire.Operation{
					{ID: "private", Method: "GET", URLTemplate: "/private"},
					{ID: "self", Method: "GET", URLTemplate: "/self", Policy: viaBackend("self-checked")},
					{ID: "self-off", Method: "GET", URLTemplate: "/self-off", Policy: viaBackend("self-unchecked")},
					{ID: "chain-only", Method: "GET", URLTemplate: "/chain-only", Policy: viaBackend("self-chain-only")},
				}}},
			Backends: []wire.Backend{
				{ID: "self-checked", URL: selfSigned.URL, Protocol: "http"},
				{ID: "self-unchecked", URL: selfSigned.URL, Protocol: "http",
					TLS: &wire.BackendTLS{ValidateCertificateChain: &off, ValidateCertificateName: &off}},
				{ID: "self-chain-only", URL: selfSigned.URL, Protocol: "http", TLS: &wire.BackendTLS{ValidateCertificateName: &off}},
			},
		}
		if trustInSnapshot {
			s.Certificates = []wire.Certificate{{ID: "private-ca", CertificatePEM: ca.pem, TrustedCA: true}}
		}
		return s
	}
	type want struct {
		path   string
		status int
		body   string
		onErr  string
	}
	check := func(name string, c *Compiled, wants []want) {
		g := startGateway(t, nil)
		g.h.Swap(c)
		for _, w := range wants {
			status, hdr, body := call(t, "GET", g.base+"/s"+w.path, nil)
			if status != w.status || !strings.Contains(body, w.body) || hdr.Get("X-On-Error") != w.onErr {
				t.Errorf("%s %s: %d on-error=%q %q; want %d %q containing %q", name, w.path, status, hdr.Get("X-On-Error"), body, w.status, w.onErr, w.body)
			}
		}
	}
	refusedSelf := want{"/self", 502, "Backend TLS handshake failed", "ran"}
	check("env.conf bundle", compileWith(t, snap(false), Options{BackendCAFile: bundle}), []want{
		{"/private", 200, "tls backend private client=none", ""},
		refusedSelf,
		{"/self-off", 200, "tls backend self", ""},
		{"/chain-only", 502, "unknown authority", "ran"}, // chain still checked
	})
	check("snapshot CA", compileWith(t, snap(true), Options{}), []want{{"/private", 200, "tls backend private", ""}, refusedSelf})
	check("untrusted", compileWith(t, snap(false), Options{}), []want{{"/private", 502, "certificate signed by unknown authority", "ran"}})

	// A bad bundle refuses the snapshot with a message naming the key.
	bad := filepath.Join(t.TempDir(), "bad.pem")
	os.WriteFile(bad, []byte("not a certificate"), 0o600)
	s := snap(false)
	s.Seal()
	if _, err := CompileWith(s, policy.NewState(nil), Options{BackendCAFile: bad}); err == nil || !strings.Contains(err.Error(), "backend.tls.ca") {
		t.Errorf("bad bundle: %v", err)
	}
}

// TestRootsBuiltOnFirstUse: a snapshot with plain-http backends compiles
// without building the root pool (no system CA bundle read or kept); the pool
// built on first use holds the env.conf bundle and the snapshot's trusted CAs;
// an https backend or a policy's base-url builds it at compile (never on an
// event loop); a trusted CA that is no PEM is still refused at compile.
func TestRootsBuiltOnFirstUse(t *testing.T) {
	ca := newPKI(t, "bundle CA")
	snapCA := newPKI(t, "snapshot CA")
	bundle := filepath.Join(t.TempDir(), "backend-ca.pem")
	if err := os.WriteFile(bundle, []byte(ca.pem), 0o600); err != nil {
		t.Fatal(err)
	}
	plain := &wire.Snapshot{ProtocolVersion: wire.ProtocolVersion, Version: 1,
		APIs:         []wire.API{{ID: "p", Path: "p", ServiceURL: "http://127.0.0.1:9", Protocols: []string{"http"}}},
		Certificates: []wire.Certificate{{ID: "snap-ca", CertificatePEM: snapCA.pem, TrustedCA: true}}}
	c := compileWith(t, plain, Options{BackendCAFile: bundle})
	if c.trust.pool != nil {
		t.Fatal("the root pool was built for a snapshot without https backends")
	}
	roots := c.trust.roots()
	for _, p := range []*pki{ca, snapCA} {
		leaf, _, _ := issue(t, p, "backend.test")
		cert, _ := x509.ParseCertificate(leaf.Certificate[0])
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: "backend.test"}); err != nil {
			t.Errorf("a certificate from %s does not verify against the pool: %v", p.cert.Subject.CommonName, err)
		}
	}
	if c.trust.roots() != roots {
		t.Error("the pool is built again on a second use")
	}

	https := &wire.Snapshot{ProtocolVersion: wire.ProtocolVersion, Version: 1,
		APIs: []wire.API{{ID: "s", Path: "s", ServiceURL: "https://127.0.0.1:9", Protocols: []string{"http"}}}}
	// Twice: the second compile shares the first one's TLS settings (as a
	// new snapshot does), and still builds its own pool, which a
	// request-time identity (a policy's client certificate) needs.
	for i := range 2 {
		if c := compileWith(t, https, Options{}); c.trust.pool == nil {
			t.Errorf("compile %d: an https backend compiled without its root pool", i+1)
		}
	}
	// A base-url set by a policy may be https, and gets its TLS settings on
	// the event loop: the pool is built at compile, not there.
	viaPolicy := &wire.Snapshot{ProtocolVersion: wire.ProtocolVersion, Version: 1,
		APIs: []wire.API{{ID: "p", Path: "p", ServiceURL: "http://127.0.0.1:9", Protocols: []string{"http"},
			Operations: []wire.Operation{{ID: "o", Method: "GET", URLTemplate: "/o",
				Policy: `<policies><inbound><set-backend-service base-url="@(&quot;https://127.0.0.1:9&quot;)"/></inbound><backend><forward-request/></backend></policies>`}}}}}
	if c := compileWith(t, viaPolicy, Options{}); c.trust.pool == nil {
		t.Error("a policy setting a base-url compiled without the root pool: it would be built on an event loop")
	}

	bad := &wire.Snapshot{ProtocolVersion: wire.ProtocolVersion, Version: 1,
		Certificates: []wire.Certificate{{ID: "junk", CertificatePEM: "not a certificate", TrustedCA: true}}}
	bad.Seal()
	if _, err := CompileWith(bad, policy.NewState(nil), Options{}); err == nil || !strings.Contains(err.Error(), "junk") {
		t.Errorf("a trusted CA that is no PEM: %v", err)
	}
}

// TestHTTPSBackendName: a certificate from a trusted CA for another name is
// refused (the name check), and accepted with validateCertificateName off.
func TestHTTPSBackendName(t *testing.T) {
	ca := newPKI(t, "apimgw test CA")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "other"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"other.test"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	b := httpsBackend(t, "named", tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil)
	off := false
	snap := &wire.Snapshot{ProtocolVersion: wire.ProtocolVersion, Version: 1,
		APIs: []wire.API{{ID: "s", Path: "s", Protocols: []string{"http"}, Operations: []wire.Operation{
			{ID: "checked", Method: "GET", URLTemplate: "/checked", Policy: viaBackend("checked")},
			{ID: "unchecked", Method: "GET", URLTemplate: "/unchecked", Policy: viaBackend("unchecked")}}}},
		Backends: []wire.Backend{{ID: "checked", URL: b.URL, Protocol: "http"},
			{ID: "unchecked", URL: b.URL, Protocol: "http", TLS: &wire.BackendTLS{ValidateCertificateName: &off}}},
		Certificates: []wire.Certificate{{ID: "ca", CertificatePEM: ca.pem, TrustedCA: true}},
	}
	g := startGateway(t, nil)
	g.h.Swap(compileWith(t, snap, Options{}))
	if st, _, body := call(t, "GET", g.base+"/s/checked", nil); st != 502 || !strings.Contains(body, "127.0.0.1") {
		t.Errorf("wrong name: %d %q", st, body)
	}
	if st, _, body := call(t, "GET", g.base+"/s/unchecked", nil); st != 200 || !strings.Contains(body, "tls backend named") {
		t.Errorf("name check off: %d %q", st, body)
	}
	// A Host header among the credentials is the name sent (SNI) and checked.
	snap.Backends = append(snap.Backends, wire.Backend{ID: "hosted", URL: b.URL, Protocol: "http",
		Credentials: &wire.BackendCredentials{Header: map[string][]string{"Host": {"other.test"}}}})
	snap.APIs[0].Operations = append(snap.APIs[0].Operations, wire.Operation{ID: "hosted", Method: "GET", URLTemplate: "/hosted", Policy: viaBackend("hosted")})
	g.h.Swap(compileWith(t, snap, Options{}))
	if st, _, body := call(t, "GET", g.base+"/s/hosted", nil); st != 200 || !strings.Contains(body, "host=other.test sni=other.test") {
		t.Errorf("Host credential: %d %q", st, body)
	}
}

// TestMTLSBackend: a backend that requires a client certificate gets the
// one its entity names (credentials.certificateIds); without it the
// handshake fails with a 502. The snapshot's private key is never in an
// error message.
func TestMTLSBackend(t *testing.T) {
	ca := newPKI(t, "apimgw test CA")
	leaf, _, _ := issue(t, ca, "backend.test")
	clientCA := newPKI(t, "client CA")
	_, clientPEM, clientKey := issue(t, clientCA)
	pool := x509.NewCertPool()
	pool.AddCert(clientCA.cert)
	b := httpsBackend(t, "mtls", leaf, pool)
	snap := &wire.Snapshot{ProtocolVersion: wire.ProtocolVersion, Version: 1,
		APIs: []wire.API{{ID: "s", Path: "s", Protocols: []string{"http"}, Operations: []wire.Operation{
			{ID: "with", Method: "GET", URLTemplate: "/with", Policy: viaBackend("with-cert")},
			{ID: "without", Method: "GET", URLTemplate: "/without", Policy: viaBackend("without-cert")}}}},
		Backends: []wire.Backend{
			{ID: "with-cert", URL: b.URL, Protocol: "http", Credentials: &wire.BackendCredentials{CertificateIDs: []string{"client"}}},
			{ID: "without-cert", URL: b.URL, Protocol: "http"}},
		Certificates: []wire.Certificate{{ID: "ca", CertificatePEM: ca.pem, TrustedCA: true},
			{ID: "client", CertificatePEM: clientPEM, PrivateKeyPEM: clientKey}},
	}
	g := startGateway(t, nil)
	g.h.Swap(compileWith(t, snap, Options{}))
	if st, _, body := call(t, "GET", g.base+"/s/with", nil); st != 200 || !strings.Contains(body, "client=leaf") {
		t.Errorf("with client certificate: %d %q", st, body)
	}
	// TLS 1.3: the backend refuses the missing certificate after the
	// handshake, with an alert the 502 names.
	if st, _, body := call(t, "GET", g.base+"/s/without", nil); st != 502 || !strings.Contains(body, "certificate required") {
		t.Errorf("without client certificate: %d %q, want 502 naming the alert", st, body)
	}
	// A certificate whose key does not match is refused at compile time,
	// without the key in the message.
	_, _, otherKey := issue(t, nil)
	snap.Certificates[1].PrivateKeyPEM = otherKey
	snap.Seal()
	_, err := CompileWith(snap, policy.NewState(nil), Options{})
	if err == nil || !strings.Contains(err.Error(), "certificates/client") || strings.Contains(err.Error(), "PRIVATE KEY") {
		t.Errorf("mismatched key: %v", err)
	}
}

// TestBackendCredentials: header, query and authorization credentials of a
// backend entity reach the backend.
func TestBackendCredentials(t *testing.T) {
	var got http.Header
	var gotQuery string
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, gotQuery = r.Header.Clone(), r.URL.RawQuery
	}))
	defer b.Close()
	snap := &wire.Snapshot{ProtocolVersion: wire.ProtocolVersion, Version: 1,
		APIs: []wire.API{{ID: "s", Path: "s", Protocols: []string{"http"}, Operations: []wire.Operation{
			{ID: "c", Method: "GET", URLTemplate: "/c", Policy: viaBackend("creds")}}}},
		Backends: []wire.Backend{{ID: "creds", URL: b.URL + "/base", Protocol: "http", Credentials: &wire.BackendCredentials{
			Header: map[string][]string{"X-Api-Key": {"k1", "k2"}}, Query: map[string][]string{"code": {"c0de"}},
			Authorization: &wire.BackendAuthorization{Scheme: "Basic", Parameter: "dXNlcjpwdw=="}}}},
	}
	g := startGateway(t, nil)
	g.h.Swap(compileWith(t, snap, Options{}))
	if st, _, body := call(t, "GET", g.base+"/s/c?code=client&keep=1", nil); st != 200 {
		t.Fatalf("%d %q", st, body)
	}
	if got.Get("X-Api-Key") != "k1,k2" || got.Get("Authorization") != "Basic dXNlcjpwdw==" || gotQuery != "keep=1&code=c0de" {
		t.Errorf("backend saw %v ?%s", got, gotQuery)
	}
}

// TestBackendPool: weighted round-robin within the best priority; a member
// that fails trips its circuit breaker and is skipped; the next priority
// serves when the first is down; everything down is APIM's 503. The
// breakers' state survives a new snapshot.
func TestBackendPool(t *testing.T) {
	hits := map[string]int{}
	mu := make(chan struct{}, 1)
	member := func(tag string) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu <- struct{}{}
			hits[tag]++
			<-mu
			io.WriteString(w, "member "+tag)
		}))
		t.Cleanup(s.Close)
		return s
	}
	a, b, c := member("a"), member("b"), member("c")
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close() // nothing listens there any more
	rule := &wire.CircuitBreaker{Rules: []wire.CircuitBreakerRule{{Name: "r",
		FailureCondition: wire.FailureCondition{Count: 1, Interval: "PT1M", StatusCodeRanges: []wire.StatusCodeRange{{Min: 500, Max: 599}}},
		TripDuration:     "PT1H"}}}
	snapshot := func(version uint64, deadOnly bool) *wire.Snapshot {
		s := &wire.Snapshot{ProtocolVersion: wire.ProtocolVersion, Version: version,
			APIs: []wire.API{{ID: "s", Path: "s", Protocols: []string{"http"}, Operations: []wire.Operation{
				{ID: "p", Method: "GET", URLTemplate: "/p", Policy: viaBackend("pool")},
				{ID: "d", Method: "GET", URLTemplate: "/d", Policy: viaBackend("deadpool")}}}},
			Backends: []wire.Backend{
				{ID: "a", URL: a.URL, Protocol: "http", CircuitBreaker: rule},
				{ID: "b", URL: b.URL, Protocol: "http", CircuitBreaker: rule},
				{ID: "c", URL: c.URL, Protocol: "http", CircuitBreaker: rule},
				{ID: "dead", URL: deadURL, Protocol: "http", CircuitBreaker: rule},
				{ID: "pool", Type: "Pool", Protocol: "http", Pool: &wire.BackendPool{Services: []wire.PoolService{
					{ID: "a", Priority: 1, Weight: 3}, {ID: "dead", Priority: 1, Weight: 1}, {ID: "b", Priority: 1, Weight: 1}, {ID: "c", Priority: 2}}}},
				{ID: "deadpool", Type: "Pool", Protocol: "http", Pool: &wire.BackendPool{Services: []wire.PoolService{{ID: "dead"}}}},
			}}
		return s
	}
	breakers := NewBreakers()
	g := startGateway(t, nil)
	g.h.Swap(compileWith(t, snapshot(1, false), Options{Breakers: breakers}))
	statuses := map[int]int{}
	for i := 0; i < 15; i++ {
		st, _, _ := call(t, "GET", g.base+"/s/p", nil)
		statuses[st]++
	}
	// The dead member answers once (502) and is then skipped: of 15 calls,
	// one 502; a:b share 3:1 of the rest; c (priority 2) gets nothing.
	if statuses[502] != 1 || statuses[200] != 14 || hits["c"] != 0 || hits["a"] < 2*hits["b"] || hits["b"] == 0 {
		t.Errorf("statuses %v hits %v", statuses, hits)
	}
	// The dead member stays tripped across a snapshot swap.
	g.h.Swap(compileWith(t, snapshot(2, false), Options{Breakers: breakers}))
	for i := 0; i < 5; i++ {
		if st, _, body := call(t, "GET", g.base+"/s/p", nil); st != 200 {
			t.Errorf("after swap: %d %q", st, body)
		}
	}
	// All of priority 1 tripped: priority 2 serves.
	now := time.Now().UnixNano()
	for _, id := range []string{"a", "b"} {
		g.h.Current().entities[id].breaker.until.Store(now + int64(time.Hour))
	}
	if st, _, body := call(t, "GET", g.base+"/s/p", nil); st != 200 || body != "member c" {
		t.Errorf("priority 2: %d %q", st, body)
	}
	// Every member down: APIM's 503.
	call(t, "GET", g.base+"/s/d", nil) // trips dead (already tripped: 503 at once)
	st, _, body := call(t, "GET", g.base+"/s/d", nil)
	if st != 503 || !strings.Contains(body, "Backend pool deadpool is temporarily unavailable") {
		t.Errorf("all members down: %d %q", st, body)
	}
}

// TestHTTPSBaseURLFromExpression: an https base URL a policy computes at run
// time is reached with default validation (the snapshot's trusted CA).
func TestHTTPSBaseURLFromExpression(t *testing.T) {
	ca := newPKI(t, "apimgw test CA")
	leaf, _, _ := issue(t, ca)
	b := httpsBackend(t, "computed", leaf, nil)
	snap := &wire.Snapshot{ProtocolVersion: wire.ProtocolVersion, Version: 1,
		APIs: []wire.API{{ID: "s", Path: "s", Protocols: []string{"http"}, Operations: []wire.Operation{
			{ID: "c", Method: "GET", URLTemplate: "/c", Policy: `<policies><inbound><set-backend-service base-url="@(&quot;` + b.URL + `&quot; + &quot;/p&quot;)"/></inbound><backend><forward-request/></backend><outbound/><on-error/></policies>`}}}},
		Certificates: []wire.Certificate{{ID: "ca", CertificatePEM: ca.pem, TrustedCA: true}},
	}
	g := startGateway(t, nil)
	g.h.Swap(compileWith(t, snap, Options{}))
	for i := 0; i < 3; i++ {
		if st, _, body := call(t, "GET", g.base+"/s/c", nil); st != 200 || !strings.Contains(body, "tls backend computed") {
			t.Fatalf("computed https URL: %d %q", st, body)
		}
	}
}

// TestHTTPSSessionsAcrossSnapshots: a backend that closes every connection
// makes each request a new TLS handshake. Within a snapshot the second one
// resumes the session; a new snapshot with the same backend TLS identity
// keeps resuming (its sessions and pooled connections are shared); one that
// changes the identity (a client certificate) starts a new session: a
// session is never resumed under another identity.
func TestHTTPSSessionsAcrossSnapshots(t *testing.T) {
	ca := newPKI(t, "apimgw test CA")
	leaf, _, _ := issue(t, ca, "backend.test")
	clientCA := newPKI(t, "client CA")
	_, clientPEM, clientKey := issue(t, clientCA)
	b := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		client := "none"
		if len(r.TLS.PeerCertificates) > 0 {
			client = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		fmt.Fprintf(w, "resumed=%t client=%s", r.TLS.DidResume, client)
	}))
	b.TLS = &tls.Config{Certificates: []tls.Certificate{leaf}, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: func() *x509.CertPool {
		p := x509.NewCertPool()
		p.AddCert(clientCA.cert)
		return p
	}()}
	b.Config.SetKeepAlivesEnabled(false)
	b.Config.ErrorLog = log.New(io.Discard, "", 0)
	b.StartTLS()
	t.Cleanup(b.Close)
	snapshot := func(version uint64, ops int, certIDs []string) *wire.Snapshot {
		s := &wire.Snapshot{ProtocolVersion: wire.ProtocolVersion, Version: version,
			APIs: []wire.API{{ID: "s", Path: "s", Protocols: []string{"http"}, Operations: []wire.Operation{
				{ID: "get", Method: "GET", URLTemplate: "/get", Policy: viaBackend("tls")}}}},
			Backends: []wire.Backend{{ID: "tls", URL: b.URL, Protocol: "http", Credentials: &wire.BackendCredentials{CertificateIDs: certIDs}}},
			Certificates: []wire.Certificate{{ID: "ca", CertificatePEM: ca.pem, TrustedCA: true},
				{ID: "client", CertificatePEM: clientPEM, PrivateKeyPEM: clientKey}},
		}
		for i := 0; i < ops; i++ { // an unrelated change
			s.APIs[0].Operations = append(s.APIs[0].Operations, wire.Operation{ID: fmt.Sprintf("x%d", i), Method: "GET", URLTemplate: fmt.Sprintf("/x%d", i)})
		}
		return s
	}
	g := startGateway(t, nil)
	get := func(want string) {
		t.Helper()
		if st, _, body := call(t, "GET", g.base+"/s/get", nil); st != 200 || body != want {
			t.Fatalf("%d %q, want %q", st, body, want)
		}
	}
	g.h.Swap(compileWith(t, snapshot(1, 0, nil), Options{}))
	get("resumed=false client=none")
	get("resumed=true client=none")
	g.h.Swap(compileWith(t, snapshot(2, 1, nil), Options{}))
	get("resumed=true client=none") // the new snapshot resumes the session
	g.h.Swap(compileWith(t, snapshot(3, 1, []string{"client"}), Options{}))
	get("resumed=false client=leaf") // another identity: a full handshake with the certificate
	get("resumed=true client=leaf")
}
