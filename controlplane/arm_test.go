package controlplane

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// TestLifecycle walks every resource through create, get, list, update,
// patch, delete over HTTP.
func TestLifecycle(t *testing.T) {
	ts := newTestServer(t)
	ts.must(201, "PUT", "/apis/echo", props(map[string]any{"displayName": "Echo", "path": "echo", "protocols": []string{"http"}}))
	ts.must(201, "PUT", "/namedValues/nv1", props(map[string]any{"displayName": "env", "value": "prod"}))
	ts.must(201, "PUT", "/backends/b1", props(map[string]any{"url": "http://127.0.0.1:9001"}))
	ts.must(201, "PUT", "/products/p1", props(map[string]any{"state": "published"}))
	ts.must(201, "PUT", "/gateways/gw1", props(map[string]any{"locationData": map[string]any{"name": "edge"}}))
	cases := []struct {
		path   string
		create map[string]any
		update map[string]any
		check  string // a JSON fragment the updated GET must contain
	}{
		{"/apis/a1", map[string]any{"displayName": "A1", "path": "a1", "protocols": []string{"https"}},
			map[string]any{"displayName": "A1b", "path": "a1b", "protocols": []string{"https"}}, `"path":"a1b"`},
		{"/apis/echo/operations/op1", map[string]any{"method": "GET", "urlTemplate": "/x"},
			map[string]any{"method": "POST", "urlTemplate": "/x/{id}", "templateParameters": []map[string]any{{"name": "id"}}}, `"urlTemplate":"/x/{id}"`},
		{"/policies/policy", map[string]any{"format": "xml", "value": "<policies><inbound/></policies>"},
			map[string]any{"format": "rawxml", "value": "<policies><inbound><base/></inbound></policies>"}, `"format":"rawxml"`},
		{"/apis/echo/policies/policy", map[string]any{"value": "<policies/>"},
			map[string]any{"value": "<policies><inbound>{{env}}</inbound></policies>"}, `{{env}}`},
		{"/products/p1/policies/policy", map[string]any{"value": "<policies/>"},
			map[string]any{"value": "<policies><inbound/></policies>"}, `<inbound/>`},
		{"/products/p2", map[string]any{"displayName": "P2"}, map[string]any{"displayName": "P2b", "state": "published"}, `"state":"published"`},
		{"/subscriptions/s9", map[string]any{"scope": "/apis", "state": "active"}, map[string]any{"scope": "/apis/echo", "state": "suspended"}, `"scope":"/apis/echo"`},
		{"/namedValues/nv2", map[string]any{"displayName": "n2", "value": "v"}, map[string]any{"displayName": "n2", "value": "w"}, `"value":"w"`},
		{"/backends/b2", map[string]any{"url": "http://10.0.0.1"}, map[string]any{"url": "https://10.0.0.2", "protocol": "http"}, `"url":"https://10.0.0.2"`},
		{"/policyFragments/f1", map[string]any{"value": "<fragment/>"}, map[string]any{"value": "<fragment><set-header name=\"a\"/></fragment>", "description": "d"}, `"description":"d"`},
		{"/gateways/gw2", map[string]any{"locationData": map[string]any{"name": "x"}}, map[string]any{"locationData": map[string]any{"name": "y"}, "description": "second"}, `"description":"second"`},
		{"/gateways/gw1/apis/echo", nil, nil, `"path":"echo"`},
		{"/products/p1/apis/echo", nil, nil, `"path":"echo"`},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			var body any
			if c.create != nil {
				body = props(c.create)
			}
			r := ts.must(201, "PUT", c.path, body)
			res := r.json(t)
			wantName := c.path[strings.LastIndexByte(c.path, '/')+1:]
			if res["id"] != c.path || res["name"] != wantName || !strings.HasPrefix(res["type"].(string), "Microsoft.ApiManagement/service/") {
				t.Fatalf("PUT answer not ARM-shaped: %s", r.body)
			}
			if r.header.Get("ETag") == "" {
				t.Fatal("no ETag")
			}
			ts.must(200, "GET", c.path, nil)
			if c.update != nil {
				body = props(c.update)
			}
			ts.must(200, "PUT", c.path, body)
			got := ts.must(200, "GET", c.path, nil)
			if !strings.Contains(string(got.body), c.check) {
				t.Fatalf("after update GET lacks %s: %s", c.check, got.body)
			}
			coll := c.path[:strings.LastIndexByte(c.path, '/')]
			if coll == "/policies" || strings.HasSuffix(coll, "/policies") {
				coll = strings.TrimSuffix(c.path, "/policy")
			}
			list := ts.must(200, "GET", coll, nil)
			var l struct {
				Value []armResource `json:"value"`
			}
			json.Unmarshal(list.body, &l)
			found := false
			for _, it := range l.Value {
				found = found || it.ID == c.path
			}
			if !found {
				t.Fatalf("GET %s does not list %s: %s", coll, c.path, list.body)
			}
			ts.must(200, "DELETE", c.path, nil)
			nf := ts.must(404, "GET", c.path, nil)
			if e := nf.json(t)["error"].(map[string]any); e["code"] != "ResourceNotFound" {
				t.Fatalf("404 body: %s", nf.body)
			}
			ts.must(204, "DELETE", c.path, nil)
		})
	}
	// PATCH changes only what it names.
	ts.must(201, "PUT", "/apis/p", props(map[string]any{"displayName": "P", "path": "p", "serviceUrl": "http://127.0.0.1:1", "protocols": []string{"http"}}))
	ts.must(200, "PATCH", "/apis/p", props(map[string]any{"displayName": "Q"}))
	got := string(ts.must(200, "GET", "/apis/p", nil).body)
	if !strings.Contains(got, `"displayName":"Q"`) || !strings.Contains(got, `"serviceUrl":"http://127.0.0.1:1"`) {
		t.Fatalf("PATCH: %s", got)
	}
	ts.must(404, "PATCH", "/apis/nope", props(map[string]any{"displayName": "Q"}))
}

func TestARMPrefixAndAPIVersion(t *testing.T) {
	ts := newTestServer(t)
	const pre = "/subscriptions/0000-1111/resourceGroups/rg1/providers/Microsoft.ApiManagement/service/apim1"
	r := ts.must(201, "PUT", pre+"/apis/echo?api-version=2022-08-01", props(map[string]any{"path": "echo"}))
	if id := r.json(t)["id"]; id != pre+"/apis/echo" {
		t.Fatalf("id %v", id)
	}
	// The same resource without the prefix, and the lower-case provider name.
	ts.must(200, "GET", "/apis/echo?api-version=2021-08-01", nil)
	ts.must(200, "GET", strings.ToLower(pre)+"/apis/echo", nil)
	list := ts.must(200, "GET", pre+"/apis?api-version=2022-08-01", nil)
	if !strings.Contains(string(list.body), `"id":"`+pre+`/apis/echo"`) {
		t.Fatalf("list: %s", list.body)
	}
	// An APIM subscription path is not mistaken for the ARM prefix.
	ts.must(201, "PUT", "/subscriptions/s1", props(map[string]any{"scope": "/apis"}))
	ts.must(201, "PUT", pre+"/subscriptions/s2", props(map[string]any{"scope": pre + "/apis/echo"}))
	if got := string(ts.must(200, "GET", "/subscriptions/s2", nil).body); !strings.Contains(got, `"scope":"/apis/echo"`) {
		t.Fatalf("full ARM scope not normalized: %s", got)
	}
}

// TestValidationErrors checks exact ARM error bodies, and that a refused
// write changes nothing (neither resources nor any snapshot version).
func TestValidationErrors(t *testing.T) {
	ts := newTestServer(t, withValidator(problemValidator{}))
	ts.seed()
	ts.must(201, "PUT", "/namedValues/nv1", props(map[string]any{"displayName": "env", "value": "prod"}))
	ts.must(201, "PUT", "/apis/echo/policies/policy", props(map[string]any{"value": "<policies><inbound>{{env}}</inbound></policies>"}))
	before := ts.dump()
	_, v0, _, _ := ts.store.Snapshot("gw1")
	cases := []struct {
		name, method, path string
		body               any
		status             int
		want               string
	}{
		{"undeclared param", "PUT", "/apis/echo/operations/o2", props(map[string]any{"method": "GET", "urlTemplate": "/a/{b}"}), 400,
			`{"error":{"code":"ValidationError","message":"One or more fields contain incorrect values: properties.templateParameters: All template parameters used in the UriTemplate must be defined in the Operation: {b} is not","details":[{"code":"ValidationError","target":"properties.templateParameters","message":"All template parameters used in the UriTemplate must be defined in the Operation: {b} is not"}]}}`},
		{"wildcard in the middle", "PUT", "/apis/echo/operations/o2", props(map[string]any{"method": "GET", "urlTemplate": "/a/{*rest}/b", "templateParameters": []map[string]any{{"name": "rest"}}}), 400,
			`{"error":{"code":"ValidationError","message":"One or more fields contain incorrect values: properties.urlTemplate: urltemplate: invalid URL template \"/a/{*rest}/b\": the wildcard segment must be the last one (APIM, like .NET's UriTemplate, allows it only at the end)","details":[{"code":"ValidationError","target":"properties.urlTemplate","message":"urltemplate: invalid URL template \"/a/{*rest}/b\": the wildcard segment must be the last one (APIM, like .NET's UriTemplate, allows it only at the end)"}]}}`},
		{"touching parameters", "PUT", "/apis/echo/operations/o2", props(map[string]any{"method": "GET", "urlTemplate": "/{a}{b}", "templateParameters": []map[string]any{{"name": "a"}, {"name": "b"}}}), 400,
			`{"error":{"code":"ValidationError","message":"One or more fields contain incorrect values: properties.urlTemplate: urltemplate: invalid URL template \"/{a}{b}\": parameters {a} and {b} touch at offset 4: nothing tells where one ends","details":[{"code":"ValidationError","target":"properties.urlTemplate","message":"urltemplate: invalid URL template \"/{a}{b}\": parameters {a} and {b} touch at offset 4: nothing tells where one ends"}]}}`},
		{"same shape as another operation", "PUT", "/apis/echo/operations/o2", props(map[string]any{"method": "GET", "urlTemplate": "/Items/{key}", "templateParameters": []map[string]any{{"name": "key"}}}), 409,
			`{"error":{"code":"Conflict","message":"Operation \"get\" of API \"echo\" already has method GET and URL template \"/Items/{key}\"."}}`},
		{"bad method", "PUT", "/apis/echo/operations/o2", props(map[string]any{"method": "FETCH", "urlTemplate": "/a"}), 400,
			`{"error":{"code":"ValidationError","message":"One or more fields contain incorrect values: properties.method: \"FETCH\" is not an HTTP method","details":[{"code":"ValidationError","target":"properties.method","message":"\"FETCH\" is not an HTTP method"}]}}`},
		{"policy does not compile", "PUT", "/apis/echo/operations/get/policies/policy", props(map[string]any{"value": "<policies><inbound><rate-limit calls=\"x\"/></inbound></policies>"}), 400,
			`{"error":{"code":"ValidationError","message":"The policy /apis/echo/operations/get/policies/policy does not compile: line 1, column 21: <rate-limit>: attribute calls: \"x\" is not a number","details":[{"code":"ValidationError","target":"rate-limit","message":"line 1, column 21: <rate-limit>: attribute calls: \"x\" is not a number"}]}}`},
		{"dangling named value", "PUT", "/policies/policy", props(map[string]any{"value": "<policies><inbound>{{nope}}</inbound></policies>"}), 400,
			`{"error":{"code":"ValidationError","message":"The policy /policies/policy references resources that do not exist: named value {{nope}} does not exist","details":[{"code":"ValidationError","target":"properties.value","message":"named value {{nope}} does not exist"}]}}`},
		{"dangling fragment", "PUT", "/policies/policy", props(map[string]any{"value": `<policies><inbound><include-fragment fragment-id="f9"/></inbound></policies>`}), 400,
			`{"error":{"code":"ValidationError","message":"The policy /policies/policy references resources that do not exist: <include-fragment>: policy fragment \"f9\" does not exist","details":[{"code":"ValidationError","target":"properties.value","message":"<include-fragment>: policy fragment \"f9\" does not exist"}]}}`},
		{"scope to nothing", "PUT", "/subscriptions/s2", props(map[string]any{"scope": "/products/zz"}), 400,
			`{"error":{"code":"ValidationError","message":"One or more fields contain incorrect values: properties.scope: product \"zz\" does not exist","details":[{"code":"ValidationError","target":"properties.scope","message":"product \"zz\" does not exist"}]}}`},
		{"duplicate path", "PUT", "/apis/echo2", props(map[string]any{"path": "/ECHO/"}), 409,
			`{"error":{"code":"Conflict","message":"The path \"ECHO\" is already used by API \"echo\"."}}`},
		{"duplicate key", "PUT", "/subscriptions/s2", props(map[string]any{"scope": "/apis", "primaryKey": "key-one-secondary"}), 409,
			`{"error":{"code":"Conflict","message":"The primary key is already used by another subscription."}}`},
		{"delete used named value", "DELETE", "/namedValues/nv1", nil, 409,
			`{"error":{"code":"Conflict","message":"Named value \"nv1\" cannot be deleted: {{env}} is used by /apis/echo/policies/policy."}}`},
		{"delete API with subscriptions", "DELETE", "/products/p1", nil, 409,
			`{"error":{"code":"Conflict","message":"Product \"p1\" cannot be deleted: subscriptions s1 are scoped to it; delete them first or pass deleteSubscriptions=true."}}`},
		{"parent missing", "PUT", "/apis/nope/operations/o", props(map[string]any{"method": "GET", "urlTemplate": "/"}), 404,
			`{"error":{"code":"ResourceNotFound","message":"API \"nope\" was not found."}}`},
		{"link to missing API", "PUT", "/gateways/gw1/apis/nope", nil, 404,
			`{"error":{"code":"ResourceNotFound","message":"API \"nope\" was not found."}}`},
		{"bad JSON type", "PUT", "/apis/echo", `{"properties":{"path":"echo","subscriptionRequired":"yes"}}`, 400,
			`{"error":{"code":"ValidationError","message":"One or more fields contain incorrect values: properties.subscriptionRequired: must be a JSON bool, not string","details":[{"code":"ValidationError","target":"properties.subscriptionRequired","message":"must be a JSON bool, not string"}]}}`},
		{"not JSON", "PUT", "/apis/echo", `{"properties":`, 400,
			`{"error":{"code":"ValidationError","message":"The request body is not valid JSON: unexpected end of JSON input (at byte 14)"}}`},
		{"inline import", "PUT", "/apis/echo", props(map[string]any{"path": "echo", "format": "openapi", "value": "x"}), 400, `"target":"properties.format"`},
		{"bad id", "PUT", "/apis/a%3Ab", props(map[string]any{"path": "ab"}), 400, `"target":"name"`},
		{"too far expiry", "POST", "/gateways/gw1/generateToken", map[string]any{"expiry": "2026-07-01T00:00:00Z"}, 400, `more than 30 days ahead`},
		{"unknown path", "GET", "/things", nil, 404, `"code":"ResourceNotFound"`},
		{"method", "POST", "/apis", nil, 405, `"code":"MethodNotAllowed"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := ts.do(c.method, c.path, c.body)
			got := strings.TrimSpace(string(r.body))
			if r.status != c.status || (strings.HasPrefix(c.want, `{"error"`) && got != c.want) || !strings.Contains(got, c.want) {
				t.Fatalf("status %d body\n%s\nwant %d\n%s", r.status, got, c.status, c.want)
			}
		})
	}
	if after := ts.dump(); after != before {
		t.Fatalf("refused writes changed state:\n%s\n---\n%s", before, after)
	}
	if _, v1, _, _ := ts.store.Snapshot("gw1"); v1 != v0 {
		t.Fatalf("snapshot version moved from %d to %d", v0, v1)
	}
}

// problemValidator refuses any attribute calls="x" the way package policy
// reports it, to check how problems become ARM errors.
type problemValidator struct{}

func (problemValidator) ValidatePolicy(doc PolicyDoc) []PolicyProblem {
	if i := strings.Index(doc.XML, `calls="x"`); i >= 0 {
		return []PolicyProblem{{Line: 1, Col: 21, Element: "rate-limit", Message: `attribute calls: "x" is not a number`}}
	}
	return WellFormedValidator{}.ValidatePolicy(doc)
}

// dump lists every collection's JSON, to compare states.
func (ts *testServer) dump() string {
	var b strings.Builder
	for _, p := range []string{"/apis", "/apis/echo/operations", "/products", "/products/p1/apis", "/subscriptions", "/namedValues",
		"/backends", "/policyFragments", "/gateways", "/gateways/gw1/apis", "/policies", "/apis/echo/policies"} {
		r := ts.do("GET", p, nil)
		fmt.Fprintf(&b, "%s %d %s\n", p, r.status, r.body)
	}
	return b.String()
}

func TestCascadeAndDeleteRules(t *testing.T) {
	ts := newTestServer(t)
	ts.seed()
	ts.must(201, "PUT", "/apis/echo/operations/get/policies/policy", props(map[string]any{"value": "<policies/>"}))
	// Deleting the product with deleteSubscriptions removes its subscription and links.
	ts.must(200, "DELETE", "/products/p1?deleteSubscriptions=true", nil)
	ts.must(404, "GET", "/subscriptions/s1", nil)
	// An API with a subscription scoped to it cannot go; without, it takes its children.
	ts.must(201, "PUT", "/subscriptions/s2", props(map[string]any{"scope": "/apis/echo"}))
	ts.must(409, "DELETE", "/apis/echo", nil)
	ts.must(200, "DELETE", "/subscriptions/s2", nil)
	ts.must(200, "DELETE", "/apis/echo", nil)
	ts.must(404, "GET", "/apis/echo/operations/get", nil)
	if r := ts.must(200, "GET", "/gateways/gw1/apis", nil); strings.Contains(string(r.body), "echo") {
		t.Fatalf("gateway still lists the deleted API: %s", r.body)
	}
	// Fragments, backends: refused while used.
	ts.must(201, "PUT", "/backends/b1", props(map[string]any{"url": "http://127.0.0.1:1"}))
	ts.must(201, "PUT", "/policyFragments/f1", props(map[string]any{"value": `<fragment><set-backend-service backend-id="b1"/></fragment>`}))
	ts.must(400, "PUT", "/policyFragments/f2", props(map[string]any{"value": `<fragment><include-fragment fragment-id="f2"/></fragment>`}))
	ts.must(201, "PUT", "/policies/policy", props(map[string]any{"value": `<policies><inbound><include-fragment fragment-id="f1"/></inbound></policies>`}))
	ts.must(409, "DELETE", "/backends/b1", nil)
	ts.must(409, "DELETE", "/policyFragments/f1", nil)
	ts.must(200, "DELETE", "/policies/policy", nil)
	ts.must(200, "DELETE", "/policyFragments/f1", nil)
	ts.must(200, "DELETE", "/backends/b1", nil)
}

func TestSecretsHidden(t *testing.T) {
	ts := newTestServer(t)
	ts.seed()
	ts.must(201, "PUT", "/namedValues/pw", props(map[string]any{"displayName": "pw", "value": "s3cr3t-value", "secret": true}))
	for _, p := range []string{"/namedValues/pw", "/namedValues", "/subscriptions/s1", "/subscriptions", "/gateways/gw1"} {
		b := string(ts.must(200, "GET", p, nil).body)
		for _, secret := range []string{"s3cr3t-value", "key-one-primary", "primaryKey", "secondaryKey"} {
			if strings.Contains(b, secret) {
				t.Fatalf("GET %s shows %q: %s", p, secret, b)
			}
		}
	}
	if v := ts.must(200, "POST", "/namedValues/pw/listValue", nil).json(t)["value"]; v != "s3cr3t-value" {
		t.Fatalf("listValue %v", v)
	}
	// GET-modify-PUT without the value keeps the secret.
	ts.must(200, "PUT", "/namedValues/pw", props(map[string]any{"displayName": "pw", "secret": true}))
	if v := ts.must(200, "POST", "/namedValues/pw/listValue", nil).json(t)["value"]; v != "s3cr3t-value" {
		t.Fatalf("secret lost on update: %v", v)
	}
	keys := ts.must(200, "POST", "/subscriptions/s1/listSecrets", nil).json(t)
	if keys["primaryKey"] != "key-one-primary" || keys["secondaryKey"] != "key-one-secondary" {
		t.Fatalf("listSecrets %v", keys)
	}
	ts.must(204, "POST", "/subscriptions/s1/regeneratePrimaryKey", nil)
	keys2 := ts.must(200, "POST", "/subscriptions/s1/listSecrets", nil).json(t)
	if keys2["primaryKey"] == keys["primaryKey"] || keys2["secondaryKey"] != keys["secondaryKey"] || len(keys2["primaryKey"].(string)) != 32 {
		t.Fatalf("regeneratePrimaryKey: %v", keys2)
	}
	// Generated keys on create: 32 hex characters from the CSPRNG, distinct.
	ts.must(201, "PUT", "/subscriptions/s3", props(map[string]any{"scope": "/apis"}))
	k3 := ts.must(200, "POST", "/subscriptions/s3/listSecrets", nil).json(t)
	if len(k3["primaryKey"].(string)) != 32 || k3["primaryKey"] == k3["secondaryKey"] {
		t.Fatalf("generated keys %v", k3)
	}
	// The snapshot holds digests only.
	snap, _, _, _ := ts.store.Snapshot("gw1")
	if strings.Contains(string(snap), keys2["primaryKey"].(string)) {
		t.Fatal("raw key in snapshot")
	}
	// No secret in any log line.
	logs := ts.logs.String()
	for _, secret := range []string{"s3cr3t-value", "key-one-primary", keys2["primaryKey"].(string), testAdminToken} {
		if strings.Contains(logs, secret) {
			t.Fatalf("log contains a secret %q", secret)
		}
	}
	if !strings.Contains(logs, "path=/namedValues/pw") {
		t.Fatalf("requests are not logged at all: %s", logs)
	}
}

func TestAdminAuth(t *testing.T) {
	ts := newTestServer(t)
	for _, auth := range []string{"", "Bearer wrong", "Basic " + testAdminToken, "Bearer " + testAdminToken + "x", testAdminToken} {
		r := ts.doAuth("GET", "/apis", nil, auth)
		if r.status != 401 || !strings.Contains(string(r.body), `"code":"Unauthorized"`) {
			t.Fatalf("auth %q: %d %s", auth, r.status, r.body)
		}
	}
	ts.must(200, "GET", "/apis", nil)
}

func TestBodyLimit(t *testing.T) {
	ts := newTestServer(t)
	big := `{"properties":{"path":"x","description":"` + strings.Repeat("a", 5<<20) + `"}}`
	r := ts.do("PUT", "/apis/x", big)
	if r.status != http.StatusRequestEntityTooLarge || !strings.Contains(string(r.body), "RequestEntityTooLarge") {
		t.Fatalf("%d %s", r.status, r.body)
	}
	ts.must(404, "GET", "/apis/x", nil)
}

// TestConcurrentWriters: many writers at once lose nothing, and If-Match
// lets exactly one of two read-modify-write cycles win.
func TestConcurrentWriters(t *testing.T) {
	ts := newTestServer(t)
	ts.must(201, "PUT", "/apis/echo", props(map[string]any{"path": "echo"}))
	var wg sync.WaitGroup
	const n = 40
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := ts.do("PUT", fmt.Sprintf("/apis/echo/operations/op%d", i), props(map[string]any{"method": "GET", "urlTemplate": fmt.Sprintf("/op%d", i)}))
			if r.status != 201 {
				t.Errorf("op%d: %d %s", i, r.status, r.body)
			}
		}()
	}
	wg.Wait()
	var l struct{ Value []any }
	json.Unmarshal(ts.must(200, "GET", "/apis/echo/operations", nil).body, &l)
	if len(l.Value) != n {
		t.Fatalf("%d operations stored, want %d", len(l.Value), n)
	}
	etag := ts.must(200, "GET", "/apis/echo", nil).header.Get("ETag")
	results := make(chan int, 2)
	for i := 0; i < 2; i++ {
		go func() {
			r := ts.do("PUT", "/apis/echo", props(map[string]any{"path": "echo", "displayName": fmt.Sprint("writer", i)}), "If-Match", etag)
			results <- r.status
		}()
	}
	a, b := <-results, <-results
	if !(a == 200 && b == 412 || a == 412 && b == 200) {
		t.Fatalf("If-Match statuses %d %d, want one 200 and one 412", a, b)
	}
	ts.must(200, "GET", "/apis/echo", nil)
	if r := ts.do("DELETE", "/apis/echo", nil, "If-Match", `"stale"`); r.status != 412 {
		t.Fatalf("delete with stale If-Match: %d", r.status)
	}
}

func TestRestartKeepsEverything(t *testing.T) {
	ts := newTestServer(t)
	ts.seed()
	ts.must(201, "PUT", "/namedValues/pw", props(map[string]any{"displayName": "pw", "value": "v", "secret": true}))
	ts.must(201, "PUT", "/apis/echo/policies/policy", props(map[string]any{"value": "<policies><inbound>{{pw}}</inbound></policies>"}))
	tok := ts.token("gw1", 24*60*60*1e9)
	before := ts.dump()
	snap1, v1, etag1, _ := ts.store.Snapshot("gw1")
	keys1 := ts.must(200, "POST", "/gateways/gw1/listKeys", nil).body
	ts.restart()
	if after := ts.dump(); after != before {
		t.Fatalf("state changed across restart:\n%s\n---\n%s", before, after)
	}
	snap2, v2, etag2, _ := ts.store.Snapshot("gw1")
	if v1 != v2 || etag1 != etag2 {
		t.Fatalf("snapshot version/etag %d %s became %d %s", v1, etag1, v2, etag2)
	}
	_ = snap1
	_ = snap2
	if keys2 := ts.must(200, "POST", "/gateways/gw1/listKeys", nil).body; string(keys2) != string(keys1) {
		t.Fatal("gateway keys changed across restart")
	}
	if r := ts.doAuth("GET", "/gateway/v1/config", nil, "GatewayKey "+tok); r.status != 200 {
		t.Fatalf("old token after restart: %d %s", r.status, r.body)
	}
	// A change after restart continues the version sequence.
	ts.must(200, "PUT", "/apis/echo", props(map[string]any{"path": "echo", "displayName": "changed"}))
	if _, v3, _, _ := ts.store.Snapshot("gw1"); v3 != v2+1 {
		t.Fatalf("version after restart change %d, want %d", v3, v2+1)
	}
}
