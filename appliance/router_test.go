package appliance

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/apimgw/apimgw/netstack"
	"github.com/apimgw/apimgw/policy"
	"github.com/apimgw/apimgw/wire"
)

func params(names ...string) []wire.TemplateParameter {
	var out []wire.TemplateParameter
	for _, n := range names {
		out = append(out, wire.TemplateParameter{Name: n, Required: true})
	}
	return out
}

// templateSnapshot has one open API whose operations use every kind of
// template; the X-Params header the backend sees lists the matched
// parameters.
func templateSnapshot(serviceURL string) *wire.Snapshot {
	get := func(n string) string { return `context.Request.MatchedParameters.GetValueOrDefault("` + n + `", "")` }
	echoParams := `<policies><inbound><base/><set-header name="X-Params" exists-action="override"><value>@(` +
		get("name") + ` + "|" + ` + get("version") + ` + "|" + ` + get("id") + ` + "|" + ` + get("path") +
		`)</value></set-header></inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`
	s := &wire.Snapshot{
		ProtocolVersion: wire.ProtocolVersion, Version: 1,
		APIs: []wire.API{{
			ID: "files", Path: "files", ServiceURL: serviceURL + "/base", Protocols: []string{"http"},
			Policy: echoParams,
			Operations: []wire.Operation{
				{ID: "wildcard-get", Method: "GET", URLTemplate: "/*"},
				{ID: "doc-json", Method: "GET", URLTemplate: "/docs/{name}.json", TemplateParameters: params("name")},
				{ID: "doc", Method: "GET", URLTemplate: "/docs/{name}", TemplateParameters: params("name")},
				{ID: "versioned", Method: "GET", URLTemplate: "/v{version}/items", TemplateParameters: params("version")},
				{ID: "by-query", Method: "GET", URLTemplate: "/items?id={id}", TemplateParameters: params("id")},
				{ID: "items", Method: "GET", URLTemplate: "/items"},
				{ID: "me", Method: "GET", URLTemplate: "/users/me"},
				{ID: "user", Method: "GET", URLTemplate: "/users/{id}", TemplateParameters: params("id")},
				{ID: "any-user", Method: "*", URLTemplate: "/users/{id}", TemplateParameters: params("id")},
				{ID: "upload", Method: "POST", URLTemplate: "/blobs/{*path}", TemplateParameters: params("path")},
			},
		}},
	}
	if err := s.Seal(); err != nil {
		panic(err)
	}
	return s
}

// wantParams turns "id=7" into what templateSnapshot's policy writes: the
// values of name, version, id and path joined with "|".
func wantParams(kv string) string {
	vals := map[string]string{}
	if kv != "" {
		k, v, _ := strings.Cut(kv, "=")
		vals[k] = v
	}
	return vals["name"] + "|" + vals["version"] + "|" + vals["id"] + "|" + vals["path"]
}

// TestTemplatesOverSockets routes real requests through the gateway to a
// real backend: which operation served each (telemetry's record), what the
// backend received (the remaining path and query after the service URL, as
// APIM forwards them), and the matched parameters policies see.
func TestTemplatesOverSockets(t *testing.T) {
	b := echoBackend(t)
	g := startGateway(t, templateSnapshot(b.URL))
	cases := []struct {
		method, path string
		status       int
		op, uri      string
		params       string
	}{
		{"GET", "/files/any/deep/path.txt?x=1&y=2", 200, "wildcard-get", "/base/any/deep/path.txt?x=1&y=2", ""},
		{"GET", "/files", 200, "wildcard-get", "/base/", ""},
		{"GET", "/files/", 200, "wildcard-get", "/base/", ""},
		{"GET", "/files/docs/readme.json", 200, "doc-json", "/base/docs/readme.json", "name=readme"},
		{"GET", "/files/docs/readme.txt", 200, "doc", "/base/docs/readme.txt", "name=readme.txt"},
		{"GET", "/files/v2/items", 200, "versioned", "/base/v2/items", "version=2"},
		{"GET", "/files/items?id=42&more=1", 200, "by-query", "/base/items?id=42&more=1", "id=42"},
		{"GET", "/files/items?more=1", 200, "items", "/base/items?more=1", ""},
		{"GET", "/files/users/me", 200, "me", "/base/users/me", ""},
		{"GET", "/files/users/7", 200, "user", "/base/users/7", "id=7"},
		{"DELETE", "/files/users/7", 200, "any-user", "/base/users/7", "id=7"},
		{"POST", "/files/blobs/a/b/c.bin", 200, "upload", "/base/blobs/a/b/c.bin", "path=a/b/c.bin"},
		{"POST", "/files/other", 404, "", "", ""},
		{"GET", "/nofiles/x", 404, "", "", ""},
	}
	for _, tc := range cases {
		g.mu.Lock()
		g.recs = nil
		g.mu.Unlock()
		st, _, body := call(t, tc.method, g.base+tc.path, nil)
		if st != tc.status {
			t.Errorf("%s %s: status %d, want %d (%s)", tc.method, tc.path, st, tc.status, body)
			continue
		}
		if st == 404 {
			if body != `{"statusCode":404,"message":"Resource not found"}` {
				t.Errorf("%s %s: 404 body %s", tc.method, tc.path, body)
			}
			continue
		}
		var e echo
		if err := json.Unmarshal([]byte(body), &e); err != nil {
			t.Fatalf("%s %s: %v: %s", tc.method, tc.path, err, body)
		}
		if e.URI != tc.uri || e.Headers["X-Params"] != wantParams(tc.params) {
			t.Errorf("%s %s: backend got %s with X-Params %q, want %s with %q", tc.method, tc.path, e.URI, e.Headers["X-Params"], tc.uri, wantParams(tc.params))
		}
		deadline := time.Now().Add(2 * time.Second)
		for {
			g.mu.Lock()
			n := len(g.recs)
			op := ""
			if n > 0 {
				op = g.recs[0].Operation
			}
			g.mu.Unlock()
			if n > 0 {
				if op != tc.op {
					t.Errorf("%s %s: served by operation %q, want %q", tc.method, tc.path, op, tc.op)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s %s: no record", tc.method, tc.path)
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// TestOperationPrecedence checks the compiled order against APIM's rules
// (literal over text around parameters over parameter over wildcard; a
// fixed method over "*"), whatever order the snapshot lists operations in.
// The wildcard operation and GET /status/{code} beside GET /get are the
// operations of APIM's "Add an API manually" walkthrough
// (https://learn.microsoft.com/azure/api-management/add-api-manually).
func TestOperationPrecedence(t *testing.T) {
	ops := []wire.Operation{
		{ID: "wild", Method: "GET", URLTemplate: "/*"},
		{ID: "any-status", Method: "*", URLTemplate: "/status/{code}", TemplateParameters: params("code")},
		{ID: "status", Method: "GET", URLTemplate: "/status/{code}", TemplateParameters: params("code")},
		{ID: "teapot", Method: "GET", URLTemplate: "/status/418"},
		{ID: "get", Method: "GET", URLTemplate: "/get"},
		{ID: "json", Method: "GET", URLTemplate: "/status/{code}.json", TemplateParameters: params("code")},
	}
	cases := []struct{ method, path, want string }{
		{"GET", "/get", "get"},
		{"GET", "/status/200", "status"},
		{"GET", "/status/418", "teapot"},
		{"GET", "/status/200.json", "json"},
		{"PUT", "/status/200", "any-status"},
		{"GET", "/headers", "wild"},
		{"GET", "/status/200/x", "wild"},
		{"PUT", "/headers", ""},
	}
	for round := 0; round < 2; round++ {
		snap := testSnapshot("http://127.0.0.1:1")
		list := append([]wire.Operation(nil), ops...)
		if round == 1 {
			for i, j := 0, len(list)-1; i < j; i, j = i+1, j-1 {
				list[i], list[j] = list[j], list[i]
			}
		}
		snap.APIs[1].Operations = list
		snap.Seal()
		c, err := Compile(snap, policy.NewState(nil))
		if err != nil {
			t.Fatal(err)
		}
		a, _ := c.route("/open/v1")
		st := &reqState{}
		for _, tc := range cases {
			var p policy.Params
			got := ""
			if op := a.match(tc.method, tc.path, "", &st.match, &p); op != nil {
				got = op.op.ID
			}
			if got != tc.want {
				t.Errorf("round %d: %s %s matched %q, want %q", round, tc.method, tc.path, got, tc.want)
			}
		}
	}
}

// protocolsConfig: APIs for each protocols setting, every path forwarded.
func protocolsConfig(t *testing.T, backend string) *Compiled {
	op := []wire.Operation{{ID: "all", Method: "*", URLTemplate: "/*"}}
	snap := &wire.Snapshot{ProtocolVersion: wire.ProtocolVersion, Version: 1, APIs: []wire.API{
		{ID: "plain", Path: "plain", ServiceURL: backend, Protocols: []string{"http"}, Operations: op},
		{ID: "secure", Path: "secure", ServiceURL: backend, Protocols: []string{"https"}, Operations: op},
		{ID: "both", Path: "both", ServiceURL: backend, Protocols: []string{"http", "https"}, Operations: op},
		{ID: "unset", Path: "unset", ServiceURL: backend, Operations: op},
	}}
	if err := snap.Seal(); err != nil {
		t.Fatal(err)
	}
	c, err := Compile(snap, policy.NewState(nil))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestProtocolsForwardedProto: with net.server.http.forwarded.proto.enabled
// the scheme comes from X-Forwarded-Proto (the first value), as Azure's
// self-hosted gateway takes it behind a TLS-terminating load balancer;
// without the header the listener decides.
func TestProtocolsForwardedProto(t *testing.T) {
	h := &Handler{}
	h.SetForwardedProto(true)
	h.Swap(protocolsConfig(t, echoBackend(t).URL))
	s := netstack.New(netstack.Config{Addr: "127.0.0.1:0", Loops: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, h)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	base := "http://" + s.Addr().String()
	for _, tc := range []struct {
		api, proto string
		status     int
	}{
		{"secure", "https", 200}, {"secure", "HTTPS, http", 200}, {"secure", "http", 404}, {"secure", "", 404},
		{"plain", "https", 404}, {"plain", "http", 200}, {"plain", "", 200},
	} {
		hdr := map[string]string{}
		if tc.proto != "" {
			hdr["X-Forwarded-Proto"] = tc.proto
		}
		if st, _, body := call(t, "GET", base+"/"+tc.api+"/x", hdr); st != tc.status {
			t.Errorf("API %s with X-Forwarded-Proto %q: %d %s, want %d", tc.api, tc.proto, st, body, tc.status)
		}
	}
}

// testCert makes a self-signed certificate for 127.0.0.1 and a pool trusting it.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "apimgw router test"},
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

// TestProtocols: an API is served only on the schemes its protocols list; on
// the other listener it is answered as APIM answers an API it does not have
// there, 404 "Resource not found", and nothing reaches the backend.
func TestProtocols(t *testing.T) {
	h := &Handler{}
	h.Swap(protocolsConfig(t, echoBackend(t).URL))
	s := netstack.New(netstack.Config{Addr: "127.0.0.1:0", Loops: 2, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, h)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	cert, pool := testCert(t)
	tlsAddr, err := s.ServeTLS("127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	t.Cleanup(client.CloseIdleConnections)
	bases := map[string]string{"http": "http://" + s.Addr().String(), "https": "https://" + tlsAddr.String()}
	cases := []struct {
		scheme, api string
		status      int
	}{
		{"http", "plain", 200}, {"https", "plain", 404},
		{"http", "secure", 404}, {"https", "secure", 200},
		{"http", "both", 200}, {"https", "both", 200},
		{"http", "unset", 200}, {"https", "unset", 200},
	}
	for _, tc := range cases {
		resp, err := client.Get(bases[tc.scheme] + "/" + tc.api + "/x?y=1")
		if err != nil {
			t.Fatalf("%s %s: %v", tc.scheme, tc.api, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s to API %s: %d %s, want %d", tc.scheme, tc.api, resp.StatusCode, body, tc.status)
			continue
		}
		switch tc.status {
		case 404:
			if string(body) != `{"statusCode":404,"message":"Resource not found"}` {
				t.Errorf("%s to API %s: body %s", tc.scheme, tc.api, body)
			}
		case 200:
			if !strings.Contains(string(body), `"uri":"/x?y=1"`) {
				t.Errorf("%s to API %s: backend got %s", tc.scheme, tc.api, body)
			}
		}
	}
}

// TestRouterMatchAllocs: routing and matching every kind of template keeps
// to no allocation (parameter values are substrings of the request's path
// and query; the connection's Params keeps its capacity).
func TestRouterMatchAllocs(t *testing.T) {
	c, err := Compile(templateSnapshot("http://127.0.0.1:1"), policy.NewState(nil))
	if err != nil {
		t.Fatal(err)
	}
	st := &reqState{}
	var p policy.Params
	reqs := []struct{ method, path, query string }{
		{"GET", "/files/docs/readme.json", ""},
		{"GET", "/files/v2/items", ""},
		{"GET", "/files/items", "more=1&id=42"},
		{"POST", "/files/blobs/a/b/c", ""},
		{"GET", "/files/any/thing", "x=1"},
	}
	run := func() {
		for _, r := range reqs {
			a, rel := c.route(r.path)
			if a == nil || a.match(r.method, rel, r.query, &st.match, &p) == nil {
				t.Fatalf("%s %s did not match", r.method, r.path)
			}
		}
	}
	run()
	if n, where := mallocs(1000, run); n != 0 {
		t.Errorf("routing: %d allocations in 1000 rounds, want 0:\n%s", n, where)
	}
}

// BenchmarkRouterMatch: route and match one request among templateSnapshot's
// ten operations of every kind (the wildcard is tried last).
func BenchmarkRouterMatch(b *testing.B) {
	c, err := Compile(templateSnapshot("http://127.0.0.1:1"), policy.NewState(nil))
	if err != nil {
		b.Fatal(err)
	}
	st := &reqState{}
	var p policy.Params
	for _, bc := range []struct{ name, method, path, query string }{
		{"param", "GET", "/files/users/7", ""},
		{"text-around", "GET", "/files/docs/readme.json", ""},
		{"query", "GET", "/files/items", "more=1&id=42"},
		{"wildcard", "GET", "/files/any/thing", "x=1"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				a, rel := c.route(bc.path)
				if a.match(bc.method, rel, bc.query, &st.match, &p) == nil {
					b.Fatal("no match")
				}
			}
		})
	}
}
