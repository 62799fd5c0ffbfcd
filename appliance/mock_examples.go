package appliance

import (
	"github.com/apimgw/apimgw/policy"
	"github.com/apimgw/apimgw/wire"
)

// setResponseExamples gives an operation's pipelines its documented
// responses (wire.Operation.Responses): mock-response answers with them,
// validate-status-code checks against them.
func setResponseExamples(pipes []*policy.Pipeline, o *wire.Operation) {
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
			ex = append(ex, policy.ResponseExample{StatusCode: r.StatusCode, ContentType: rep.ContentType, Body: rep.Example, Headers: hs})
		}
	}
	if ex == nil {
		return
	}
	for _, p := range pipes {
		p.SetResponseExamples(ex)
	}
}
