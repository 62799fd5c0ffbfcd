package importer

import (
	"fmt"
	"sort"
	"strings"
)

// The document's schemas, for the API's schemas resource (ARM's
// apis/{api}/schemas/{schemaId}, content type
// application/vnd.oai.openapi.components+json): components.schemas as they
// are, and every inline body schema (or one referenced from elsewhere) under
// a generated name — {operationId}Request, {operationId}Response{code} — so
// that every representation with a schema names it by schemaId and
// typeName, as APIM's import does. validate-content validates against them.

// SchemaID is the id the import gives the API's schema.
const SchemaID = "openapi"

// SchemaContentType is the content type of an imported schema.
const SchemaContentType = "application/vnd.oai.openapi.components+json"

// Schema is an API schema as the importer writes it.
type Schema struct {
	ID          string
	ContentType string
	// Components is the document's components object with (only) its
	// schemas.
	Components map[string]any
}

// SchemaBody is the ARM body that creates s.
func SchemaBody(s *Schema) any {
	return props{"properties": props{"contentType": s.ContentType, "document": props{"components": s.Components}}}
}

const schemaRefPrefix = "#/components/schemas/"

func (p *parser) initSchemas() {
	p.schemas = map[string]any{}
	c, _ := p.doc["components"].(map[string]any)
	if s, ok := c["schemas"].(map[string]any); ok {
		for k, v := range s {
			p.schemas[k] = v
		}
	}
}

// typeName returns the schema name a media type's schema v is known by:
// the name of a components.schemas reference, else a new name (from gen)
// holding v. "" when there is no schema.
func (p *parser) typeName(v any, where, gen string) (string, error) {
	if v == nil {
		return "", nil
	}
	if m, ok := v.(map[string]any); ok {
		if ref, ok := m["$ref"].(string); ok && len(m) == 1 {
			if name := strings.TrimPrefix(ref, schemaRefPrefix); name != ref && !strings.Contains(name, "/") {
				if _, ok := p.schemas[name]; ok {
					return name, nil
				}
			}
			r, err := p.deref(v, where)
			if err != nil {
				return "", err
			}
			v = r
		}
	}
	if _, ok := v.(map[string]any); !ok {
		if _, ok := v.(bool); !ok {
			return "", fmt.Errorf("%w: %s: %s is not a schema object", ErrNotOpenAPI, p.name, where)
		}
	}
	name := gen
	for i := 2; p.schemas[name] != nil; i++ {
		name = fmt.Sprintf("%s%d", gen, i)
	}
	p.schemas[name] = v
	return name, nil
}

// requestBody adds the operation's requestBody media types to r (created
// when nil).
func (p *parser) requestBody(v any, where string, r *Request) (*Request, error) {
	if v == nil {
		return r, nil
	}
	rb, err := p.deref(v, where+".requestBody")
	if err != nil {
		return nil, err
	}
	m, _ := rb.(map[string]any)
	content, _ := m["content"].(map[string]any)
	types := make([]string, 0, len(content))
	for ct := range content {
		types = append(types, ct)
	}
	sort.Strings(types)
	for _, ct := range types {
		mt, err := p.deref(content[ct], where+".requestBody.content."+ct)
		if err != nil {
			return nil, err
		}
		mm, _ := mt.(map[string]any)
		rep := Representation{ContentType: ct}
		if rep.TypeName, err = p.typeName(mm["schema"], where+".requestBody.content."+ct+".schema", p.opID+"Request"); err != nil {
			return nil, err
		}
		if rep.TypeName != "" {
			rep.SchemaID = SchemaID
		}
		if ex, ok := mm["example"]; ok {
			rep.Examples = map[string]Example{"default": {Value: ex}}
		}
		if r == nil {
			r = &Request{}
		}
		r.Representations = append(r.Representations, rep)
	}
	return r, nil
}

// schema is the API's schema, or nil when the document has none.
func (p *parser) schema() *Schema {
	if len(p.schemas) == 0 {
		return nil
	}
	return &Schema{ID: SchemaID, ContentType: SchemaContentType, Components: map[string]any{"schemas": p.schemas}}
}
