package appliance

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/apimgw/apimgw/controlplane/importer"
	"github.com/apimgw/apimgw/policy"
	"github.com/apimgw/apimgw/wire"
)

// corpusDir is ../shared/corpus/<sub> beside the repository (see sharedDir).
func corpusDir(t *testing.T, sub string) string {
	return sharedDir(t, "corpus/"+sub)
}

var (
	reWildParam = regexp.MustCompile(`\{\*[^{}]+\}`)
	reParam     = regexp.MustCompile(`\{([^{}]+)\}`)
)

// sampleRequest makes a request path and query that the template matches,
// with a distinct value per parameter.
func sampleRequest(tmpl string) (path, query string) {
	path, query, _ = strings.Cut(tmpl, "?")
	path = reWildParam.ReplaceAllString(path, "deep/rest")
	if strings.HasSuffix(path, "/*") {
		path = strings.TrimSuffix(path, "*") + "any/thing"
	}
	path = reParam.ReplaceAllStringFunc(path, func(m string) string { return "v-" + strings.Trim(m, "{}") + "-1" })
	query = reParam.ReplaceAllString(query, "q1")
	return path, query
}

// routeEveryOperation compiles the APIs into one snapshot and sends a sample
// request for every operation through the compiled router: it must reach that
// very operation, with every template parameter matched.
func routeEveryOperation(t *testing.T, apis []wire.API) int {
	t.Helper()
	snap := &wire.Snapshot{ProtocolVersion: wire.ProtocolVersion, Version: 1, APIs: apis}
	if err := snap.Seal(); err != nil {
		t.Fatal(err)
	}
	c, err := Compile(snap, policy.NewState(nil))
	if err != nil {
		t.Fatalf("the imported corpus does not compile: %v", err)
	}
	st := &reqState{}
	n := 0
	for _, a := range apis {
		for _, o := range a.Operations {
			rel, query := sampleRequest(o.URLTemplate)
			full := "/" + strings.Trim(a.Path, "/") + rel
			api, r := c.route(full)
			if api == nil || api.id != a.ID {
				t.Errorf("%s %s (API %s, template %s): routed to API %v", o.Method, full, a.ID, o.URLTemplate, api)
				continue
			}
			var p policy.Params
			op := api.match(o.Method, r, query, &st.match, &p)
			if op == nil || op.op.ID != o.ID {
				got := "nothing"
				if op != nil {
					got = op.op.ID + " (" + op.op.URLTemplate + ")"
				}
				t.Errorf("%s %s?%s: matched %s, want %s (%s)", o.Method, full, query, got, o.ID, o.URLTemplate)
				continue
			}
			if len(p.List) != len(o.TemplateParameters) {
				t.Errorf("%s %s: %d parameters matched, template %s declares %d", o.Method, full, len(p.List), o.URLTemplate, len(o.TemplateParameters))
			}
			n++
		}
	}
	return n
}

func wireOp(id, method, tmpl string, tps []importer.TemplateParameter) wire.Operation {
	o := wire.Operation{ID: id, Method: method, URLTemplate: tmpl}
	for _, tp := range tps {
		o.TemplateParameters = append(o.TemplateParameters, wire.TemplateParameter{Name: tp.Name, Type: tp.Type, Required: tp.Required})
	}
	return o
}

// TestCorpusOpenAPIRoutes imports every OpenAPI document of
// ../shared/corpus/openapi (the OpenAPI examples, and the real Box, Twilio
// and museum specifications) with the real importer, and routes a request
// for each of their operations through the gateway's compiled router.
func TestCorpusOpenAPIRoutes(t *testing.T) {
	dir := corpusDir(t, "openapi")
	files, _ := filepath.Glob(filepath.Join(dir, "*.*"))
	real, _ := filepath.Glob(filepath.Join(dir, "real", "*.*"))
	var apis []wire.API
	for _, f := range append(files, real...) {
		if ext := filepath.Ext(f); ext != ".json" && ext != ".yaml" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := importer.ParseOpenAPI(f, data)
		if strings.HasPrefix(filepath.Base(f), "webhook-example") {
			continue // webhooks only: no operations (the importer's own test checks the error)
		}
		if err != nil {
			t.Fatalf("import %s: %v", f, err)
		}
		a := wire.API{ID: fmt.Sprintf("api%d", len(apis)), Path: fmt.Sprintf("corpus/%d", len(apis)), ServiceURL: "http://127.0.0.1:1"}
		for _, op := range doc.Operations {
			a.Operations = append(a.Operations, wireOp(op.ID, op.Method, op.URLTemplate, op.TemplateParameters))
		}
		apis = append(apis, a)
	}
	n := routeEveryOperation(t, apis)
	// Box alone has a few hundred operations; a corpus that shrank would
	// make this test prove little.
	if len(apis) < 10 || n < 300 {
		t.Fatalf("only %d documents and %d operations routed from %s", len(apis), n, dir)
	}
	t.Logf("%d operations of %d documents routed", n, len(apis))
}

// TestCorpusAPIOpsRoutes imports ../shared/corpus/apiops-sample (an APIOps
// extractor layout) with the real importer and routes a request for each
// operation it creates.
func TestCorpusAPIOpsRoutes(t *testing.T) {
	plan, err := importer.ReadAPIOps(corpusDir(t, "apiops-sample"))
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*wire.API{}
	var order []string
	for _, s := range plan.Steps {
		parts := strings.Split(strings.Trim(s.Path, "/"), "/")
		if len(parts) < 2 || parts[0] != "apis" {
			continue
		}
		body, _ := json.Marshal(s.Body)
		var env struct {
			Properties struct {
				Path               string                       `json:"path"`
				Method             string                       `json:"method"`
				URLTemplate        string                       `json:"urlTemplate"`
				TemplateParameters []importer.TemplateParameter `json:"templateParameters"`
			} `json:"properties"`
		}
		json.Unmarshal(body, &env)
		switch {
		case len(parts) == 2:
			byID[parts[1]] = &wire.API{ID: parts[1], Path: env.Properties.Path, ServiceURL: "http://127.0.0.1:1"}
			order = append(order, parts[1])
		case len(parts) == 4 && parts[2] == "operations":
			a := byID[parts[1]]
			if a == nil {
				t.Fatalf("%s comes before its API", s.Path)
			}
			p := env.Properties
			a.Operations = append(a.Operations, wireOp(parts[3], p.Method, p.URLTemplate, p.TemplateParameters))
		}
	}
	var apis []wire.API
	for _, id := range order {
		apis = append(apis, *byID[id])
	}
	n := routeEveryOperation(t, apis)
	if n < 2 {
		t.Fatalf("only %d operations routed from the APIOps sample", n)
	}
	t.Logf("%d operations of %d APIs routed", n, len(apis))
}
