package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSchemaResources: apimctl writes an API schema from a whole OpenAPI
// document (its components are taken) and a service-level schema from a
// JSON Schema file, lists and shows them; a bad document is refused with the
// server's message naming the field (exit 4).
func TestSchemaResources(t *testing.T) {
	startServer(t)
	dir := t.TempDir()
	spec := filepath.Join(dir, "pets.json")
	os.WriteFile(spec, []byte(`{"openapi":"3.0.3","components":{"schemas":{"Pet":{"type":"object","required":["name"]}}}}`), 0o644)
	mustCtl(t, "api", "create", "pets", "--path", "pets")
	mustCtl(t, "schema", "create", "pets", "--api", "pets", "--content-type", "application/vnd.oai.openapi.components+json", "--components", spec)
	if out := mustCtl(t, "schema", "list", "--api", "pets"); !strings.Contains(out, "application/vnd.oai.openapi.components+json") {
		t.Errorf("schema list:\n%s", out)
	}
	if out := mustCtl(t, "schema", "get", "pets", "--api", "pets", "-o", "json"); !strings.Contains(out, `"Pet"`) || strings.Contains(out, `"openapi"`) {
		t.Errorf("schema get:\n%s", out)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"schemas":{"Pet":{"type":"thing"}}}`), 0o644)
	if code, out := ctl(t, "schema", "create", "bad", "--api", "pets", "--content-type", "application/vnd.oai.openapi.components+json", "--components", bad); code != exitRejected {
		t.Errorf("bad schema: exit %d, output %s", code, out)
	}
	addr := filepath.Join(dir, "address.json")
	os.WriteFile(addr, []byte(`{"type":"object","required":["city"]}`), 0o644)
	mustCtl(t, "globalschema", "create", "address", "--schema-type", "json", "--document", addr)
	if out := mustCtl(t, "globalschema", "list"); !strings.Contains(out, "address") || !strings.Contains(out, "json") {
		t.Errorf("globalschema list:\n%s", out)
	}
	mustCtl(t, "globalschema", "delete", "address")
	mustCtl(t, "schema", "delete", "pets", "--api", "pets")
}
