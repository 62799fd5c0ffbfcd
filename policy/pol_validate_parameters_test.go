package policy

import (
	"strings"
	"testing"
)

// TestValidateParameters: path, query and header parameters against the
// operation's documented ones; per-kind and per-parameter overrides; prevent
// answers 400 through on-error.
func TestValidateParameters(t *testing.T) {
	rp := &RequestParams{
		Path:    []HeaderDef{{Name: "id", Type: "integer", Required: true}},
		Query:   []HeaderDef{{Name: "sort", Values: []string{"asc", "desc"}}, {Name: "limit", Type: "integer", Required: true}},
		Headers: []HeaderDef{{Name: "X-Tenant", Required: true}},
	}
	onError := `<on-error><set-header name="X-Err" exists-action="override"><value>@(context.LastError.Source + "|" + context.LastError.Reason + "|" + context.LastError.Message)</value></set-header></on-error>`
	doc := func(v string) docs {
		return op(`<policies><inbound>` + v + `<set-header name="X-Errors" exists-action="override"><value>@(JsonConvert.SerializeObject(context.Variables["errs"]))</value></set-header></inbound><backend><forward-request/></backend>` + onError + `</policies>`)
	}
	const hdrIgnore = `<headers unspecified-parameter-action="ignore"/>`
	cases := []struct {
		name, policy string
		id           string
		query        [][2]string
		headers      []string
		wantErr      string
		wantErrors   string
	}{
		{"valid", `<validate-parameters specified-parameter-action="prevent" unspecified-parameter-action="prevent" errors-variable-name="errs">` + hdrIgnore + `</validate-parameters>`,
			"7", [][2]string{{"limit", "10"}, {"sort", "asc"}}, []string{"X-Tenant", "t1"}, "", `[]`},
		{"path type", `<validate-parameters specified-parameter-action="prevent" unspecified-parameter-action="prevent" errors-variable-name="errs">` + hdrIgnore + `</validate-parameters>`,
			"seven", [][2]string{{"limit", "10"}}, []string{"X-Tenant", "t1"}, "validate-parameters|Bad request|Value of the path parameter id does not conform to the definition.\n\n\"seven\": it is not of type integer.", ""},
		{"required query missing", `<validate-parameters specified-parameter-action="prevent" unspecified-parameter-action="prevent">` + hdrIgnore + `</validate-parameters>`,
			"7", nil, []string{"X-Tenant", "t1"}, `validate-parameters|Bad request|Request query parameter limit is required by the API schema but missing.`, ""},
		{"unspecified query", `<validate-parameters specified-parameter-action="prevent" unspecified-parameter-action="prevent">` + hdrIgnore + `</validate-parameters>`,
			"7", [][2]string{{"limit", "1"}, {"debug", "1"}}, []string{"X-Tenant", "t1"}, `validate-parameters|Bad request|Unspecified query parameter debug is not allowed.`, ""},
		{"unspecified header with the root action", `<validate-parameters specified-parameter-action="prevent" unspecified-parameter-action="prevent"/>`,
			"7", [][2]string{{"limit", "1"}}, []string{"X-Tenant", "t1", "User-Agent", "curl"}, `validate-parameters|Bad request|Unspecified header User-Agent is not allowed.`, ""},
		{"detect and overrides", `<validate-parameters specified-parameter-action="detect" unspecified-parameter-action="prevent" errors-variable-name="errs"><headers unspecified-parameter-action="ignore"><parameter name="x-tenant" action="ignore"/></headers><query><parameter name="debug" action="detect"/></query></validate-parameters>`,
			"7", [][2]string{{"limit", "1"}, {"sort", "sideways"}, {"debug", "1"}}, nil, "",
			`"Name":"sort","Type":"QueryParameter","ValidationRule":"IncorrectMessage"`},
		{"path kind overridden", `<validate-parameters specified-parameter-action="prevent" unspecified-parameter-action="ignore" errors-variable-name="errs"><path specified-parameter-action="ignore"/></validate-parameters>`,
			"seven", [][2]string{{"limit", "1"}}, []string{"X-Tenant", "t1"}, "", `[]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := compilePipeline(t, Options{}, doc(tc.policy))
			p.SetRequestParameters(rp)
			c := newCtx("GET", "/items/"+tc.id, tc.headers...)
			c.Request.MatchedParameters.Add("id", tc.id)
			for _, q := range tc.query {
				c.Request.Query.Add(q[0], q[1])
			}
			tr := drive(t, p, c, nil)
			if tc.wantErr != "" {
				if !tr.onError || !strings.HasPrefix(hdr(&c.Response.Headers, "X-Err"), tc.wantErr) || c.Response.StatusCode != 400 || tr.forwards != 0 {
					t.Fatalf("on-error %v status %d forwards %d X-Err %q, want %q", tr.onError, c.Response.StatusCode, tr.forwards, hdr(&c.Response.Headers, "X-Err"), tc.wantErr)
				}
				return
			}
			if tr.onError {
				t.Fatalf("on-error ran: %q", hdr(&c.Response.Headers, "X-Err"))
			}
			if got := hdr(&c.Request.Headers, "X-Errors"); !strings.Contains(got, tc.wantErrors) {
				t.Errorf("errors variable %s, want it to contain %s", got, tc.wantErrors)
			}
		})
	}
	for _, bad := range []struct{ doc, want string }{
		{`<inbound><validate-parameters specified-parameter-action="detect"/></inbound>`, `attribute "unspecified-parameter-action" is required`},
		{`<outbound><validate-parameters specified-parameter-action="detect" unspecified-parameter-action="ignore"/></outbound>`, `validate-parameters`},
		{`<inbound><validate-parameters specified-parameter-action="detect" unspecified-parameter-action="ignore"><path unspecified-parameter-action="ignore"/></validate-parameters></inbound>`, `unspecified-parameter-action`},
		{`<inbound><validate-parameters specified-parameter-action="detect" unspecified-parameter-action="ignore"><cookies/></validate-parameters></inbound>`, `<cookies> is not allowed`},
		{`<inbound><validate-parameters specified-parameter-action="detect" unspecified-parameter-action="ignore"><query/><query/></validate-parameters></inbound>`, `<query> is given twice`},
	} {
		_, err := NewCompiler(Options{}).Compile(ScopeOperation, Source{Name: "op.xml", XML: []byte(`<policies>` + bad.doc + `</policies>`)})
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v, want %q", bad.doc, err, bad.want)
		}
	}
}
