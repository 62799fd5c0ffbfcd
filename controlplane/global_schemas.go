package controlplane

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"

	"github.com/apimgw/apimgw/policy"
	"github.com/apimgw/apimgw/wire"
)

// GlobalSchema is /schemas/{schemaId}: ARM's GlobalSchemaContract, the
// service-level schemas validate-content's schema-id names. schemaType json
// takes the JSON Schema in document (an object) or, as ARM allows, as text
// in value; it is compiled on write (400 naming the field when it does not
// compile). schemaType xml takes an XSD in value: stored, not used by the
// gateway (validate-as="xml" is refused at compile time). Snapshots carry
// the schemas their policies name.
type GlobalSchema struct {
	SchemaType  string          `json:"schemaType"`
	Description string          `json:"description,omitempty"`
	Value       string          `json:"value,omitempty"`
	Document    json.RawMessage `json:"document,omitempty"`
}

// bucketSchemas holds the service-level schemas.
const bucketSchemas = "schemas"

var globalSchemaKind = &kind[GlobalSchema]{
	name: "Schema", bucket: bucketSchemas, armType: "Microsoft.ApiManagement/service/schemas",
	table:    func(m *model) table[GlobalSchema] { return m.schemas },
	newProps: func() *GlobalSchema { return &GlobalSchema{} },
	check: func(t *txn, key string, old, s *GlobalSchema) error {
		if err := idError(key); err != nil {
			return err
		}
		doc := bytes.TrimSpace(s.Document)
		if string(doc) == "null" {
			doc, s.Document = nil, nil
		}
		if len(doc)+len(s.Value) > maxSchemaBytes {
			return invalidField("properties.document", "the schema is %d bytes, at most %d", len(doc)+len(s.Value), maxSchemaBytes)
		}
		switch strings.ToLower(strings.TrimSpace(s.SchemaType)) {
		case "json":
			s.SchemaType = "json"
			field, text := "properties.document", string(doc)
			if len(doc) == 0 {
				field, text = "properties.value", s.Value
			} else if s.Value != "" {
				return invalidField("properties.value", "give the JSON schema in document or in value, not both")
			}
			if strings.TrimSpace(text) == "" {
				return invalidField("properties.document", "is required for schemaType json (the JSON Schema)")
			}
			v, _ := json.Marshal(map[string]string{"value": text})
			if err := policy.CheckAPISchema(policy.SchemaJSON, v); err != nil {
				msg := strings.TrimPrefix(strings.TrimPrefix(err.Error(), policy.ErrSchema.Error()+": "), "document.value")
				return invalidField(field, "%s", strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(msg), ":")))
			}
		case "xml":
			s.SchemaType = "xml"
			if strings.TrimSpace(s.Value) == "" {
				return invalidField("properties.value", "is required for schemaType xml (the XSD)")
			}
			if len(doc) > 0 {
				return invalidField("properties.document", "is for schemaType json; an XSD goes in value")
			}
		case "":
			return invalidField("properties.schemaType", "is required (json or xml)")
		default:
			return invalidField("properties.schemaType", "%q is not json or xml", s.SchemaType)
		}
		return nil
	},
	remove: func(t *txn, key string, q url.Values) error {
		if refs := t.m.referrers(func(r policyRefs) bool { return containsFold(r.schemas, key) }); len(refs) > 0 {
			return conflict("Schema %q cannot be deleted: validate-content schema-id names it in %s.", key, strings.Join(refs, ", "))
		}
		return nil
	},
	render: func(key string, s *GlobalSchema) any { return s },
}

// wireGlobalSchema is a service-level schema as the snapshot carries it.
func wireGlobalSchema(id string, s *GlobalSchema) wire.APISchema {
	if s.SchemaType == "xml" {
		v, _ := json.Marshal(map[string]string{"value": s.Value})
		return wire.APISchema{ID: id, ContentType: policy.SchemaXSD, Document: v}
	}
	text := s.Value
	if len(s.Document) > 0 {
		text = string(s.Document)
	}
	v, _ := json.Marshal(map[string]string{"value": text})
	return wire.APISchema{ID: id, ContentType: policy.SchemaJSON, Document: v}
}
