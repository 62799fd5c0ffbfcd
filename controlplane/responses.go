package controlplane

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/apimgw/apimgw/wire"
)

// An operation's documented responses (ARM's properties.responses), which
// mock-response answers with. Headers and form parameters are documentation
// and are kept as given; examples travel to the gateway in the snapshot,
// rendered (wire.Representation.Example).

// OperationResponse is ARM's ResponseContract.
type OperationResponse struct {
	StatusCode      int                 `json:"statusCode"`
	Description     string              `json:"description,omitempty"`
	Representations []Representation    `json:"representations,omitempty"`
	Headers         []TemplateParameter `json:"headers,omitempty"`
}

// Representation is ARM's RepresentationContract.
type Representation struct {
	ContentType    string                           `json:"contentType"`
	Examples       map[string]RepresentationExample `json:"examples,omitempty"`
	SchemaID       string                           `json:"schemaId,omitempty"`
	TypeName       string                           `json:"typeName,omitempty"`
	FormParameters []TemplateParameter              `json:"formParameters,omitempty"`
	// Sample is the single example of older API versions (before examples).
	Sample string `json:"sample,omitempty"`
}

// RepresentationExample is ARM's ParameterExampleContract.
type RepresentationExample struct {
	Summary       string          `json:"summary,omitempty"`
	Description   string          `json:"description,omitempty"`
	Value         json.RawMessage `json:"value,omitempty"`
	ExternalValue string          `json:"externalValue,omitempty"`
}

// checkResponses validates properties.responses: status codes, content
// types, examples that carry a value.
func checkResponses(rs []OperationResponse) error {
	seen := map[int]int{}
	for i, r := range rs {
		f := fmt.Sprintf("properties.responses[%d]", i)
		if r.StatusCode < 100 || r.StatusCode > 599 {
			return invalidField(f+".statusCode", "%d is not an HTTP status code (100-599)", r.StatusCode)
		}
		if j, dup := seen[r.StatusCode]; dup {
			return invalidField(f+".statusCode", "%d is already described by responses[%d]", r.StatusCode, j)
		}
		seen[r.StatusCode] = i
		names := map[string]int{}
		for k, h := range r.Headers {
			hf := fmt.Sprintf("%s.headers[%d].name", f, k)
			if strings.TrimSpace(h.Name) == "" {
				return invalidField(hf, "is required")
			}
			if l, dup := names[strings.ToLower(h.Name)]; dup {
				return invalidField(hf, "%q is already described by headers[%d]", h.Name, l)
			}
			names[strings.ToLower(h.Name)] = k
		}
		types := map[string]int{}
		for k, rep := range r.Representations {
			rf := fmt.Sprintf("%s.representations[%d]", f, k)
			ct := strings.ToLower(strings.TrimSpace(rep.ContentType))
			if ct == "" {
				return invalidField(rf+".contentType", "is required")
			}
			if l, dup := types[ct]; dup {
				return invalidField(rf+".contentType", "%q is already described by representations[%d]", rep.ContentType, l)
			}
			types[ct] = k
			for name, ex := range rep.Examples {
				if ex.ExternalValue != "" && len(ex.Value) == 0 {
					return invalidField(rf+".examples."+name+".externalValue", "is not fetched by this control plane; put the example in value")
				}
			}
		}
	}
	return nil
}

// wireResponses renders responses for the snapshot.
func wireResponses(rs []OperationResponse) []wire.OperationResponse {
	if len(rs) == 0 {
		return nil
	}
	out := make([]wire.OperationResponse, 0, len(rs))
	for _, r := range rs {
		wr := wire.OperationResponse{StatusCode: r.StatusCode, Description: r.Description}
		for _, h := range r.Headers {
			wr.Headers = append(wr.Headers, wire.TemplateParameter{Name: h.Name, Type: h.Type, Required: h.Required, Description: h.Description, Values: h.Values})
		}
		for _, rep := range r.Representations {
			w := wire.Representation{ContentType: rep.ContentType, SchemaID: rep.SchemaID, TypeName: rep.TypeName}
			w.ExampleName, w.Example = chooseExample(rep)
			wr.Representations = append(wr.Representations, w)
		}
		out = append(out, wr)
	}
	return out
}

// chooseExample picks the example mock-response sends: "default", else the
// first name in byte order (ARM's examples are an unordered map), else the
// older sample field.
func chooseExample(rep Representation) (name, body string) {
	if len(rep.Examples) > 0 {
		names := make([]string, 0, len(rep.Examples))
		for n := range rep.Examples {
			names = append(names, n)
		}
		sort.Strings(names)
		name = names[0]
		if _, ok := rep.Examples["default"]; ok {
			name = "default"
		}
		return name, exampleBody(rep.Examples[name].Value)
	}
	if rep.Sample != "" {
		return "sample", rep.Sample
	}
	return "", ""
}

// exampleBody is the response body of an example value: a JSON string is its
// text (an XML or plain-text example), any other value compact JSON.
func exampleBody(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || string(v) == "null" {
		return ""
	}
	if v[0] == '"' {
		var s string
		if json.Unmarshal(v, &s) == nil {
			return s
		}
	}
	var b bytes.Buffer
	if json.Compact(&b, v) != nil {
		return string(v)
	}
	return b.String()
}

// OperationRequest is ARM's RequestContract: query parameters and headers
// (validate-parameters) and representations (stored as given).
type OperationRequest struct {
	Description     string              `json:"description,omitempty"`
	QueryParameters []TemplateParameter `json:"queryParameters,omitempty"`
	Headers         []TemplateParameter `json:"headers,omitempty"`
	Representations []Representation    `json:"representations,omitempty"`
}

// checkRequest validates properties.request: named, unique parameters.
func checkRequest(r *OperationRequest) error {
	if r == nil {
		return nil
	}
	for _, l := range []struct {
		field string
		ps    []TemplateParameter
	}{{"properties.request.queryParameters", r.QueryParameters}, {"properties.request.headers", r.Headers}} {
		names := map[string]int{}
		for i, p := range l.ps {
			f := fmt.Sprintf("%s[%d].name", l.field, i)
			if strings.TrimSpace(p.Name) == "" {
				return invalidField(f, "is required")
			}
			k := p.Name
			if l.field == "properties.request.headers" {
				k = strings.ToLower(k)
			}
			if j, dup := names[k]; dup {
				return invalidField(f, "%q is already described by [%d]", p.Name, j)
			}
			names[k] = i
		}
	}
	for i, rep := range r.Representations {
		if strings.TrimSpace(rep.ContentType) == "" {
			return invalidField(fmt.Sprintf("properties.request.representations[%d].contentType", i), "is required")
		}
	}
	return nil
}

// wireRequest is the part of the request the gateway validates against.
func wireRequest(r *OperationRequest) *wire.OperationRequest {
	if r == nil || len(r.QueryParameters) == 0 && len(r.Headers) == 0 && len(r.Representations) == 0 {
		return nil
	}
	conv := func(ps []TemplateParameter) []wire.TemplateParameter {
		var out []wire.TemplateParameter
		for _, p := range ps {
			out = append(out, wire.TemplateParameter{Name: p.Name, Type: p.Type, Required: p.Required, Description: p.Description, Values: p.Values})
		}
		return out
	}
	return &wire.OperationRequest{QueryParameters: conv(r.QueryParameters), Headers: conv(r.Headers), Representations: wireRepresentations(r.Representations)}
}
