package policy

import (
	"strings"
	"testing"
)

// TestTraceMetadataExpressions: metadata names and values may be expressions
// (APIM: "string literal or expressions"), evaluated per request.
func TestTraceMetadataExpressions(t *testing.T) {
	p := compilePipeline(t, Options{}, op(`<policies><inbound>
		<trace source="gw" severity="error"><message>m</message>
			<metadata name="method" value="@(context.Request.Method)"/>
			<metadata name="@(&quot;op-&quot; + context.Operation.Name)" value="const"/></trace>
		</inbound></policies>`))
	c := newCtx("DELETE", "/")
	rec := &traceRec{}
	c.Tracer = rec
	drive(t, p, c, nil)
	if got := strings.Join(rec.lines, "|"); got != "gw/error: m method=DELETE op-get-item=const" {
		t.Fatalf("trace %q", got)
	}
}

func TestTraceCompileErrors(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{`<trace source="s"/>`, "<message> is required"},
		{`<trace severity="error"><message>x</message></trace>`, `"source" is required`},
		{`<trace source="s" severity="loud"><message>x</message></trace>`, "loud"},
		{`<trace source="s"><message>x</message><metadata name="a"/></trace>`, `"value" is required`},
	} {
		_, err := NewCompiler(Options{}).Compile(ScopeOperation, Source{Name: "op.xml", XML: []byte(`<policies><inbound>` + tc.doc + `</inbound></policies>`)})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.doc, err, tc.want)
		}
	}
}
