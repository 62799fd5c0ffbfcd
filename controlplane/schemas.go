package controlplane

import (
	"encoding/json"
	"sort"
	"strings"

	"github.com/apimgw/apimgw/policy"
	"github.com/apimgw/apimgw/wire"
)

// APISchema is /apis/{apiId}/schemas/{schemaId}: ARM's SchemaContract.
// contentType says what document holds — Swagger 2 definitions
// (application/vnd.ms-azure-apim.swagger.definitions+json,
// document.definitions), OpenAPI 3 components
// (application/vnd.oai.openapi.components+json, document.components), a
// JSON Schema (application/json or application/schema+json,
// document.value), or a schema apimgw stores but does not validate with
// (XSD, WADL, OData, protobuf: document.value). JSON schemas are compiled on
// write: a definition that does not compile is a 400 naming it, and nothing
// is stored. Operation representations name a schema with schemaId and a
// type in it with typeName; validate-content validates bodies against it.
// A representation may name a schema that does not exist (yet): the
// gateway then reports APIM's ApiSchema error when validate-content needs
// it, as APIM does at run time.
type APISchema struct {
	ContentType string         `json:"contentType"`
	Document    SchemaDocument `json:"document"`
	// Description is ours (the portal's schema description); kept as given.
	Description string `json:"description,omitempty"`
}

// SchemaDocument is ARM's SchemaDocumentProperties.
type SchemaDocument struct {
	Value       *string         `json:"value,omitempty"`
	Definitions json.RawMessage `json:"definitions,omitempty"`
	Components  json.RawMessage `json:"components,omitempty"`
}

// bucketAPISchemas holds API schemas keyed "api/schemaId".
const bucketAPISchemas = "apiSchemas"

// maxSchemaBytes bounds one schema document (APIM's validation policies use
// schemas up to 4 MB).
const maxSchemaBytes = 4 << 20

var apiSchemaKind = &kind[APISchema]{
	name: "Schema", bucket: bucketAPISchemas, armType: "Microsoft.ApiManagement/service/apis/schemas",
	table:    func(m *model) table[APISchema] { return m.apiSchemas },
	newProps: func() *APISchema { return &APISchema{} },
	parent:   apiParent,
	check: func(t *txn, key string, old, s *APISchema) error {
		_, id, _ := strings.Cut(key, "/")
		if err := idError(id); err != nil {
			return err
		}
		if strings.TrimSpace(s.ContentType) == "" {
			return invalidField("properties.contentType", "is required (one of %s)", strings.Join(policy.SchemaContentTypes, ", "))
		}
		for _, ct := range policy.SchemaContentTypes {
			if strings.EqualFold(ct, strings.TrimSpace(s.ContentType)) {
				s.ContentType = ct
			}
		}
		doc, err := json.Marshal(s.Document)
		if err != nil {
			return invalidField("properties.document", "%v", err)
		}
		if len(doc) > maxSchemaBytes {
			return invalidField("properties.document", "the schema document is %d bytes, at most %d", len(doc), maxSchemaBytes)
		}
		if err := policy.CheckAPISchema(s.ContentType, doc); err != nil {
			msg := strings.TrimPrefix(err.Error(), policy.ErrSchema.Error()+": ")
			if strings.HasPrefix(msg, "contentType ") {
				return invalidField("properties.contentType", "%s", strings.TrimPrefix(msg, "contentType "))
			}
			field, rest, ok := strings.Cut(msg, ": ")
			if !ok || !strings.HasPrefix(field, "document") {
				return invalidField("properties.document", "%s", msg)
			}
			if strings.Contains(field, " ") { // "document.value is required …"
				return invalidField("properties.document", "%s", msg)
			}
			return invalidField("properties."+field, "%s", rest)
		}
		return nil
	},
	render: func(key string, s *APISchema) any { return s },
}

// wireSchemas are the API's schemas for its snapshot, in id order.
func wireSchemas(m *model, api string) []wire.APISchema {
	keys := m.apiSchemas.keysWithPrefix(api + "/")
	sort.Strings(keys)
	var out []wire.APISchema
	for _, k := range keys {
		s := m.apiSchemas[k].Props
		doc, err := json.Marshal(s.Document)
		if err != nil {
			continue // checked on write
		}
		out = append(out, wire.APISchema{ID: lastSegment(k), ContentType: s.ContentType, Document: doc})
	}
	return out
}

// wireRepresentations are a request's documented content types and schemas.
func wireRepresentations(reps []Representation) []wire.Representation {
	var out []wire.Representation
	for _, r := range reps {
		out = append(out, wire.Representation{ContentType: r.ContentType, SchemaID: r.SchemaID, TypeName: r.TypeName})
	}
	return out
}
