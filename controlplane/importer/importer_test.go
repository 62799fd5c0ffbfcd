package importer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestParseOpenAPIPetstoreRefs(t *testing.T) {
	data, err := os.ReadFile("testdata/petstore-refs.yaml")
	if err != nil {
		t.Fatal(err)
	}
	api, err := ParseOpenAPI("petstore-refs.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	if api.Title != "Petstore with refs" || api.ServiceURL != "https://pets.example.com:8443/v1" {
		t.Fatalf("title %q service URL %q", api.Title, api.ServiceURL)
	}
	type row struct{ id, method, tmpl, display, params string }
	var got []row
	for _, op := range api.Operations {
		var ps []string
		for _, p := range op.TemplateParameters {
			s := p.Name + ":" + p.Type
			if len(p.Values) > 0 {
				s += "=" + strings.Join(p.Values, "|")
			}
			ps = append(ps, s)
		}
		got = append(got, row{op.ID, op.Method, op.URLTemplate, op.DisplayName, strings.Join(ps, ",")})
	}
	want := []row{
		{"listPets", "GET", "/pets", "List all pets", ""},
		{"createPet", "POST", "/pets", "Create a pet", ""},
		{"showPetById", "GET", "/pets/{petId}", "showPetById", "petId:integer"},
		{"delete-pets-petId", "DELETE", "/pets/{petId}", "Delete a pet", "petId:integer"},
		{"getPhoto", "GET", "/pets/{petId}/photos/{photoId}", "getPhoto", "petId:integer,photoId:string=front|back"},
		{"list-pets-in-store", "GET", "/stores/{storeId}/pets", "list pets / in store?", "storeId:string"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("operations\n got %v\nwant %v", got, want)
	}
	joined := strings.Join(api.Warnings, "\n")
	for _, w := range []string{"servers[1]: https://pets-eu.example.com/v1 ignored", `servers[2]: "/relative" is not an absolute`} {
		if !strings.Contains(joined, w) {
			t.Errorf("warning %q missing from:\n%s", w, joined)
		}
	}
}

func TestParseOpenAPI31Duplicates(t *testing.T) {
	data, _ := os.ReadFile("testdata/museum-31.json")
	api, err := ParseOpenAPI("museum-31.json", data)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, op := range api.Operations {
		ids = append(ids, op.ID+" "+op.Method+" "+op.URLTemplate)
	}
	want := []string{"getEvent GET /events/{eventId}", "getEvent-2 PATCH /events/{eventId}", "buyTicket2 POST /tickets"}
	if !reflect.DeepEqual(ids, want) {
		t.Fatalf("got %v want %v", ids, want)
	}
	if api.ServiceURL != "" {
		t.Fatalf("service URL %q", api.ServiceURL)
	}
	if !strings.Contains(strings.Join(api.Warnings, "\n"), `paths./tickets#buy.post: skipped, same method and URL template as paths./tickets.post`) {
		t.Fatalf("warnings %v", api.Warnings)
	}
}

// TestParseOpenAPISameShape: paths that differ only in parameter names or
// case match the same requests; the second is skipped with a warning (the
// management API would refuse it with 409), and mixed templates import.
func TestParseOpenAPISameShape(t *testing.T) {
	doc := "openapi: 3.0.0\npaths:\n  /items/{id}: {get: {operationId: byId}}\n  /Items/{key}: {get: {operationId: byKey}, put: {operationId: putKey}}\n  /files/{name}.json: {get: {operationId: file}}\n"
	api, err := ParseOpenAPI("doc", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, op := range api.Operations {
		got = append(got, op.ID+" "+op.Method+" "+op.URLTemplate)
	}
	want := []string{"byKey GET /Items/{key}", "putKey PUT /Items/{key}", "file GET /files/{name}.json"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("operations %q, want %q", got, want)
	}
	if w := strings.Join(api.Warnings, "\n"); !strings.Contains(w, "paths./items/{id}.get: skipped, same method and URL template as paths./Items/{key}.get") {
		t.Fatalf("warnings: %s", w)
	}
}

// TestParseOpenAPIRequiredQuery: required query parameters become part of
// the URL template, as APIM's import makes them (API import restrictions:
// "Converts the query string parameters to template parameters"); optional
// ones do not; a name a path parameter already has is left out, with a
// warning.
func TestParseOpenAPIRequiredQuery(t *testing.T) {
	doc := `openapi: 3.0.0
paths:
  /items:
    get:
      operationId: list
      parameters:
        - {name: status, in: query, required: true, schema: {type: string, enum: [open, closed]}}
        - {name: page, in: query, schema: {type: integer}}
        - {name: limit, in: query, required: true, schema: {type: integer}}
  /items/{id}:
    get:
      operationId: one
      parameters:
        - {name: id, in: path, required: true, schema: {type: integer}}
        - {name: id, in: query, required: true}
`
	api, err := ParseOpenAPI("doc", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Operation{}
	for _, op := range api.Operations {
		got[op.ID] = op
	}
	list := got["list"]
	if list.URLTemplate != "/items?status={status}&limit={limit}" {
		t.Fatalf("list template %q", list.URLTemplate)
	}
	want := []TemplateParameter{{Name: "status", Type: "string", Required: true, Values: []string{"open", "closed"}}, {Name: "limit", Type: "integer", Required: true}}
	if !reflect.DeepEqual(list.TemplateParameters, want) {
		t.Fatalf("list parameters %+v, want %+v", list.TemplateParameters, want)
	}
	if one := got["one"]; one.URLTemplate != "/items/{id}" || len(one.TemplateParameters) != 1 || one.TemplateParameters[0].Type != "integer" {
		t.Fatalf("one: %+v", one)
	}
	if w := strings.Join(api.Warnings, "\n"); !strings.Contains(w, `paths./items/{id}.get: required query parameter "id" has the name of a path parameter`) {
		t.Fatalf("warnings: %s", w)
	}
}

func TestParseOpenAPIErrors(t *testing.T) {
	cases := []struct {
		name, doc string
		want      error
		msg       string
	}{
		{"swagger", "swagger: '2.0'\npaths: {}", ErrNotOpenAPI, "Swagger 2.0; convert"},
		{"version", "openapi: 2.9.0\npaths: {}", ErrNotOpenAPI, `openapi is "2.9.0"`},
		{"garbage", "{{{", ErrNotOpenAPI, ""},
		{"list", "- a\n- b", ErrNotOpenAPI, "not a mapping"},
		{"webhooks only", "openapi: 3.1.0\nwebhooks: {x: {}}", ErrNoOperations, "webhooks"},
		{"no ops", "openapi: 3.0.0\npaths: {/a: {summary: x}}", ErrNoOperations, "no operations"},
		{"external ref", "openapi: 3.0.0\npaths: {/a: {$ref: 'other.yaml#/x'}}", ErrRef, `"other.yaml#/x" is external`},
		{"dangling ref", "openapi: 3.0.0\npaths: {/a: {get: {parameters: [{$ref: '#/components/parameters/nope'}]}}}", ErrRef, "points nowhere"},
		{"ref cycle", "openapi: 3.0.0\npaths: {/a: {$ref: '#/paths/~1b'}, /b: {$ref: '#/paths/~1a'}}", ErrRef, "too long"},
		{"dup param", "openapi: 3.0.0\npaths: {'/a/{x}/{x}': {get: {}}}", ErrNotOpenAPI, "appears twice"},
		{"unroutable path", "openapi: 3.0.0\npaths: {'/a/{x}{y}': {get: {}}}", ErrNotOpenAPI, "paths./a/{x}{y}.get: urltemplate: invalid URL template"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseOpenAPI("doc", []byte(c.doc))
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("err = %v, want %v containing %q", err, c.want, c.msg)
			}
		})
	}
}

// countOps counts the operations the importer should make, independently of
// it: (method, path without fragment, required query parameter names) —
// APIM makes required query parameters part of the URL template, so they
// tell operations apart.
func countOps(t *testing.T, data []byte) int {
	var doc struct {
		Paths      map[string]map[string]any `yaml:"paths"`
		Components struct {
			Parameters map[string]map[string]any `yaml:"parameters"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	requiredQuery := func(lists ...any) string {
		var names []string
		for _, l := range lists {
			arr, _ := l.([]any)
			for _, x := range arr {
				m, _ := x.(map[string]any)
				if ref, ok := m["$ref"].(string); ok {
					m = doc.Components.Parameters[strings.TrimPrefix(ref, "#/components/parameters/")]
				}
				if m["in"] == "query" && m["required"] == true {
					names = append(names, fmt.Sprint(m["name"]))
				}
			}
		}
		sort.Strings(names)
		return strings.Join(names, "&")
	}
	seen := map[string]bool{}
	for p, item := range doc.Paths {
		if i := strings.IndexByte(p, '#'); i >= 0 {
			p = p[:i]
		}
		for m, op := range item {
			switch m {
			case "get", "put", "post", "delete", "options", "head", "patch", "trace":
				opMap, _ := op.(map[string]any)
				seen[strings.ToUpper(m)+" "+strings.ToLower(p)+"?"+requiredQuery(item["parameters"], opMap["parameters"])] = true
			}
		}
	}
	return len(seen)
}

// TestCorpus reads every document of ../shared/corpus/openapi in place.
func TestCorpus(t *testing.T) {
	dir := sharedDir(t, "corpus/openapi")
	files, _ := filepath.Glob(filepath.Join(dir, "*.*"))
	real, _ := filepath.Glob(filepath.Join(dir, "real", "*.*"))
	files = append(files, real...)
	n := 0
	for _, f := range files {
		if ext := filepath.Ext(f); ext != ".json" && ext != ".yaml" {
			continue
		}
		n++
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			api, err := ParseOpenAPI(f, data)
			if strings.HasPrefix(filepath.Base(f), "webhook-example") {
				if !errors.Is(err, ErrNoOperations) {
					t.Fatalf("webhook-only document: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := countOps(t, data); len(api.Operations) != want {
				t.Fatalf("%d operations, want %d", len(api.Operations), want)
			}
			ids := map[string]bool{}
			for _, op := range api.Operations {
				if ids[strings.ToLower(op.ID)] || op.ID == "" || strings.ContainsAny(op.ID, "/?#&%*:<>\\ ") {
					t.Fatalf("bad or duplicate id %q", op.ID)
				}
				ids[strings.ToLower(op.ID)] = true
			}
		})
	}
	if n < 10 {
		t.Fatalf("only %d corpus documents found in %s", n, dir)
	}
}

func corpusAPIOps(t *testing.T) string {
	return sharedDir(t, "corpus/apiops-sample")
}

func TestReadAPIOpsCorpus(t *testing.T) {
	plan, err := ReadAPIOps(corpusAPIOps(t))
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, s := range plan.Steps {
		paths = append(paths, s.Path)
	}
	index := func(p string) int {
		for i, x := range paths {
			if x == p {
				return i
			}
		}
		t.Fatalf("plan lacks %s:\n%s", p, strings.Join(paths, "\n"))
		return -1
	}
	// Referenced resources come first.
	order := [][2]string{
		{"/namedValues/environment-name", "/policyFragments/policyFragment1"},
		{"/policyFragments/policyFragment1", "/policies/policy"},
		{"/apis/basic-api", "/apis/basic-api/operations/get-items"},
		{"/apis/basic-api/operations/get-items", "/apis/basic-api/operations/get-items/policies/policy"},
		{"/products/product1", "/products/product1/apis/basic-api"},
		{"/products/product1", "/subscriptions/subscription1"},
		{"/apis/basic-api", "/subscriptions/subscription2"},
	}
	for _, o := range order {
		if index(o[0]) > index(o[1]) {
			t.Errorf("%s comes after %s", o[0], o[1])
		}
	}
	for _, p := range paths {
		for _, bad := range []string{"soap-api", "graphql-api", ";rev=", "diagnostics", "loggers", "tags"} {
			if strings.Contains(p, bad) {
				t.Errorf("plan imports %s", p)
			}
		}
	}
	w := strings.Join(plan.Warnings, "\n")
	for _, want := range []string{`"soap-api" of type soap not imported`, "non-current revision", "specification.wadl: not an OpenAPI specification", "tags/: not imported"} {
		if !strings.Contains(w, want) {
			t.Errorf("warning %q missing:\n%s", want, w)
		}
	}
}

// TestReadAPIOpsLayouts covers the older layout (products/x/apis.json),
// gateways, fragment include order, secret named values and errors.
func TestReadAPIOpsLayouts(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("apis/echo/apiInformation.json", `{"properties":{"path":"echo","displayName":"Echo","serviceUrl":"http://127.0.0.1:9"}}`)
	write("apis/echo/specification.json", `{"openapi":"3.0.1","paths":{"/a":{"get":{"operationId":"a"}}}}`)
	write("apis/echo/operations/ghost/policy.xml", `<policies/>`)
	write("products/p/productInformation.json", `{"properties":{"displayName":"P","state":"published"}}`)
	write("products/p/apis.json", `["echo", {"name":"missing"}]`)
	write("gateways/gw1/gatewayInformation.json", `{"properties":{"locationData":{"name":"edge"}}}`)
	write("gateways/gw1/apis.json", `[{"name":"echo"}]`)
	write("policy fragments/a/policy.xml", `<fragment><include-fragment fragment-id="b"/></fragment>`)
	write("policy fragments/b/policy.xml", `<fragment/>`)
	write("named values/pw/namedValueInformation.json", `{"properties":{"displayName":"pw","secret":true}}`)
	plan, err := ReadAPIOps(dir)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, s := range plan.Steps {
		paths = append(paths, s.Path)
	}
	want := []string{"/policyFragments/b", "/policyFragments/a", "/apis/echo", "/apis/echo/operations/a", "/products/p", "/products/p/apis/echo", "/gateways/gw1", "/gateways/gw1/apis/echo"}
	if !reflect.DeepEqual(paths, want) {
		t.Fatalf("plan\n got %v\nwant %v", paths, want)
	}
	w := strings.Join(plan.Warnings, "\n")
	for _, s := range []string{`named value "pw" has no value`, `operation "ghost" is not in the API's specification`, `link to API "missing" not imported`} {
		if !strings.Contains(w, s) {
			t.Errorf("warning %q missing:\n%s", s, w)
		}
	}
	write("policy fragments/b/policy.xml", `<fragment><include-fragment fragment-id="a"/></fragment>`)
	if _, err := ReadAPIOps(dir); !errors.Is(err, ErrAPIOps) || !strings.Contains(err.Error(), "a → b → a") {
		t.Fatalf("cycle: %v", err)
	}
	write("policy fragments/b/policy.xml", `<fragment/>`)
	write("products/p/productInformation.json", `{"properties":`)
	if _, err := ReadAPIOps(dir); !errors.Is(err, ErrAPIOps) || !strings.Contains(err.Error(), "productInformation.json") {
		t.Fatalf("bad JSON: %v", err)
	}
	if _, err := ReadAPIOps(filepath.Join(dir, "nope")); !errors.Is(err, ErrAPIOps) {
		t.Fatalf("missing dir: %v", err)
	}
}

func FuzzParseOpenAPI(f *testing.F) {
	for _, p := range []string{"testdata/petstore-refs.yaml", "testdata/museum-31.json"} {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Add([]byte("openapi: 3.0.0\npaths: {/a: {$ref: '#/paths/~1a'}}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		api, err := ParseOpenAPI("fuzz", b)
		if err == nil && len(api.Operations) == 0 {
			t.Fatal("success without operations")
		}
	})
}

// TestLargeGeneratedSpec: a 3.0 YAML document with 150 paths × 4 methods,
// shared $ref parameters and path items, and three servers.
func TestLargeGeneratedSpec(t *testing.T) {
	var b strings.Builder
	b.WriteString("openapi: 3.0.3\ninfo: {title: Large, version: '2'}\nservers:\n  - url: 'https://{region}.api.example.com/v2'\n    variables: {region: {default: eu}}\n  - url: https://backup.example.com/v2\n  - url: http://localhost:8080\npaths:\n")
	for i := 0; i < 150; i++ {
		fmt := func(s string) string { return strings.ReplaceAll(s, "N", strconv.Itoa(i)) }
		b.WriteString(fmt("  /resN/{id}/items/{itemId}:\n    parameters: [{$ref: '#/components/parameters/id'}]\n"))
		for _, m := range []string{"get", "put", "delete"} {
			b.WriteString(fmt("    " + m + ":\n      operationId: " + m + "ItemN\n      parameters: [{name: itemId, in: path, required: true, schema: {type: integer}}]\n      responses: {'200': {description: ok}}\n"))
		}
		b.WriteString(fmt("  /resN:\n    $ref: '#/components/pathItems/coll'\n"))
	}
	b.WriteString("components:\n  parameters:\n    id: {name: id, in: path, required: true, schema: {type: string, format: uuid}}\n  pathItems:\n    coll:\n      post:\n        summary: Create\n        responses: {'201': {description: created}}\n")
	api, err := ParseOpenAPI("large.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(api.Operations) != 600 || api.ServiceURL != "https://eu.api.example.com/v2" || len(api.Warnings) != 2 {
		t.Fatalf("%d operations, service URL %q, warnings %v", len(api.Operations), api.ServiceURL, api.Warnings)
	}
	ids := map[string]bool{}
	for _, op := range api.Operations {
		ids[op.ID] = true
		if strings.Contains(op.URLTemplate, "/items/") {
			if len(op.TemplateParameters) != 2 || op.TemplateParameters[0].Type != "string" || op.TemplateParameters[1].Type != "integer" {
				t.Fatalf("%s: template parameters %+v", op.ID, op.TemplateParameters)
			}
		}
	}
	if len(ids) != 600 || !ids["getItem149"] || !ids["post-res7"] || !ids["deleteItem0"] {
		t.Fatalf("ids: %d, e.g. getItem149 %v post-res7 %v deleteItem0 %v", len(ids), ids["getItem149"], ids["post-res7"], ids["deleteItem0"])
	}
}
