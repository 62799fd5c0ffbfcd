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

// TestGlobalSchemas: /schemas/{id} (ARM's service-level schemas, what
// validate-content's schema-id names) — schemaType json (document or value,
// compiled on write) and xml (value, stored); bad ones are 400s naming the
// field; a snapshot carries the schemas its policies name; a named schema
// cannot be deleted (409) until no policy names it.
func TestGlobalSchemas(t *testing.T) {
	ts := newTestServer(t)
	ts.seed()
	address := map[string]any{"type": "object", "required": []string{"city"}, "properties": map[string]any{"city": map[string]any{"type": "string"}}}
	r := ts.must(201, "PUT", "/schemas/address", props(map[string]any{"schemaType": "JSON", "description": "postal", "document": address}))
	if got := r.json(t); got["type"] != "Microsoft.ApiManagement/service/schemas" || got["properties"].(map[string]any)["schemaType"] != "json" {
		t.Fatalf("PUT answered %v", got)
	}
	ts.must(201, "PUT", "/schemas/text", props(map[string]any{"schemaType": "json", "value": `{"type":"string"}`}))
	ts.must(201, "PUT", "/schemas/order-xsd", props(map[string]any{"schemaType": "xml", "value": `<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"/>`}))
	if v, _ := ts.must(200, "GET", "/schemas", nil).json(t)["value"].([]any); len(v) != 3 {
		t.Fatalf("list %v", v)
	}
	for _, bad := range []struct {
		props       map[string]any
		field, text string
	}{
		{map[string]any{"schemaType": "yaml", "value": "a: 1"}, "properties.schemaType", "is not json or xml"},
		{map[string]any{"value": "{}"}, "properties.schemaType", "is required"},
		{map[string]any{"schemaType": "json"}, "properties.document", "is required"},
		{map[string]any{"schemaType": "json", "document": map[string]any{"type": "strng"}}, "properties.document", "at '/type'"},
		{map[string]any{"schemaType": "json", "value": "{nope"}, "properties.value", "is not JSON"},
		{map[string]any{"schemaType": "xml"}, "properties.value", "is required for schemaType xml"},
	} {
		r := ts.do("PUT", "/schemas/bad", props(bad.props))
		if r.status != 400 || !strings.Contains(string(r.body), bad.field) || !strings.Contains(string(r.body), bad.text) {
			t.Errorf("%v: %d %s, want 400 naming %s with %q", bad.props, r.status, r.body, bad.field, bad.text)
		}
		ts.must(404, "GET", "/schemas/bad", nil)
	}
	pol := `<policies><inbound><base/><validate-content unspecified-content-type-action="ignore" max-size="1024" size-exceeded-action="prevent">` +
		`<content type="application/json" validate-as="json" action="prevent" schema-id="address"/></validate-content></inbound>` +
		`<backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`
	ts.must(201, "PUT", "/apis/echo/policies/policy", props(map[string]any{"format": "rawxml", "value": pol}))
	snap := decodeSnap(t, ts.gwGet(ts.token("gw1", time.Hour), wire.PathConfig).body)
	if len(snap.Schemas) != 1 || snap.Schemas[0].ID != "address" || snap.Schemas[0].ContentType != "application/json" {
		t.Fatalf("snapshot schemas %+v", snap.Schemas)
	}
	var doc struct{ Value string }
	if json.Unmarshal(snap.Schemas[0].Document, &doc); !strings.Contains(doc.Value, `"city"`) {
		t.Fatalf("snapshot schema document %s", snap.Schemas[0].Document)
	}
	if r := ts.do("DELETE", "/schemas/address", nil); r.status != 409 || !strings.Contains(string(r.body), "/apis/echo/policies/policy") {
		t.Fatalf("delete of a named schema: %d %s", r.status, r.body)
	}
	ts.must(200, "DELETE", "/apis/echo/policies/policy", nil)
	ts.must(200, "DELETE", "/schemas/address", nil)
	ts.restart()
	ts.must(200, "GET", "/schemas/text", nil)
}
