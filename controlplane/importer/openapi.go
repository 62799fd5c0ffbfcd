package importer

import (
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/apimgw/apimgw/wire/urltemplate"
)

// API is what an OpenAPI document says about an API.
type API struct {
	Title       string
	Description string
	// ServiceURL is the first server's URL with variables at their defaults
	// ("" when the document has none, or only relative ones).
	ServiceURL string
	Operations []Operation
	// Schema holds the document's components.schemas and the inline schemas
	// of its bodies (under generated names), for the API's schemas resource
	// (schemas.go); nil when the document has none.
	Schema *Schema
	// Warnings are things the import skipped or guessed; show them to the user.
	Warnings []string
}

// Operation is one method + path of the document.
type Operation struct {
	ID                 string
	DisplayName        string
	Description        string
	Method             string
	URLTemplate        string
	TemplateParameters []TemplateParameter
	// Responses are the documented responses with their examples
	// (responses.go), for mock-response.
	Responses []Response
	// Request holds the query parameters outside the URL template and the
	// header parameters (nil when there are none), for validate-parameters.
	Request *Request
}

// TemplateParameter is a path parameter of an operation.
type TemplateParameter struct {
	Name        string   `json:"name"`
	Type        string   `json:"type"`
	Required    bool     `json:"required"`
	Description string   `json:"description,omitempty"`
	Values      []string `json:"values,omitempty"`
}

var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// ParseOpenAPI reads an OpenAPI 3.0 or 3.1 document, JSON or YAML. name is
// used in messages. Local $refs (#/…) are followed for path items and
// parameters; external ones are an error naming them.
func ParseOpenAPI(name string, data []byte) (*API, error) {
	var root any
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrNotOpenAPI, name, err)
	}
	doc, ok := normalize(root).(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: %s: the document is not a mapping", ErrNotOpenAPI, name)
	}
	if v, ok := doc["swagger"]; ok {
		return nil, fmt.Errorf("%w: %s: Swagger %v; convert it to OpenAPI 3 first", ErrNotOpenAPI, name, v)
	}
	ver, _ := doc["openapi"].(string)
	if !strings.HasPrefix(ver, "3.0") && !strings.HasPrefix(ver, "3.1") {
		return nil, fmt.Errorf("%w: %s: openapi is %q, want 3.0.x or 3.1.x", ErrNotOpenAPI, name, ver)
	}
	p := &parser{name: name, doc: doc}
	p.initSchemas()
	api := &API{}
	if info, ok := doc["info"].(map[string]any); ok {
		api.Title = str(info["title"])
		api.Description = str(info["description"])
	}
	api.ServiceURL = p.serverURL(doc["servers"], "servers", api)
	paths, _ := doc["paths"].(map[string]any)
	if len(paths) == 0 {
		what := "no paths"
		if _, ok := doc["webhooks"]; ok {
			what = "no paths (webhooks describe calls the API makes, and are not imported)"
		}
		return nil, fmt.Errorf("%w: %s: %s", ErrNoOperations, name, what)
	}
	keys := make([]string, 0, len(paths))
	for k := range paths {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	ids := map[string]bool{}
	seen := map[string]string{}
	for _, path := range keys {
		item, err := p.deref(paths[path], "paths."+path)
		if err != nil {
			return nil, err
		}
		itemMap, ok := item.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: %s: paths.%s is not a mapping", ErrNotOpenAPI, name, path)
		}
		if api.ServiceURL == "" {
			if u := p.serverURL(itemMap["servers"], "paths."+path+".servers", api); u != "" {
				api.ServiceURL = u
				api.Warnings = append(api.Warnings, fmt.Sprintf("no top-level servers: service URL %s taken from paths.%s.servers", u, path))
			}
		}
		tmpl := path
		if i := strings.IndexByte(tmpl, '#'); i >= 0 {
			api.Warnings = append(api.Warnings, fmt.Sprintf("paths.%s: fragment %q dropped from the URL template", path, tmpl[i:]))
			tmpl = tmpl[:i]
		}
		if !strings.HasPrefix(tmpl, "/") {
			tmpl = "/" + tmpl
		}
		for _, m := range methods {
			raw, ok := itemMap[m]
			if !ok {
				continue
			}
			opMap, ok := raw.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%w: %s: paths.%s.%s is not a mapping", ErrNotOpenAPI, name, path, m)
			}
			where := "paths." + path + "." + m
			method := strings.ToUpper(m)
			params, err := p.params(itemMap["parameters"], opMap["parameters"], where)
			if err != nil {
				return nil, err
			}
			full := withRequiredQuery(tmpl, params, where, api)
			// Same-shape templates (they differ only in parameter names or
			// case) match the same requests; the management API refuses the
			// second.
			shape := strings.ToLower(full)
			if t, err := urltemplate.Parse(full); err == nil {
				shape = t.Shape()
			}
			if other, dup := seen[method+" "+shape]; dup {
				api.Warnings = append(api.Warnings, fmt.Sprintf("%s: skipped, same method and URL template as %s", where, other))
				continue
			}
			seen[method+" "+shape] = where
			op := Operation{Method: method, URLTemplate: full, Description: str(opMap["description"])}
			op.DisplayName = str(opMap["summary"])
			opID := str(opMap["operationId"])
			if op.DisplayName == "" {
				op.DisplayName = opID
			}
			if op.DisplayName == "" {
				op.DisplayName = method + " " + full
			}
			if len(op.DisplayName) > 300 {
				op.DisplayName = op.DisplayName[:300]
			}
			base := sanitizeID(opID)
			if base == "" {
				base = sanitizeID(strings.ToLower(method) + "-" + full)
			}
			op.ID = unique(base, ids)
			p.opID = op.ID
			op.TemplateParameters, err = templateParams(full, params, where)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %v", ErrNotOpenAPI, name, err)
			}
			if op.Responses, err = p.responses(opMap["responses"], where, api); err != nil {
				return nil, err
			}
			op.Request = requestParams(op.TemplateParameters, params, where, api)
			if op.Request, err = p.requestBody(opMap["requestBody"], where, op.Request); err != nil {
				return nil, err
			}
			api.Operations = append(api.Operations, op)
		}
	}
	if len(api.Operations) == 0 {
		return nil, fmt.Errorf("%w: %s: the paths hold no operations", ErrNoOperations, name)
	}
	api.Schema = p.schema()
	return api, nil
}

type parser struct {
	name string
	doc  map[string]any
	// schemas is components.schemas plus generated inline ones (schemas.go).
	schemas map[string]any
	opID    string // the operation being read (generated schema names)
}

// deref follows local $refs (at most 32 hops).
func (p *parser) deref(v any, where string) (any, error) {
	for i := 0; i < 32; i++ {
		m, ok := v.(map[string]any)
		if !ok {
			return v, nil
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return v, nil
		}
		if !strings.HasPrefix(ref, "#/") {
			return nil, fmt.Errorf("%w: %s: %s: $ref %q is external; bundle the document first", ErrRef, p.name, where, ref)
		}
		var cur any = p.doc
		for _, tok := range strings.Split(ref[2:], "/") {
			tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
			if t, err := url.PathUnescape(tok); err == nil {
				tok = t
			}
			mm, ok := cur.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%w: %s: %s: $ref %q points nowhere", ErrRef, p.name, where, ref)
			}
			if cur, ok = mm[tok]; !ok {
				return nil, fmt.Errorf("%w: %s: %s: $ref %q points nowhere", ErrRef, p.name, where, ref)
			}
		}
		v = cur
	}
	return nil, fmt.Errorf("%w: %s: %s: $ref chain too long (a cycle?)", ErrRef, p.name, where)
}

type param struct {
	name, in, typ, desc string
	required            bool
	enum                []string
}

// params merges path-item and operation parameters (the operation's win).
func (p *parser) params(itemParams, opParams any, where string) ([]param, error) {
	byKey := map[string]param{}
	var order []string
	for _, list := range []any{itemParams, opParams} {
		arr, _ := list.([]any)
		for i, raw := range arr {
			v, err := p.deref(raw, fmt.Sprintf("%s.parameters[%d]", where, i))
			if err != nil {
				return nil, err
			}
			m, ok := v.(map[string]any)
			if !ok {
				continue
			}
			pr := param{name: str(m["name"]), in: str(m["in"]), desc: str(m["description"])}
			pr.required, _ = m["required"].(bool)
			if sch, err := p.deref(m["schema"], where+".schema"); err == nil {
				if sm, ok := sch.(map[string]any); ok {
					pr.typ = schemaType(sm["type"])
					if e, ok := sm["enum"].([]any); ok {
						for _, x := range e {
							pr.enum = append(pr.enum, fmt.Sprint(x))
						}
					}
				}
			}
			key := pr.in + ":" + pr.name
			if _, ok := byKey[key]; !ok {
				order = append(order, key)
			}
			byKey[key] = pr
		}
	}
	out := make([]param, 0, len(order))
	for _, k := range order {
		out = append(out, byKey[k])
	}
	return out, nil
}

// schemaType reads "type", which 3.1 allows to be a list (["string","null"]).
func schemaType(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case []any:
		for _, x := range t {
			if s, ok := x.(string); ok && s != "null" {
				return s
			}
		}
	}
	return ""
}

// withRequiredQuery appends the operation's required query parameters to the
// path template as APIM's OpenAPI import does ("Converts the query string
// parameters to template parameters", API import restrictions): the request
// must then carry them to match (APIM answers 404 without them). A name APIM
// could not take (one a path parameter has already, or one the template
// syntax cannot hold) stays an ordinary query parameter, with a warning.
func withRequiredQuery(tmpl string, params []param, where string, api *API) string {
	pathNames := map[string]bool{}
	if t, err := urltemplate.Parse(tmpl); err == nil {
		for _, n := range t.Params() {
			pathNames[n] = true
		}
	} else {
		return tmpl // templateParams reports the error
	}
	full, sep := tmpl, "?"
	for _, p := range params {
		if p.in != "query" || !p.required {
			continue
		}
		if pathNames[p.name] {
			api.Warnings = append(api.Warnings, fmt.Sprintf("%s: required query parameter %q has the name of a path parameter; APIM needs unique names in a URL template, so it is not made a template parameter", where, p.name))
			continue
		}
		cand := full + sep + p.name + "={" + p.name + "}"
		if _, err := urltemplate.Parse(cand); err != nil {
			api.Warnings = append(api.Warnings, fmt.Sprintf("%s: required query parameter %q cannot be a template parameter (%v); left out of the URL template", where, p.name, err))
			continue
		}
		pathNames[p.name] = true
		full, sep = cand, "&"
	}
	return full
}

// templateParams declares every {name} of tmpl, typed from the path
// parameters when the document declares them. tmpl is parsed by the
// gateway's own template parser: a path the gateway could not route is an
// error naming it, never an operation that fails later.
func templateParams(tmpl string, params []param, where string) ([]TemplateParameter, error) {
	t, err := urltemplate.Parse(tmpl)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", where, err)
	}
	byName := map[string]param{}
	for _, p := range params {
		if p.in == "path" || p.in == "query" {
			byName[p.in+":"+p.name] = p
		}
	}
	out := []TemplateParameter{}
	for i, name := range t.Params() {
		tp := TemplateParameter{Name: name, Type: "string", Required: true}
		in := "path:"
		if t.IsQuery(i) {
			in = "query:"
		}
		if p, ok := byName[in+name]; ok {
			if p.typ != "" {
				tp.Type = p.typ
			}
			tp.Description = p.desc
			tp.Values = p.enum
		}
		out = append(out, tp)
	}
	return out, nil
}

var reServerVar = regexp.MustCompile(`\{([^{}]+)\}`)

// serverURL returns the first server's absolute URL, variables filled with
// their defaults; more servers, or relative ones, are noted in warnings.
func (p *parser) serverURL(v any, where string, api *API) string {
	arr, _ := v.([]any)
	chosen := ""
	for i, raw := range arr {
		m, ok := raw.(map[string]any)
		if !ok {
			continue
		}
		u := str(m["url"])
		vars, _ := m["variables"].(map[string]any)
		u = reServerVar.ReplaceAllStringFunc(u, func(s string) string {
			name := s[1 : len(s)-1]
			if vm, ok := vars[name].(map[string]any); ok {
				return fmt.Sprint(vm["default"])
			}
			return s
		})
		pu, err := url.Parse(u)
		if err != nil || pu.Host == "" || (pu.Scheme != "http" && pu.Scheme != "https") {
			api.Warnings = append(api.Warnings, fmt.Sprintf("%s[%d]: %q is not an absolute http(s) URL; not used as the service URL", where, i, u))
			continue
		}
		if chosen == "" {
			chosen = strings.TrimSuffix(u, "/")
		} else {
			api.Warnings = append(api.Warnings, fmt.Sprintf("%s[%d]: %s ignored: the service URL is the first server, %s", where, i, u, chosen))
		}
	}
	return chosen
}

var (
	reIDBad  = regexp.MustCompile(`[^A-Za-z0-9._~-]+`)
	reDashes = regexp.MustCompile(`--+`)
)

// sanitizeID makes an ARM-safe resource name: runs of other characters
// become "-", at most 80 characters.
func sanitizeID(s string) string {
	s = strings.Trim(reDashes.ReplaceAllString(reIDBad.ReplaceAllString(s, "-"), "-"), "-")
	if len(s) > 80 {
		s = strings.TrimRight(s[:80], "-")
	}
	return s
}

func unique(base string, used map[string]bool) string {
	id := base
	for i := 2; used[strings.ToLower(id)]; i++ {
		id = base + "-" + strconv.Itoa(i)
	}
	used[strings.ToLower(id)] = true
	return id
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// normalize turns YAML's map[any]any into map[string]any, recursively.
func normalize(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			t[k] = normalize(x)
		}
		return t
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[fmt.Sprint(k)] = normalize(x)
		}
		return m
	case []any:
		for i, x := range t {
			t[i] = normalize(x)
		}
		return t
	}
	return v
}
