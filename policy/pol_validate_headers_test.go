package policy

import (
	"strings"
	"testing"
)

// TestValidateHeaders: documented headers are checked for presence, type and
// values; undocumented ones get the unspecified action; overrides win;
// prevent fails to on-error with a 502.
func TestValidateHeaders(t *testing.T) {
	ex := []ResponseExample{{StatusCode: 200, ContentType: "application/json", Headers: []HeaderDef{
		{Name: "X-Rate", Type: "integer", Required: true},
		{Name: "X-Mode", Values: []string{"fast", "slow"}},
	}}}
	onError := `<on-error><set-header name="X-Err" exists-action="override"><value>@(context.LastError.Source + "|" + context.LastError.Reason + "|" + context.LastError.Message)</value></set-header></on-error>`
	doc := func(v string) docs {
		return op(`<policies><inbound/><backend><forward-request/></backend><outbound>` + v +
			`<set-header name="X-Errors" exists-action="override"><value>@(JsonConvert.SerializeObject(context.Variables["errs"]))</value></set-header></outbound>` + onError + `</policies>`)
	}
	const both = `specified-header-action="prevent" unspecified-header-action="prevent" errors-variable-name="errs"`
	cases := []struct {
		name, policy string
		headers      []string
		wantErr      string // X-Err prefix; "" = no on-error
		wantErrors   string // substring of X-Errors when wantErr is ""
	}{
		{"all documented and valid", `<validate-headers ` + both + `/>`, []string{"X-Rate", "10", "X-Mode", "fast"}, "", `[]`},
		{"optional header absent", `<validate-headers ` + both + `/>`, []string{"x-rate", "10"}, "", `[]`},
		{"required header missing", `<validate-headers ` + both + `/>`, []string{"X-Mode", "fast"},
			"validate-headers|Response not allowed|Header X-Rate is required by the API schema but missing.", ""},
		{"wrong type", `<validate-headers ` + both + `/>`, []string{"X-Rate", "ten"},
			"validate-headers|Response not allowed|Value of the header X-Rate does not conform to the definition.\n\n\"ten\": it is not of type integer.", ""},
		{"value not listed, detected", `<validate-headers specified-header-action="detect" unspecified-header-action="ignore" errors-variable-name="errs"/>`, []string{"X-Rate", "1", "X-Mode", "warp", "Server", "x"},
			"", `"Name":"X-Mode","Type":"ResponseHeader","ValidationRule":"IncorrectMessage","Details":"Value of the header X-Mode does not conform to the definition.\n\n\"warp\": it is not one of fast, slow.","Action":"detect"`},
		{"undocumented header prevented", `<validate-headers ` + both + `/>`, []string{"X-Rate", "1", "X-Debug", "stack"},
			"validate-headers|Response not allowed|Unspecified header X-Debug is not allowed.", ""},
		{"override lets one header through", `<validate-headers ` + both + `><header name="x-debug" action="ignore"/></validate-headers>`, []string{"X-Rate", "1", "X-Debug", "stack"}, "", `[]`},
		{"override on a documented header", `<validate-headers ` + both + `><header name="X-Rate" action="detect"/></validate-headers>`, nil, "", `"ValidationRule":"Required"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := compilePipeline(t, Options{}, doc(tc.policy))
			p.SetResponseExamples(ex)
			c := newCtx("GET", "/x")
			tr := drive(t, p, c, func(c *Context) {
				for i := 0; i+1 < len(tc.headers); i += 2 {
					c.Response.Headers.Add(tc.headers[i], tc.headers[i+1])
				}
			})
			if tc.wantErr != "" {
				if !tr.onError || !strings.HasPrefix(hdr(&c.Response.Headers, "X-Err"), tc.wantErr) || c.Response.StatusCode != 502 {
					t.Fatalf("on-error %v status %d X-Err %q, want %q", tr.onError, c.Response.StatusCode, hdr(&c.Response.Headers, "X-Err"), tc.wantErr)
				}
				return
			}
			if tr.onError {
				t.Fatalf("on-error ran: %q", hdr(&c.Response.Headers, "X-Err"))
			}
			if got := hdr(&c.Response.Headers, "X-Errors"); !strings.Contains(got, tc.wantErrors) {
				t.Errorf("errors variable %s, want it to contain %s", got, tc.wantErrors)
			}
		})
	}
	for _, bad := range []struct{ doc, want string }{
		{`<outbound><validate-headers specified-header-action="detect"/></outbound>`, `attribute "unspecified-header-action" is required`},
		{`<outbound><validate-headers specified-header-action="warn" unspecified-header-action="ignore"/></outbound>`, `is not one of ignore, prevent, detect`},
		{`<inbound><validate-headers specified-header-action="detect" unspecified-header-action="ignore"/></inbound>`, `validate-headers`},
		{`<outbound><validate-headers specified-header-action="detect" unspecified-header-action="ignore"><header action="ignore"/></validate-headers></outbound>`, `attribute "name" is required`},
		{`<outbound><validate-headers specified-header-action="detect" unspecified-header-action="ignore"><header name="a" action="ignore"/><header name="A" action="detect"/></validate-headers></outbound>`, `two <header> overrides`},
	} {
		_, err := NewCompiler(Options{}).Compile(ScopeOperation, Source{Name: "op.xml", XML: []byte(`<policies>` + bad.doc + `</policies>`)})
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v, want %q", bad.doc, err, bad.want)
		}
	}
}
