package policy

import (
	"strings"
	"testing"
)

// TestValidateStatusCode: documented codes pass; others get the unspecified
// action or their override; prevent fails to on-error with a 502; the errors
// variable holds APIM's fields.
func TestValidateStatusCode(t *testing.T) {
	ex := []ResponseExample{{StatusCode: 200, ContentType: "application/json"}, {StatusCode: 204}}
	onError := `<on-error><set-header name="X-Err" exists-action="override"><value>@(context.LastError.Source + "|" + context.LastError.Reason + "|" + context.LastError.Message)</value></set-header></on-error>`
	doc := func(v string) docs {
		return op(`<policies><inbound/><backend><forward-request/></backend><outbound>` + v +
			`<set-header name="X-Errors" exists-action="override"><value>@(context.Variables.ContainsKey("errs") ? JsonConvert.SerializeObject(context.Variables["errs"]) : "unset")</value></set-header></outbound>` + onError + `</policies>`)
	}
	cases := []struct {
		name, policy string
		backend      int
		wantStatus   int
		wantErr      string // X-Err prefix; "" = no on-error
		wantErrors   string // X-Errors (outbound ran) when wantErr is ""
	}{
		{"documented code passes", `<validate-status-code unspecified-status-code-action="prevent" errors-variable-name="errs"/>`, 200, 200, "", `[]`},
		{"documented without content", `<validate-status-code unspecified-status-code-action="prevent" errors-variable-name="errs"/>`, 204, 204, "", `[]`},
		{"prevent", `<validate-status-code unspecified-status-code-action="prevent" errors-variable-name="errs"/>`, 503, 502,
			"validate-status-code|Response not allowed|Response status code 503 is not allowed.", ""},
		{"detect goes on", `<validate-status-code unspecified-status-code-action="detect" errors-variable-name="errs"/>`, 503, 503, "",
			`[{"Name":"503","Type":"StatusCode","ValidationRule":"Unspecified","Details":"Response status code 503 is not allowed.","Action":"detect"}]`},
		{"ignore", `<validate-status-code unspecified-status-code-action="ignore" errors-variable-name="errs"/>`, 503, 503, "", `[]`},
		{"override for an unspecified code", `<validate-status-code unspecified-status-code-action="prevent" errors-variable-name="errs"><status-code code="404" action="ignore"/></validate-status-code>`, 404, 404, "", `[]`},
		{"override has no effect on a documented code", `<validate-status-code unspecified-status-code-action="ignore" errors-variable-name="errs"><status-code code="200" action="prevent"/></validate-status-code>`, 200, 200, "", `[]`},
		{"expression action", `<validate-status-code unspecified-status-code-action="@(&quot;de&quot; + &quot;tect&quot;)"/>`, 500, 500, "", `unset`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := compilePipeline(t, Options{}, doc(tc.policy))
			p.SetResponseExamples(ex)
			c := newCtx("GET", "/x")
			tr := drive(t, p, c, func(c *Context) {
				c.Response.StatusCode = tc.backend
				c.Response.Headers.Set("Set-Cookie", "backend-secret")
			})
			if c.Response.StatusCode != tc.wantStatus {
				t.Errorf("status %d, want %d", c.Response.StatusCode, tc.wantStatus)
			}
			if tc.wantErr != "" {
				if !tr.onError || !strings.HasPrefix(hdr(&c.Response.Headers, "X-Err"), tc.wantErr) {
					t.Fatalf("on-error %v, X-Err %q, want %q", tr.onError, hdr(&c.Response.Headers, "X-Err"), tc.wantErr)
				}
				if hdr(&c.Response.Headers, "Set-Cookie") != "" || !strings.Contains(string(c.Response.Body), `"statusCode":502`) {
					t.Errorf("prevent leaked the backend response: %v %s", c.Response.Headers.List, c.Response.Body)
				}
				return
			}
			if tr.onError {
				t.Fatalf("on-error ran: %q", hdr(&c.Response.Headers, "X-Err"))
			}
			if got := hdr(&c.Response.Headers, "X-Errors"); got != tc.wantErrors {
				t.Errorf("errors variable %s, want %s", got, tc.wantErrors)
			}
		})
	}
	for _, bad := range []struct{ doc, want string }{
		{`<outbound><validate-status-code/></outbound>`, `attribute "unspecified-status-code-action" is required`},
		{`<outbound><validate-status-code unspecified-status-code-action="block"/></outbound>`, `is not one of ignore, prevent, detect`},
		{`<inbound><validate-status-code unspecified-status-code-action="detect"/></inbound>`, `validate-status-code`},
		{`<outbound><validate-status-code unspecified-status-code-action="detect"><status-code code="700" action="ignore"/></validate-status-code></outbound>`, `"code": "700" is not an integer in [100, 599]`},
		{`<outbound><validate-status-code unspecified-status-code-action="detect"><status-code code="404" action="ignore"/><status-code code="404" action="detect"/></validate-status-code></outbound>`, `two <status-code> overrides`},
		{`<outbound><validate-status-code unspecified-status-code-action="detect"><code value="1"/></validate-status-code></outbound>`, `<code> is not allowed`},
		{`<outbound><validate-status-code unspecified-status-code-action="detect" errors-variable-name="@(&quot;x&quot;)"/></outbound>`, `does not accept an expression`},
	} {
		_, err := NewCompiler(Options{}).Compile(ScopeOperation, Source{Name: "op.xml", XML: []byte(`<policies>` + bad.doc + `</policies>`)})
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v, want %q", bad.doc, err, bad.want)
		}
	}
}
