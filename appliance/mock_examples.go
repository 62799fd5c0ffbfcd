package appliance

import (
	"github.com/apimgw/apimgw/policy"
	"github.com/apimgw/apimgw/wire"
)

// setResponseExamples gives an operation's pipelines its documented
// responses (wire.Operation.Responses), which mock-response answers with.
func setResponseExamples(pipes []*policy.Pipeline, o *wire.Operation) {
	var ex []policy.ResponseExample
	for _, r := range o.Responses {
		for _, rep := range r.Representations {
			ex = append(ex, policy.ResponseExample{StatusCode: r.StatusCode, ContentType: rep.ContentType, Body: rep.Example})
		}
	}
	if ex == nil {
		return
	}
	for _, p := range pipes {
		p.SetResponseExamples(ex)
	}
}
