package appliance

import (
	"github.com/apimgw/apimgw/policy"
	"github.com/apimgw/apimgw/wire"
)

// apiSchemas parses an API's schemas (wire.API.Schemas) once per snapshot;
// setContentSchemas gives them to an operation's pipelines, which compile
// what their validate-content policies need right then, not per request.
func apiSchemas(a *wire.API) *policy.SchemaSet {
	ss := make([]policy.APISchema, 0, len(a.Schemas))
	for _, s := range a.Schemas {
		ss = append(ss, policy.APISchema{ID: s.ID, ContentType: s.ContentType, Document: s.Document})
	}
	return policy.NewSchemaSet(ss)
}

// setContentSchemas must run after setResponseExamples (the pipelines'
// representations).
func setContentSchemas(pipes []*policy.Pipeline, set *policy.SchemaSet) {
	for _, p := range pipes {
		p.SetContentSchemas(set)
	}
}
