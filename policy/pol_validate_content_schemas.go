package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The API schemas validate-content checks bodies against (ARM's
// apis/{api}/schemas/{schemaId}), compiled with santhosh-tekuri/jsonschema
// once per snapshot: the appliance builds one SchemaSet per API and gives it
// to the API's pipelines (Pipeline.SetContentSchemas), which compile what
// their validate-content policies need right then. Requests only look the
// compiled schema up.

// API schema content types (ARM's SchemaContract.contentType).
const (
	SchemaSwagger = "application/vnd.ms-azure-apim.swagger.definitions+json" // document.definitions
	SchemaOpenAPI = "application/vnd.oai.openapi.components+json"            // document.components
	SchemaJSON    = "application/json"                                       // document.value: a JSON Schema
	SchemaJSON2   = "application/schema+json"                                // document.value: a JSON Schema
	SchemaXSD     = "application/vnd.ms-azure-apim.xsd+xml"                  // document.value (stored, not used)
	SchemaWADL    = "application/vnd.ms-azure-apim.wadl.grammars+xml"        // document.value (stored, not used)
	SchemaOData   = "application/vnd.ms-azure-apim.odata.schema"             // document.value (stored, not used)
	SchemaProto   = "text/protobuf"                                          // document.value (stored, not used)
)

// SchemaContentTypes are the content types an API schema may have, in the
// order docs/interfaces.md lists them.
var SchemaContentTypes = []string{SchemaSwagger, SchemaOpenAPI, SchemaJSON, SchemaJSON2, SchemaXSD, SchemaWADL, SchemaOData, SchemaProto}

// ErrSchema is returned by CheckAPISchema and NewSchemaSet for a schema
// document that cannot be used.
var ErrSchema = errors.New("policy: API schema")

// APISchema is one schema of an API: its id, content type and ARM document
// ({"definitions":…}, {"components":…} or {"value":"…"}), raw JSON.
type APISchema struct {
	ID          string
	ContentType string
	Document    []byte
}

// ContentDef is one documented representation of a request or response:
// its content type and the schema (SchemaID, TypeName) it conforms to.
type ContentDef struct {
	ContentType string
	SchemaID    string
	TypeName    string
}

// isJSONSchemaType reports whether an API schema of content type ct holds
// JSON schemas validate-content can use.
func isJSONSchemaType(ct string) bool {
	switch strings.ToLower(ct) {
	case SchemaSwagger, SchemaOpenAPI, SchemaJSON, SchemaJSON2:
		return true
	}
	return false
}

// schemaDoc is one API schema, parsed.
type schemaDoc struct {
	id, contentType string
	root            any // the JSON the references point into
	err             string
}

// typeRef is the JSON pointer of a named type in a document of content type ct.
func typeRef(ct, name string) string {
	name = strings.ReplaceAll(strings.ReplaceAll(name, "~", "~0"), "/", "~1")
	switch strings.ToLower(ct) {
	case SchemaOpenAPI:
		return "#/components/schemas/" + name
	}
	return "#/definitions/" + name
}

// parseSchemaDoc turns an ARM document into the root the references point
// into: {"definitions":…} for Swagger, {"components":…} for OpenAPI, the
// parsed value for a JSON Schema.
func parseSchemaDoc(ct string, document []byte) (any, error) {
	var d struct {
		Value       *string         `json:"value"`
		Definitions json.RawMessage `json:"definitions"`
		Components  json.RawMessage `json:"components"`
	}
	if len(bytes.TrimSpace(document)) > 0 {
		if err := json.Unmarshal(document, &d); err != nil {
			return nil, fmt.Errorf("%w: document: %v", ErrSchema, err)
		}
	}
	obj := func(field string, raw json.RawMessage) (any, error) {
		if len(raw) == 0 || string(raw) == "null" {
			return nil, fmt.Errorf("%w: document.%s is required for content type %s", ErrSchema, field, ct)
		}
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("%w: document.%s: %v", ErrSchema, field, err)
		}
		if _, ok := v.(map[string]any); !ok {
			return nil, fmt.Errorf("%w: document.%s must be a JSON object", ErrSchema, field)
		}
		return map[string]any{field: v}, nil
	}
	switch strings.ToLower(ct) {
	case SchemaSwagger:
		return obj("definitions", d.Definitions)
	case SchemaOpenAPI:
		root, err := obj("components", d.Components)
		if err != nil {
			return nil, err
		}
		c := root.(map[string]any)["components"].(map[string]any)
		if s, ok := c["schemas"]; ok {
			if _, ok := s.(map[string]any); !ok {
				return nil, fmt.Errorf("%w: document.components.schemas must be a JSON object", ErrSchema)
			}
		}
		return root, nil
	}
	if d.Value == nil {
		return nil, fmt.Errorf("%w: document.value is required for content type %s", ErrSchema, ct)
	}
	if !isJSONSchemaType(ct) {
		return nil, nil // stored, not parsed
	}
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(*d.Value))
	if err != nil {
		return nil, fmt.Errorf("%w: document.value is not JSON: %v", ErrSchema, err)
	}
	return v, nil
}

// definitionRefs lists the named types of a parsed document, sorted, as
// pointers with the field path that holds them.
func definitionRefs(ct string, root any) (refs, fields []string) {
	var m map[string]any
	var field string
	switch strings.ToLower(ct) {
	case SchemaSwagger:
		m, _ = root.(map[string]any)["definitions"].(map[string]any)
		field = "document.definitions."
	case SchemaOpenAPI:
		c, _ := root.(map[string]any)["components"].(map[string]any)
		m, _ = c["schemas"].(map[string]any)
		field = "document.components.schemas."
	default:
		return []string{"#"}, []string{"document.value"}
	}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		refs = append(refs, typeRef(ct, n))
		fields = append(fields, field+n)
	}
	return refs, fields
}

// CheckAPISchema checks an API schema as the control plane stores it:
// contentType one of SchemaContentTypes, the document of the shape that type
// has, and for JSON schemas every definition compiling. The error names the
// field (document.components.schemas.Pet: …).
func CheckAPISchema(contentType string, document []byte) error {
	ok := false
	for _, t := range SchemaContentTypes {
		if strings.EqualFold(t, contentType) {
			ok = true
		}
	}
	if !ok {
		return fmt.Errorf("%w: contentType %q is not one of %s", ErrSchema, contentType, strings.Join(SchemaContentTypes, ", "))
	}
	root, err := parseSchemaDoc(contentType, document)
	if err != nil {
		return err
	}
	if !isJSONSchemaType(contentType) {
		return nil
	}
	refs, fields := definitionRefs(contentType, root)
	c := newSchemaCompiler(contentType, root)
	for i, r := range refs {
		if _, err := c.Compile(schemaURL + r); err != nil {
			return fmt.Errorf("%w: %s: %s", ErrSchema, fields[i], schemaErrText(err))
		}
	}
	return nil
}

// schemaURL is the base URL every API schema document is compiled under.
const schemaURL = "urn:apimgw:api-schema"

// refuseLoader refuses every reference outside the document: no files, no
// network.
type refuseLoader struct{}

func (refuseLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("references outside the schema document (%s) are not followed", url)
}

// newSchemaCompiler compiles root as Swagger 2 / OpenAPI 3.0 schemas are
// meant: JSON Schema draft 4 semantics (exclusiveMinimum true/false) unless
// the document says $schema, formats asserted (APIM checks them), regular
// expressions with Go's RE2.
func newSchemaCompiler(ct string, root any) *jsonschema.Compiler {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft4)
	c.AssertFormat()
	c.UseLoader(refuseLoader{})
	if strings.EqualFold(ct, SchemaOpenAPI) {
		root = openAPINullable(deepCopy(root))
	}
	_ = c.AddResource(schemaURL, root) // a fresh compiler never has the URL
	return c
}

func schemaErrText(err error) string {
	s := strings.ReplaceAll(err.Error(), schemaURL, "")
	lines := strings.Split(s, "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return strings.Join(lines, " ")
}

// SchemaSet is the compiled schemas of one API for one snapshot. It is safe
// for concurrent use; variants (allow-additional-properties,
// case-insensitive-property-names) are compiled once each.
type SchemaSet struct {
	docs   map[string]*schemaDoc // the API's, by lower-case id
	global map[string]*schemaDoc // the service's (/schemas), by lower-case id
	mu     sync.Mutex
	comp   map[variantKey]*jsonschema.Compiler
}

type variantKey struct {
	global bool
	id     string
	addl   int8 // 0 as the schema says, 1 allow, -1 forbid
	ci     bool
}

// NewSchemaSet parses an API's schemas and the service-level schemas its
// policies name (global, ARM's /schemas: schema-id looks there first, as
// APIM's does, then among the API's). A schema that cannot be parsed is
// kept with its error: validate-content reports it (ApiSchema) when a
// request needs it, as APIM does.
func NewSchemaSet(schemas, global []APISchema) *SchemaSet {
	s := &SchemaSet{docs: parseSchemas(schemas), global: parseSchemas(global), comp: map[variantKey]*jsonschema.Compiler{}}
	return s
}

func parseSchemas(schemas []APISchema) map[string]*schemaDoc {
	docs := map[string]*schemaDoc{}
	for _, a := range schemas {
		d := &schemaDoc{id: a.ID, contentType: a.ContentType}
		if !isJSONSchemaType(a.ContentType) {
			d.err = "schema " + a.ID + " has content type " + a.ContentType + ", not a JSON schema"
		} else if root, err := parseSchemaDoc(a.ContentType, a.Document); err != nil {
			d.err = "schema " + a.ID + ": " + strings.TrimPrefix(err.Error(), ErrSchema.Error()+": ")
		} else {
			d.root = root
		}
		docs[strings.ToLower(a.ID)] = d
	}
	return docs
}

// lookup finds schema id: a service-level one first when global is allowed
// (schema-id), else (or then) the API's.
func (s *SchemaSet) lookup(id string, global bool) (*schemaDoc, bool) {
	if s == nil {
		return nil, false
	}
	if global {
		if d, ok := s.global[strings.ToLower(id)]; ok {
			return d, true
		}
	}
	d, ok := s.docs[strings.ToLower(id)]
	return d, ok
}

// compiled is a schema ready to validate with, or why there is none.
type compiled struct {
	sch  *jsonschema.Schema
	name string // the definition name for messages
	// missing: the schema resolved but has no such definition
	// (MissingDefinition); else err is an ApiSchema problem.
	missing bool
	err     string
}

// compile returns the schema ref of schema id (global: a service-level
// schema may be meant) with the variant's overrides.
func (s *SchemaSet) compile(id string, global bool, ref, name string, addl int8, ci bool) *compiled {
	d, ok := s.lookup(id, global)
	if !ok {
		return &compiled{name: name, err: "API's schema does not exist or it could not be resolved (no schema " + id + ")."}
	}
	if d.err != "" {
		return &compiled{name: name, err: "API's schema does not exist or it could not be resolved (" + d.err + ")."}
	}
	if ref == "" {
		ref = "#"
	}
	if !strings.HasPrefix(ref, "#") {
		return &compiled{name: name, err: "API's schema does not exist or it could not be resolved (schema-ref " + ref + " is not a local reference #/…)."}
	}
	if _, ok := lookupPointer(d.root, ref[1:]); !ok {
		return &compiled{name: name, missing: true}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, isGlobal := s.global[strings.ToLower(id)]
	k := variantKey{global: global && isGlobal, id: strings.ToLower(id), addl: addl, ci: ci}
	c := s.comp[k]
	if c == nil {
		root := d.root
		if addl != 0 || ci {
			root = overrideObjects(deepCopy(root), addl, ci)
		}
		c = newSchemaCompiler(d.contentType, root)
		s.comp[k] = c
	}
	sch, err := c.Compile(schemaURL + ref)
	if err != nil {
		return &compiled{name: name, err: "API's schema could not be resolved: " + schemaErrText(err)}
	}
	return &compiled{sch: sch, name: name}
}

// lookupPointer follows a JSON pointer ("/components/schemas/Pet") in v.
func lookupPointer(v any, ptr string) (any, bool) {
	if ptr == "" {
		return v, true
	}
	if ptr[0] != '/' {
		return nil, false
	}
	for _, tok := range strings.Split(ptr[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[tok]; !ok {
				return nil, false
			}
		case []any:
			i := 0
			if _, err := fmt.Sscanf(tok, "%d", &i); err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		a := make([]any, len(x))
		for i, e := range x {
			a[i] = deepCopy(e)
		}
		return a
	}
	return v
}

// forEachSchema calls fn on every schema object reachable from v through the
// schema keywords (properties, items, allOf, …) and the definition maps of
// the document root.
func forEachSchema(v any, fn func(map[string]any)) {
	m, ok := v.(map[string]any)
	if !ok {
		if a, ok := v.([]any); ok {
			for _, e := range a {
				forEachSchema(e, fn)
			}
		}
		return
	}
	fn(m)
	for _, k := range []string{"properties", "patternProperties", "definitions", "$defs", "dependentSchemas"} {
		if sub, ok := m[k].(map[string]any); ok {
			for _, e := range sub {
				forEachSchema(e, fn)
			}
		}
	}
	for _, k := range []string{"items", "additionalProperties", "additionalItems", "not", "allOf", "anyOf", "oneOf", "prefixItems", "contains", "if", "then", "else", "propertyNames", "unevaluatedProperties", "unevaluatedItems"} {
		if sub, ok := m[k]; ok {
			forEachSchema(sub, fn)
		}
	}
	if c, ok := m["components"].(map[string]any); ok {
		if sub, ok := c["schemas"].(map[string]any); ok {
			for _, e := range sub {
				forEachSchema(e, fn)
			}
		}
	}
}

// overrideObjects applies allow-additional-properties (addl 1: allowed
// everywhere, -1: refused on every schema that lists properties) and
// case-insensitive-property-names (property names and required lower-cased;
// the body's names are lower-cased before validation).
func overrideObjects(root any, addl int8, ci bool) any {
	forEachSchema(root, func(m map[string]any) {
		_, hasProps := m["properties"]
		switch {
		case addl > 0:
			if _, ok := m["additionalProperties"].(bool); ok || hasProps {
				m["additionalProperties"] = true
			}
		case addl < 0 && hasProps:
			m["additionalProperties"] = false
		}
		if !ci {
			return
		}
		if p, ok := m["properties"].(map[string]any); ok {
			lp := make(map[string]any, len(p))
			for k, v := range p {
				lp[strings.ToLower(k)] = v
			}
			m["properties"] = lp
		}
		if r, ok := m["required"].([]any); ok {
			for i, e := range r {
				if s, ok := e.(string); ok {
					r[i] = strings.ToLower(s)
				}
			}
		}
	})
	return root
}

// openAPINullable gives OpenAPI 3.0's nullable: true its meaning (the type
// also admits null).
func openAPINullable(root any) any {
	forEachSchema(root, func(m map[string]any) {
		if n, _ := m["nullable"].(bool); !n {
			return
		}
		switch t := m["type"].(type) {
		case string:
			m["type"] = []any{t, "null"}
		case []any:
			m["type"] = append(t, "null")
		}
		if e, ok := m["enum"].([]any); ok {
			m["enum"] = append(e, nil)
		}
	})
	return root
}

// lowerKeys lower-cases every object key of a parsed body
// (case-insensitive-property-names); of names differing only in case the
// last one wins.
func lowerKeys(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[strings.ToLower(k)] = lowerKeys(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = lowerKeys(e)
		}
	}
	return v
}
