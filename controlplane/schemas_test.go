package controlplane

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/apimgw/apimgw/wire"
)

// TestAPISchemas: apis/{api}/schemas/{id} — PUT, GET, LIST, DELETE with
// ETag/If-Match; bad content types and documents are 400s naming the field
// and store nothing; representations' schemaId/typeName and the schemas
// reach the gateway's snapshot; deleting the API deletes its schemas.
func TestAPISchemas(t *testing.T) {
	ts := newTestServer(t)
	ts.seed()
	components := map[string]any{"schemas": map[string]any{
		"Pet": map[string]any{"type": "object", "required": []string{"name"}, "properties": map[string]any{"name": map[string]any{"type": "string"}}}}}
	body := props(map[string]any{"contentType": "application/vnd.oai.openapi.components+json", "document": map[string]any{"components": components}})
	r := ts.must(201, "PUT", "/apis/echo/schemas/pets", body)
	etag := r.header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	got := r.json(t)
	if got["type"] != "Microsoft.ApiManagement/service/apis/schemas" || got["name"] != "pets" || !strings.HasSuffix(got["id"].(string), "/apis/echo/schemas/pets") {
		t.Fatalf("PUT answered %v", got)
	}
	ts.must(200, "PUT", "/apis/echo/schemas/pets", body)
	g := ts.must(200, "GET", "/apis/echo/schemas/pets", nil)
	if g.header.Get("ETag") != etag {
		t.Errorf("same content changed the ETag: %s → %s", etag, g.header.Get("ETag"))
	}
	if p := g.json(t)["properties"].(map[string]any); p["contentType"] != "application/vnd.oai.openapi.components+json" || p["document"].(map[string]any)["components"] == nil {
		t.Fatalf("GET properties %v", p)
	}
	list := ts.must(200, "GET", "/apis/echo/schemas", nil).json(t)
	if v, _ := list["value"].([]any); len(v) != 1 {
		t.Fatalf("list %v", list)
	}
	if r := ts.do("PUT", "/apis/echo/schemas/pets", body, "If-Match", `"stale"`); r.status != 412 {
		t.Fatalf("stale If-Match: %d %s", r.status, r.body)
	}
	ts.must(404, "PUT", "/apis/nope/schemas/pets", body)
	ts.must(404, "GET", "/apis/nope/schemas", nil)
	ts.must(404, "GET", "/apis/echo/schemas/other", nil)

	for _, bad := range []struct {
		props       map[string]any
		field, text string
	}{
		{map[string]any{"contentType": "application/x-yaml", "document": map[string]any{"value": "a: 1"}}, "properties.contentType", `application/x-yaml\" is not one of`},
		{map[string]any{"document": map[string]any{"value": "{}"}}, "properties.contentType", "is required"},
		{map[string]any{"contentType": "application/vnd.oai.openapi.components+json", "document": map[string]any{"components": map[string]any{"schemas": map[string]any{
			"Bad": map[string]any{"type": "strng"}}}}}, "properties.document.components.schemas.Bad", "at '/type'"},
		{map[string]any{"contentType": "application/vnd.ms-azure-apim.swagger.definitions+json", "document": map[string]any{"components": map[string]any{}}}, "properties.document", "document.definitions is required"},
		{map[string]any{"contentType": "application/vnd.ms-azure-apim.swagger.definitions+json", "document": map[string]any{"definitions": map[string]any{
			"Loop": map[string]any{"$ref": "#/definitions/Gone"}}}}, "properties.document.definitions.Loop", "Gone"},
		{map[string]any{"contentType": "application/json", "document": map[string]any{"value": "{not json"}}, "properties.document", "document.value is not JSON"},
	} {
		r := ts.do("PUT", "/apis/echo/schemas/bad", props(bad.props))
		if r.status != 400 || !strings.Contains(string(r.body), bad.field) || !strings.Contains(string(r.body), bad.text) {
			t.Errorf("%v: %d %s, want 400 naming %s with %q", bad.props, r.status, r.body, bad.field, bad.text)
		}
		ts.must(404, "GET", "/apis/echo/schemas/bad", nil)
	}
	// A bad replacement leaves the stored schema as it was.
	if r := ts.do("PUT", "/apis/echo/schemas/pets", props(map[string]any{"contentType": "application/json", "document": map[string]any{"value": "["}})); r.status != 400 {
		t.Fatalf("bad replacement: %d", r.status)
	}
	if ts.must(200, "GET", "/apis/echo/schemas/pets", nil).header.Get("ETag") != etag {
		t.Fatal("a refused PUT changed the stored schema")
	}

	ts.must(201, "PUT", "/apis/echo/operations/create", props(map[string]any{"method": "POST", "urlTemplate": "/pets",
		"request":   map[string]any{"representations": []any{map[string]any{"contentType": "application/json", "schemaId": "pets", "typeName": "Pet"}}},
		"responses": []any{map[string]any{"statusCode": 201, "representations": []any{map[string]any{"contentType": "application/json", "schemaId": "pets", "typeName": "Pet"}}}}}))
	snap := decodeSnap(t, ts.gwGet(ts.token("gw1", time.Hour), wire.PathConfig).body)
	a := snap.APIs[0]
	if len(a.Schemas) != 1 || a.Schemas[0].ID != "pets" || a.Schemas[0].ContentType != "application/vnd.oai.openapi.components+json" {
		t.Fatalf("snapshot schemas %+v", a.Schemas)
	}
	var doc map[string]any
	if err := json.Unmarshal(a.Schemas[0].Document, &doc); err != nil || doc["components"] == nil {
		t.Fatalf("snapshot schema document %s (%v)", a.Schemas[0].Document, err)
	}
	for _, o := range a.Operations {
		if o.ID != "create" {
			continue
		}
		if o.Request == nil || len(o.Request.Representations) != 1 || o.Request.Representations[0].SchemaID != "pets" || o.Request.Representations[0].TypeName != "Pet" {
			t.Errorf("request representations %+v", o.Request)
		}
		if rep := o.Responses[0].Representations[0]; rep.SchemaID != "pets" || rep.TypeName != "Pet" {
			t.Errorf("response representation %+v", rep)
		}
	}

	ts.restart()
	ts.must(200, "GET", "/apis/echo/schemas/pets", nil)
	if r := ts.do("DELETE", "/apis/echo/schemas/pets", nil, "If-Match", `"stale"`); r.status != 412 {
		t.Fatalf("delete with stale If-Match: %d", r.status)
	}
	ts.must(200, "DELETE", "/apis/echo/schemas/pets", nil)
	ts.must(204, "DELETE", "/apis/echo/schemas/pets", nil)
	ts.must(201, "PUT", "/apis/echo/schemas/pets", body)
	ts.must(200, "DELETE", "/apis/echo", nil)
	ts.must(201, "PUT", "/apis/echo", props(map[string]any{"path": "echo"}))
	ts.must(404, "GET", "/apis/echo/schemas/pets", nil)
}
