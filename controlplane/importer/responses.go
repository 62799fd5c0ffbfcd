package importer

import (
	"fmt"
	"sort"
	"strconv"
)

// An operation's responses, from OpenAPI's responses object to ARM's
// properties.responses: each numeric status code with its media types and
// their examples (OpenAPI's example becomes ARM's "default" example, its
// examples keep their names). A media type's schema becomes the
// representation's schemaId/typeName (schemas.go); ranges ("2XX") and
// "default" have no ARM form and are skipped with a warning.

// Response is ARM's ResponseContract as the importer writes it.
type Response struct {
	StatusCode      int                 `json:"statusCode"`
	Description     string              `json:"description,omitempty"`
	Representations []Representation    `json:"representations"`
	Headers         []TemplateParameter `json:"headers,omitempty"`
}

// Representation is ARM's RepresentationContract (content type and examples).
type Representation struct {
	ContentType string             `json:"contentType"`
	Examples    map[string]Example `json:"examples,omitempty"`
	SchemaID    string             `json:"schemaId,omitempty"`
	TypeName    string             `json:"typeName,omitempty"`
}

// Example is ARM's ParameterExampleContract.
type Example struct {
	Summary     string `json:"summary,omitempty"`
	Description string `json:"description,omitempty"`
	Value       any    `json:"value"`
}

func (p *parser) responses(v any, where string, api *API) ([]Response, error) {
	m, _ := v.(map[string]any)
	codes := make([]string, 0, len(m))
	for k := range m {
		codes = append(codes, k)
	}
	sort.Strings(codes)
	var out []Response
	for _, code := range codes {
		rw := where + ".responses." + code
		n, err := strconv.Atoi(code)
		if err != nil || n < 100 || n > 599 {
			api.Warnings = append(api.Warnings, fmt.Sprintf("%s: not imported (ARM responses need a status code 100-599)", rw))
			continue
		}
		rv, err := p.deref(m[code], rw)
		if err != nil {
			return nil, err
		}
		rm, _ := rv.(map[string]any)
		r := Response{StatusCode: n, Description: str(rm["description"]), Representations: []Representation{}}
		hdrs, _ := rm["headers"].(map[string]any)
		hnames := make([]string, 0, len(hdrs))
		for h := range hdrs {
			hnames = append(hnames, h)
		}
		sort.Strings(hnames)
		for _, h := range hnames {
			hv, err := p.deref(hdrs[h], rw+".headers."+h)
			if err != nil {
				return nil, err
			}
			hm, _ := hv.(map[string]any)
			tp := TemplateParameter{Name: h, Description: str(hm["description"])}
			tp.Required, _ = hm["required"].(bool)
			sc, err := p.deref(hm["schema"], rw+".headers."+h+".schema")
			if err != nil {
				return nil, err
			}
			if sm, ok := sc.(map[string]any); ok {
				tp.Type = schemaType(sm["type"])
				if en, ok := sm["enum"].([]any); ok {
					for _, e := range en {
						tp.Values = append(tp.Values, fmt.Sprint(e))
					}
				}
			}
			r.Headers = append(r.Headers, tp)
		}
		content, _ := rm["content"].(map[string]any)
		types := make([]string, 0, len(content))
		for ct := range content {
			types = append(types, ct)
		}
		sort.Strings(types)
		for _, ct := range types {
			mt, err := p.deref(content[ct], rw+".content."+ct)
			if err != nil {
				return nil, err
			}
			mm, _ := mt.(map[string]any)
			rep := Representation{ContentType: ct}
			if rep.TypeName, err = p.typeName(mm["schema"], rw+".content."+ct+".schema", fmt.Sprintf("%sResponse%d", p.opID, n)); err != nil {
				return nil, err
			}
			if rep.TypeName != "" {
				rep.SchemaID = SchemaID
			}
			if ex, ok := mm["example"]; ok {
				rep.Examples = map[string]Example{"default": {Value: ex}}
			}
			exs, _ := mm["examples"].(map[string]any)
			for name, e := range exs {
				ev, err := p.deref(e, rw+".content."+ct+".examples."+name)
				if err != nil {
					return nil, err
				}
				em, _ := ev.(map[string]any)
				if _, ok := em["value"]; !ok {
					if ext := str(em["externalValue"]); ext != "" {
						api.Warnings = append(api.Warnings, fmt.Sprintf("%s.content.%s.examples.%s: externalValue %s is not fetched; example not imported", rw, ct, name, ext))
					}
					continue
				}
				if rep.Examples == nil {
					rep.Examples = map[string]Example{}
				}
				rep.Examples[name] = Example{Summary: str(em["summary"]), Description: str(em["description"]), Value: em["value"]}
			}
			r.Representations = append(r.Representations, rep)
		}
		out = append(out, r)
	}
	return out, nil
}

// Request is ARM's RequestContract as the importer writes it.
type Request struct {
	QueryParameters []TemplateParameter `json:"queryParameters,omitempty"`
	Headers         []TemplateParameter `json:"headers,omitempty"`
	// Representations are the request body's media types (requestBody),
	// with their schemas.
	Representations []Representation `json:"representations,omitempty"`
}

// requestParams collects the query parameters the URL template does not hold
// and the header parameters; cookie parameters have no ARM form (a warning).
func requestParams(inTemplate []TemplateParameter, params []param, where string, api *API) *Request {
	tmpl := map[string]bool{}
	for _, tp := range inTemplate {
		tmpl[tp.Name] = true
	}
	r := &Request{}
	for _, p := range params {
		tp := TemplateParameter{Name: p.name, Type: p.typ, Required: p.required, Description: p.desc, Values: p.enum}
		if tp.Type == "" {
			tp.Type = "string"
		}
		switch p.in {
		case "query":
			if !tmpl[p.name] {
				r.QueryParameters = append(r.QueryParameters, tp)
			}
		case "header":
			r.Headers = append(r.Headers, tp)
		case "cookie":
			api.Warnings = append(api.Warnings, fmt.Sprintf("%s: cookie parameter %q not imported (ARM has no cookie parameters)", where, p.name))
		}
	}
	if len(r.QueryParameters) == 0 && len(r.Headers) == 0 {
		return nil
	}
	return r
}
