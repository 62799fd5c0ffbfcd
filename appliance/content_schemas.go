package appliance

import (
	"github.com/apimgw/apimgw/policy"
	"github.com/apimgw/apimgw/wire"
)

// apiSchemas parses an API's schemas (wire.API.Schemas) and the snapshot's
// service-level ones (wire.Snapshot.Schemas) once per snapshot;
// setContentSchemas gives them to an operation's pipelines, which compile
// what their validate-content policies need right then, not per request.
func apiSchemas(a *wire.API, global []wire.APISchema) *policy.SchemaSet {
	conv := func(in []wire.APISchema) []policy.APISchema {
		out := make([]policy.APISchema, 0, len(in))
		for _, s := range in {
			out = append(out, policy.APISchema{ID: s.ID, ContentType: s.ContentType, Document: s.Document})
		}
		return out
	}
	return policy.NewSchemaSet(conv(a.Schemas), conv(global))
}

// setContentSchemas must run after setResponseExamples (the pipelines'
// representations).
func setContentSchemas(pipes []*policy.Pipeline, set *policy.SchemaSet) {
	for _, p := range pipes {
		p.SetContentSchemas(set)
	}
}
