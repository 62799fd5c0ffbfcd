package importer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/apimgw/apimgw/policy"
)

// TestParseOpenAPISchemas: the corpus document petstore-expanded.json brings
// its components.schemas as the API's schema, the inline array schema of
// GET /pets under a generated name, and every representation with a schema
// names it by schemaId/typeName; the schema compiles as the control plane
// checks it.
func TestParseOpenAPISchemas(t *testing.T) {
	spec, err := os.ReadFile(filepath.Join(sharedDir(t, "corpus/openapi"), "petstore-expanded.json"))
	if err != nil {
		t.Fatal(err)
	}
	api, err := ParseOpenAPI("petstore-expanded.json", spec)
	if err != nil {
		t.Fatal(err)
	}
	if api.Schema == nil || api.Schema.ID != SchemaID || api.Schema.ContentType != SchemaContentType {
		t.Fatalf("schema %+v", api.Schema)
	}
	schemas := api.Schema.Components["schemas"].(map[string]any)
	for _, n := range []string{"Pet", "NewPet", "Error", "findPetsResponse200"} {
		if schemas[n] == nil {
			t.Errorf("schema %s missing from %v", n, schemas)
		}
	}
	ops := map[string]Operation{}
	for _, o := range api.Operations {
		ops[o.ID] = o
	}
	add := ops["addPet"]
	if add.Request == nil || len(add.Request.Representations) != 1 || add.Request.Representations[0].ContentType != "application/json" ||
		add.Request.Representations[0].SchemaID != SchemaID || add.Request.Representations[0].TypeName != "NewPet" {
		t.Errorf("addPet request %+v", add.Request)
	}
	if rep := add.Responses[0].Representations[0]; rep.SchemaID != SchemaID || rep.TypeName != "Pet" {
		t.Errorf("addPet 200 representation %+v", rep)
	}
	if rep := ops["findPets"].Responses[0].Representations[0]; rep.TypeName != "findPetsResponse200" {
		t.Errorf("findPets 200 representation %+v", rep)
	}
	body, _ := json.Marshal(SchemaBody(api.Schema).(props)["properties"].(props)["document"])
	if err := policy.CheckAPISchema(SchemaContentType, body); err != nil {
		t.Fatalf("the imported schema does not compile: %v", err)
	}
	for _, name := range []string{"petstore.json", "uspto.json", "api-with-examples.json", "link-example.json", "callback-example.json"} {
		spec, err := os.ReadFile(filepath.Join(sharedDir(t, "corpus/openapi"), name))
		if err != nil {
			t.Fatal(err)
		}
		api, err := ParseOpenAPI(name, spec)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if api.Schema == nil {
			continue
		}
		body, _ := json.Marshal(SchemaBody(api.Schema).(props)["properties"].(props)["document"])
		if err := policy.CheckAPISchema(SchemaContentType, body); err != nil {
			t.Errorf("%s: the imported schema does not compile: %v", name, err)
		}
	}
}
