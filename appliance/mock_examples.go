package appliance

import (
	"github.com/apimgw/apimgw/policy"
	"github.com/apimgw/apimgw/wire"
)

// setResponseExamples gives an operation's pipelines its documented
// responses (wire.Operation.Responses) — mock-response answers with them,
// validate-status-code and validate-headers check against them — and its
// documented parameters (template parameters and wire.Operation.Request, for
// validate-parameters). Only pipelines whose policies read them get them
// (Pipeline.UsesOperationDocs; most read none), and each is built once, when
// the first pipeline needs it.
func setResponseExamples(pipes []*policy.Pipeline, o *wire.Operation) {
	var ex []policy.ResponseExample
	var rp *policy.RequestParams
	for _, p := range pipes {
		responses, request := p.UsesOperationDocs()
		if request {
			if rp == nil {
				rp = requestParams(o)
			}
			p.SetRequestParameters(rp)
		}
		if responses {
			if ex == nil {
				ex = responseExamples(o)
			}
			if ex != nil {
				p.SetResponseExamples(ex)
			}
		}
	}
}

// responseExamples converts o's documented responses.
func responseExamples(o *wire.Operation) []policy.ResponseExample {
	var ex []policy.ResponseExample
	for _, r := range o.Responses {
		var hs []policy.HeaderDef
		for _, h := range r.Headers {
			hs = append(hs, policy.HeaderDef{Name: h.Name, Type: h.Type, Required: h.Required, Values: h.Values})
		}
		if len(r.Representations) == 0 {
			// Documented without content (204): validate-status-code knows it.
			ex = append(ex, policy.ResponseExample{StatusCode: r.StatusCode, Headers: hs})
		}
		for _, rep := range r.Representations {
			ex = append(ex, policy.ResponseExample{StatusCode: r.StatusCode, ContentType: rep.ContentType, Body: rep.Example, Headers: hs,
				SchemaID: rep.SchemaID, TypeName: rep.TypeName})
		}
	}
	return ex
}

// requestParams converts o's documented parameters and request
// representations.
func requestParams(o *wire.Operation) *policy.RequestParams {
	conv := func(ps []wire.TemplateParameter) []policy.HeaderDef {
		var out []policy.HeaderDef
		for _, p := range ps {
			out = append(out, policy.HeaderDef{Name: p.Name, Type: p.Type, Required: p.Required, Values: p.Values})
		}
		return out
	}
	rp := &policy.RequestParams{Path: conv(o.TemplateParameters)}
	if o.Request != nil {
		rp.Query, rp.Headers = conv(o.Request.QueryParameters), conv(o.Request.Headers)
		for _, rep := range o.Request.Representations {
			rp.Representations = append(rp.Representations, policy.ContentDef{ContentType: rep.ContentType, SchemaID: rep.SchemaID, TypeName: rep.TypeName})
		}
	}
	return rp
}
