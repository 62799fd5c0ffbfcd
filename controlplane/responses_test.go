package controlplane

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apimgw/apimgw/controlplane/importer"
	"github.com/apimgw/apimgw/internal/testenv"
	"github.com/apimgw/apimgw/wire"
)

// TestOperationResponses: ARM's properties.responses are validated, stored,
// read back and carried to the gateway with the example mock-response sends
// — for an operation the OpenAPI importer built from the corpus document
// api-with-examples.json, and for hand-written ARM bodies.
func TestOperationResponses(t *testing.T) {
	ts := newTestServer(t)
	ts.seed()
	spec, err := os.ReadFile(filepath.Join(testenv.SharedDir(t, "corpus/openapi"), "api-with-examples.json"))
	if err != nil {
		t.Fatal(err)
	}
	api, err := importer.ParseOpenAPI("api-with-examples.json", spec)
	if err != nil {
		t.Fatal(err)
	}
	var imported importer.Operation
	for _, op := range api.Operations {
		if op.Method == "GET" && op.URLTemplate == "/" {
			imported = op
		}
	}
	if len(imported.Responses) != 2 {
		t.Fatalf("GET / imported with responses %+v, want 200 and 300", imported.Responses)
	}
	imported.URLTemplate = "/versions"
	ts.must(201, "PUT", "/apis/echo/operations/versions", importer.OperationBody(imported))
	ts.must(201, "PUT", "/apis/echo/operations/xml", props(map[string]any{"method": "GET", "urlTemplate": "/xml",
		"request": map[string]any{"queryParameters": []any{map[string]any{"name": "sort", "type": "string", "values": []string{"asc"}}},
			"headers": []any{map[string]any{"name": "X-Tenant", "required": true}}}, "responses": []any{
			map[string]any{"statusCode": 200, "representations": []any{
				map[string]any{"contentType": "application/json", "examples": map[string]any{"b": map[string]any{"value": map[string]any{"z": 1, "a": 2}}, "a": map[string]any{"value": []int{1}}}},
				map[string]any{"contentType": "application/xml", "examples": map[string]any{"default": map[string]any{"value": "<ok/>"}, "a": map[string]any{"value": "<no/>"}}},
				map[string]any{"contentType": "text/plain", "sample": "old style"},
				map[string]any{"contentType": "application/octet-stream", "schemaId": "s1", "typeName": "Blob"},
			}},
			map[string]any{"statusCode": 204, "description": "no content", "headers": []any{map[string]any{"name": "X-Rate", "type": "integer", "required": true}}},
		}}))
	// Read back as written.
	got := ts.must(200, "GET", "/apis/echo/operations/xml", nil).json(t)
	if rs, _ := got["properties"].(map[string]any)["responses"].([]any); len(rs) != 2 {
		t.Fatalf("GET returned responses %v", got["properties"])
	}

	snap := decodeSnap(t, ts.gwGet(ts.token("gw1", time.Hour), wire.PathConfig).body)
	ops := map[string]wire.Operation{}
	for _, o := range snap.APIs[0].Operations {
		ops[o.ID] = o
	}
	v := ops["versions"]
	if len(v.Responses) != 2 || v.Responses[0].StatusCode != 200 || v.Responses[1].StatusCode != 300 {
		t.Fatalf("versions responses %+v", v.Responses)
	}
	r200 := v.Responses[0].Representations[0]
	if r200.ContentType != "application/json" || r200.ExampleName != "foo" || !strings.HasPrefix(r200.Example, `{"versions":[{"id":"v2.0"`) || !json.Valid([]byte(r200.Example)) {
		t.Errorf("200 example %+v", r200)
	}
	// A string example is sent as its text.
	if r300 := v.Responses[1].Representations[0]; !strings.HasPrefix(r300.Example, "{\n \"versions\"") {
		t.Errorf("300 example %q", r300.Example)
	}
	want := []wire.Representation{
		{ContentType: "application/json", ExampleName: "a", Example: `[1]`},
		{ContentType: "application/xml", ExampleName: "default", Example: `<ok/>`},
		{ContentType: "text/plain", ExampleName: "sample", Example: `old style`},
		{ContentType: "application/octet-stream", SchemaID: "s1", TypeName: "Blob"},
	}
	x := ops["xml"]
	if len(x.Responses) != 2 || len(x.Responses[0].Representations) != len(want) || x.Responses[1].StatusCode != 204 {
		t.Fatalf("xml responses %+v", x.Responses)
	}
	if r := x.Request; r == nil || len(r.QueryParameters) != 1 || r.QueryParameters[0].Values[0] != "asc" || len(r.Headers) != 1 || !r.Headers[0].Required {
		t.Errorf("request %+v", x.Request)
	}
	if h := x.Responses[1].Headers; len(h) != 1 || h[0].Name != "X-Rate" || h[0].Type != "integer" || !h[0].Required {
		t.Errorf("204 headers %+v", h)
	}
	for i, w := range want {
		if g := x.Responses[0].Representations[i]; g != w {
			t.Errorf("representation %d: %+v, want %+v", i, g, w)
		}
	}

	// Bad input: 400 naming the field, and nothing stored changes.
	bad := []struct {
		responses any
		target    string
	}{
		{[]any{map[string]any{"statusCode": 99}}, "properties.responses[0].statusCode"},
		{[]any{map[string]any{"statusCode": 200}, map[string]any{"statusCode": 200}}, "properties.responses[1].statusCode"},
		{[]any{map[string]any{"statusCode": 200, "representations": []any{map[string]any{}}}}, "properties.responses[0].representations[0].contentType"},
		{[]any{map[string]any{"statusCode": 200, "representations": []any{map[string]any{"contentType": "a/b"}, map[string]any{"contentType": "A/B"}}}}, "properties.responses[0].representations[1].contentType"},
		{[]any{map[string]any{"statusCode": 200, "representations": []any{map[string]any{"contentType": "a/b", "examples": map[string]any{"e": map[string]any{"externalValue": "https://example.com/e.json"}}}}}},
			"properties.responses[0].representations[0].examples.e.externalValue"},
		{[]any{map[string]any{"statusCode": 200, "headers": []any{map[string]any{"name": "A"}, map[string]any{"name": "a"}}}}, "properties.responses[0].headers[1].name"},
		{[]any{map[string]any{"statusCode": 200, "headers": []any{map[string]any{"type": "string"}}}}, "properties.responses[0].headers[0].name"},
		{nil, "properties.request.headers[1].name"},
		{"not a list", ""},
	}
	for _, b := range bad {
		body := map[string]any{"method": "GET", "urlTemplate": "/xml", "responses": b.responses}
		if b.target == "properties.request.headers[1].name" {
			body = map[string]any{"method": "GET", "urlTemplate": "/xml", "request": map[string]any{"headers": []any{map[string]any{"name": "X-A"}, map[string]any{"name": "x-a"}}}}
		}
		r := ts.do("PUT", "/apis/echo/operations/xml", props(body))
		if r.status != 400 || !strings.Contains(string(r.body), b.target) {
			t.Errorf("responses %v: %d %s, want 400 naming %q", b.responses, r.status, r.body, b.target)
		}
	}
	again := ts.must(200, "GET", "/apis/echo/operations/xml", nil).json(t)
	if a, _ := json.Marshal(again["properties"]); !strings.Contains(string(a), `"sample":"old style"`) {
		t.Errorf("a refused write changed the operation: %s", a)
	}
}
