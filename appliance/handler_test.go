package appliance

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apimgw/apimgw/netstack"
	"github.com/apimgw/apimgw/policy"
	"github.com/apimgw/apimgw/wire"
	"github.com/apimgw/apimgw/wire/urltemplate"
)

const testKey = "key-0123456789abcdef"

// echoBackend answers with what it received: method, path and query, and headers.
func echoBackend(t testing.TB) *httptest.Server {
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := map[string]string{}
		for k, v := range r.Header {
			hdr[k] = strings.Join(v, ",")
		}
		hdr["Host"] = r.Host
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Backend", "yes")
		json.NewEncoder(w).Encode(map[string]any{"method": r.Method, "uri": r.RequestURI, "headers": hdr})
	}))
	t.Cleanup(b.Close)
	return b
}

func testSnapshot(serviceURL string) *wire.Snapshot {
	s := &wire.Snapshot{
		ProtocolVersion: wire.ProtocolVersion,
		Version:         1,
		APIs: []wire.API{{
			ID: "hybrid", Path: "hybrid", ServiceURL: serviceURL + "/base", Protocols: []string{"http"},
			SubscriptionRequired: true,
			Policy:               `<policies><inbound><base/><set-header name="X-From-Api" exists-action="override"><value>api</value></set-header></inbound><backend><base/></backend><outbound><base/><set-header name="X-Out" exists-action="override"><value>@(context.Response.StatusCode.ToString())</value></set-header></outbound><on-error><base/></on-error></policies>`,
			Operations: []wire.Operation{
				{ID: "test", Method: "GET", URLTemplate: "/test"},
				{ID: "user", Method: "GET", URLTemplate: "/users/{id}", TemplateParameters: []wire.TemplateParameter{{Name: "id", Required: true}}},
				{ID: "limited", Method: "GET", URLTemplate: "/limited",
					Policy: `<policies><inbound><base/><rate-limit calls="2" renewal-period="10"/></inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`},
				{ID: "google", Method: "GET", URLTemplate: "/google",
					Policy: `<policies><inbound><base/></inbound><backend><base/></backend><outbound><base/><return-response><set-status code="200" reason="Get GKE"/><set-body>Hello From Google</set-body></return-response></outbound><on-error><base/></on-error></policies>`},
				{ID: "rewrite", Method: "POST", URLTemplate: "/rewrite",
					Policy: `<policies><inbound><base/><set-body>new body from the policy</set-body></inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`},
				{ID: "down", Method: "GET", URLTemplate: "/down",
					Policy: `<policies><inbound><base/><set-backend-service base-url="http://127.0.0.1:1"/></inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/><set-status code="503" reason="Down"/><set-body>backend failed</set-body></on-error></policies>`},
				{ID: "any", Method: "*", URLTemplate: "/any/{*rest}", TemplateParameters: []wire.TemplateParameter{{Name: "rest"}}},
			},
		}, {
			ID: "open", Path: "open/v1", ServiceURL: serviceURL, Protocols: []string{"http"},
			Operations: []wire.Operation{{ID: "get", Method: "GET", URLTemplate: "/"}},
		}},
		Products: []wire.Product{{ID: "unlimited", DisplayName: "Unlimited", SubscriptionRequired: true, State: "published", APIs: []string{"hybrid"}}},
		Subscriptions: []wire.Subscription{
			{ID: "sub1", Scope: "/products/unlimited", State: wire.SubscriptionActive, PrimaryKeySHA256: wire.KeyDigest(testKey), SecondaryKeySHA256: wire.KeyDigest("second")},
			{ID: "off", Scope: "/apis", State: wire.SubscriptionSuspended, PrimaryKeySHA256: wire.KeyDigest("suspended-key"), SecondaryKeySHA256: wire.KeyDigest("suspended-2")},
		},
	}
	if err := s.Seal(); err != nil {
		panic(err)
	}
	return s
}

// gatewayLoops is the event-loop count of startGateway's server.
const gatewayLoops = 2

type gw struct {
	h    *Handler
	base string
	mu   sync.Mutex
	recs []Record
}

func startGateway(t testing.TB, snap *wire.Snapshot) *gw {
	g := &gw{h: &Handler{}}
	g.h.OnDone = func(r *Record) {
		c := *r // a Record's strings are valid only during OnDone: copy them
		c.Method, c.PathTemplate, c.ClientIP = strings.Clone(c.Method), strings.Clone(c.PathTemplate), strings.Clone(c.ClientIP)
		g.mu.Lock()
		g.recs = append(g.recs, c)
		g.mu.Unlock()
	}
	if snap != nil {
		c, err := Compile(snap, policy.NewState(nil))
		if err != nil {
			t.Fatal(err)
		}
		g.h.Swap(c)
	}
	s := netstack.New(netstack.Config{Addr: "127.0.0.1:0", Loops: gatewayLoops, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, g.h)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	g.base = "http://" + s.Addr().String()
	return g
}

func call(t *testing.T, method, url string, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

type echo struct {
	Method  string            `json:"method"`
	URI     string            `json:"uri"`
	Headers map[string]string `json:"headers"`
}

func TestHandlerRoutingAndSubscriptions(t *testing.T) {
	b := echoBackend(t)
	g := startGateway(t, testSnapshot(b.URL))
	key := map[string]string{"Ocp-Apim-Subscription-Key": testKey}

	st, hdr, body := call(t, "GET", g.base+"/hybrid/test?a=1&b=x%20y", key)
	if st != 200 {
		t.Fatalf("with key: %d %s", st, body)
	}
	var e echo
	json.Unmarshal([]byte(body), &e)
	if e.URI != "/base/test?a=1&b=x%20y" {
		t.Errorf("backend URI %q", e.URI)
	}
	if _, ok := e.Headers["Ocp-Apim-Subscription-Key"]; ok {
		t.Error("the subscription key reached the backend")
	}
	if e.Headers["X-From-Api"] != "api" || e.Headers["Host"] != strings.TrimPrefix(b.URL, "http://") {
		t.Errorf("backend headers: %v", e.Headers)
	}
	if hdr.Get("X-Out") != "200" || hdr.Get("X-Backend") != "yes" {
		t.Errorf("outbound headers: %v", hdr)
	}

	// The key as a query parameter is removed before forwarding.
	st, _, body = call(t, "GET", g.base+"/hybrid/test?subscription-key="+testKey+"&z=1", nil)
	json.Unmarshal([]byte(body), &e)
	if st != 200 || e.URI != "/base/test?z=1" {
		t.Errorf("query key: %d %q", st, e.URI)
	}
	// The secondary key works too.
	if st, _, _ := call(t, "GET", g.base+"/hybrid/test", map[string]string{"Ocp-Apim-Subscription-Key": "second"}); st != 200 {
		t.Errorf("secondary key: %d", st)
	}

	cases := []struct {
		path string
		hdr  map[string]string
		code int
		body string
	}{
		{"/hybrid/test", nil, 401, `{"statusCode":401,"message":"Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API."}`},
		{"/hybrid/test", map[string]string{"Ocp-Apim-Subscription-Key": "wrong"}, 401, `{"statusCode":401,"message":"Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription."}`},
		{"/hybrid/test", map[string]string{"Ocp-Apim-Subscription-Key": "suspended-key"}, 401, `{"statusCode":401,"message":"Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription."}`},
		{"/nowhere", nil, 404, `{"statusCode":404,"message":"Resource not found"}`},
		{"/hybrid/missing", key, 404, `{"statusCode":404,"message":"Resource not found"}`},
		{"/hybridx/test", key, 404, `{"statusCode":404,"message":"Resource not found"}`},
	}
	for i, tc := range cases {
		st, hdr, body := call(t, "GET", g.base+tc.path, tc.hdr)
		if st != tc.code || body != tc.body || hdr.Get("Content-Type") != "application/json" {
			t.Errorf("case %d %s: %d %q", i, tc.path, st, body)
		}
	}

	// Template parameters, wildcard operations, nested API paths without a key.
	st, _, body = call(t, "GET", g.base+"/hybrid/users/42", key)
	json.Unmarshal([]byte(body), &e)
	if st != 200 || e.URI != "/base/users/42" {
		t.Errorf("template: %d %q", st, e.URI)
	}
	st, _, body = call(t, "DELETE", g.base+"/hybrid/any/a/b/c", key)
	json.Unmarshal([]byte(body), &e)
	if st != 200 || e.URI != "/base/any/a/b/c" || e.Method != "DELETE" {
		t.Errorf("wildcard: %d %q %q", st, e.URI, e.Method)
	}
	st, _, body = call(t, "GET", g.base+"/open/v1", nil)
	json.Unmarshal([]byte(body), &e)
	if st != 200 || e.URI != "/" {
		t.Errorf("open api: %d %q %s", st, e.URI, body)
	}

	// Done runs on the loop just after a response is written: the client
	// may have read the last one first.
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		g.mu.Lock()
		n := len(g.recs)
		g.mu.Unlock()
		if n >= 12 {
			break
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.recs) < 10 {
		t.Fatalf("%d telemetry records", len(g.recs))
	}
	var notFound *Record
	for i := range g.recs {
		if g.recs[i].Status == 404 && g.recs[i].PathTemplate == "/nowhere" {
			notFound = &g.recs[i]
		}
	}
	if notFound == nil || notFound.Method != "GET" || notFound.PathTemplate != "/nowhere" || notFound.Error != "not-found" {
		t.Errorf("record of an unrouted request: %+v", notFound)
	}
	r := g.recs[0]
	if r.API != "hybrid" || r.Operation != "test" || r.Product != "unlimited" || r.Subscription != "sub1" || r.Status != 200 || r.BackendStatus != 200 ||
		r.ClientIP != "127.0.0.1" {
		t.Errorf("record: %+v", r)
	}
}

func TestHandlerPolicies(t *testing.T) {
	b := echoBackend(t)
	g := startGateway(t, testSnapshot(b.URL))
	key := map[string]string{"Ocp-Apim-Subscription-Key": testKey}
	for i := 0; i < 2; i++ {
		if st, _, body := call(t, "GET", g.base+"/hybrid/limited", key); st != 200 {
			t.Fatalf("call %d: %d %s", i, st, body)
		}
	}
	st, hdr, body := call(t, "GET", g.base+"/hybrid/limited", key)
	if st != 429 || hdr.Get("Retry-After") == "" || !strings.Contains(body, "Rate limit is exceeded") {
		t.Fatalf("third call: %d %v %s", st, hdr, body)
	}
	req, _ := http.NewRequest("POST", g.base+"/hybrid/rewrite", strings.NewReader("the client's body"))
	req.Header.Set("Ocp-Apim-Subscription-Key", testKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(rb), `"Content-Length":"24"`) {
		t.Fatalf("set-body: backend saw %s", rb)
	}
	st, _, body = call(t, "GET", g.base+"/hybrid/down", key)
	if st != 503 || body != "backend failed" {
		t.Fatalf("on-error after a failed forward: %d %q", st, body)
	}
	st, hdr, body = call(t, "GET", g.base+"/hybrid/google", key)
	if st != 200 || body != "Hello From Google" || hdr.Get("X-Backend") != "" {
		t.Fatalf("return-response: %d %q %v", st, body, hdr)
	}
}

func TestHandlerNoConfigAndProbe(t *testing.T) {
	g := startGateway(t, nil)
	if st, _, _ := call(t, "GET", g.base+ProbePath, nil); st != 503 {
		t.Fatalf("probe without config: %d", st)
	}
	if st, _, body := call(t, "GET", g.base+"/anything", nil); st != 503 || !strings.Contains(body, `"statusCode":503`) {
		t.Fatalf("request without config: %d %s", st, body)
	}
	c, err := Compile(testSnapshot("http://127.0.0.1:1"), policy.NewState(nil))
	if err != nil {
		t.Fatal(err)
	}
	g.h.Swap(c)
	if st, _, _ := call(t, "GET", g.base+ProbePath, nil); st != 200 {
		t.Fatalf("probe with config: %d", st)
	}
	st, _, body := call(t, "GET", g.base+"/hybrid/test", map[string]string{"Ocp-Apim-Subscription-Key": testKey})
	if st != 502 || !strings.Contains(body, `"statusCode":502`) {
		t.Fatalf("unreachable backend: %d %s", st, body)
	}
}

func TestCompileErrors(t *testing.T) {
	snap := testSnapshot("http://127.0.0.1:1")
	snap.APIs[0].Operations[0].Policy = `<policies><inbound><no-such-policy/></inbound></policies>`
	snap.Seal()
	_, err := Compile(snap, policy.NewState(nil))
	if err == nil || !strings.Contains(err.Error(), "apis/hybrid/operations/test") || !strings.Contains(err.Error(), "no-such-policy") {
		t.Fatalf("err = %v", err)
	}
	snap = testSnapshot("http://127.0.0.1:1")
	snap.APIs[0].Operations[0].URLTemplate = "/a/{*b}/c"
	snap.APIs[0].Operations[0].TemplateParameters = []wire.TemplateParameter{{Name: "b"}}
	snap.Seal()
	if _, err := Compile(snap, policy.NewState(nil)); err == nil || !strings.Contains(err.Error(), "operations[test].urlTemplate") || !strings.Contains(err.Error(), "must be the last") {
		t.Fatalf("template err = %v", err)
	}
}

func TestRouteAndMatch(t *testing.T) {
	c, err := Compile(testSnapshot("http://127.0.0.1:1"), policy.NewState(nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, api, rel string }{
		{"/hybrid/test", "hybrid", "/test"},
		{"/hybrid", "hybrid", ""},
		{"/open/v1/x/y", "open", "/x/y"},
		{"/open/v2", "", ""},
		{"/", "", ""},
	} {
		a, rel := c.route(tc.path)
		got := ""
		if a != nil {
			got = a.id
		}
		if got != tc.api || (a != nil && rel != tc.rel) {
			t.Errorf("route(%q) = %q %q", tc.path, got, rel)
		}
	}
	a, _ := c.route("/hybrid/users/7")
	var p policy.Params
	var m urltemplate.Match
	op := a.match("GET", "/users/7", "", &m, &p)
	if op == nil || op.op.ID != "user" || fmt.Sprint(p.List) != "[{id 7}]" {
		t.Fatalf("match: %v %v", op, p.List)
	}
	if op := a.match("POST", "/users/7", "", &m, &p); op != nil {
		t.Fatal("POST matched a GET operation")
	}
}

// TestKeyDigestCachePerConnection: one keep-alive connection sends keys in
// turn; the per-connection digest cache must never let a key pass for the
// one before it (same length, one character off; longer than the cache).
func TestKeyDigestCachePerConnection(t *testing.T) {
	b := echoBackend(t)
	g := startGateway(t, testSnapshot(b.URL))
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rd := bufio.NewReader(conn)
	offBy1 := []byte(testKey)
	offBy1[len(offBy1)-1] ^= 1
	cases := []struct {
		key  string
		want int
	}{
		{testKey, 200}, {testKey, 200}, {"wrong", 401}, {testKey, 200}, {string(offBy1), 401},
		{testKey, 200}, {"second", 200}, {strings.Repeat("k", 300), 401}, {"second", 200}, {"", 401},
	}
	for i, c := range cases {
		req := "GET /hybrid/test HTTP/1.1\r\nHost: gw\r\n"
		if c.key != "" {
			req += "Ocp-Apim-Subscription-Key: " + c.key + "\r\n"
		}
		if _, err := conn.Write([]byte(req + "\r\n")); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(rd, nil)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("case %d (key %.10q…): %d, want %d", i, c.key, resp.StatusCode, c.want)
		}
	}
}
