package policy

import "testing"

// TestMockResponseExamples: status-code and content-type select the
// operation's documented example as APIM's reference describes.
func TestMockResponseExamples(t *testing.T) {
	ex := []ResponseExample{
		{StatusCode: 200, ContentType: "application/json", Body: `{"id":1}`},
		{StatusCode: 200, ContentType: "application/xml", Body: `<id>1</id>`},
		{StatusCode: 404, ContentType: "application/problem+json", Body: `{"title":"not found"}`},
		{StatusCode: 201, ContentType: "text/plain"}, // a representation without an example
	}
	cases := []struct {
		name, attrs   string
		status        int
		ct, body      string
		noExamples    bool
		section       string
		wantAnswered  Outcome
		wantForwarded bool
	}{
		{"defaults: 200, first content type", ``, 200, "application/json", `{"id":1}`, false, "inbound", Respond, false},
		{"content-type selects", `content-type="application/xml"`, 200, "application/xml", `<id>1</id>`, false, "inbound", Respond, false},
		{"content-type with parameters matches", `content-type="application/xml; charset=utf-8"`, 200, "application/xml; charset=utf-8", `<id>1</id>`, false, "inbound", Respond, false},
		{"status-code selects", `status-code="404"`, 404, "application/problem+json", `{"title":"not found"}`, false, "inbound", Respond, false},
		{"unknown content type: empty body, the given type", `content-type="text/csv"`, 200, "text/csv", ``, false, "inbound", Respond, false},
		{"undocumented status: empty", `status-code="500"`, 500, "", ``, false, "inbound", Respond, false},
		{"representation without example", `status-code="201"`, 201, "text/plain", ``, false, "inbound", Respond, false},
		{"no examples at all", `status-code="200" content-type="application/json"`, 200, "application/json", ``, true, "inbound", Respond, false},
		{"outbound replaces the backend's response", ``, 200, "application/json", `{"id":1}`, false, "outbound", Respond, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := `<policies><inbound><mock-response ` + tc.attrs + `/></inbound><backend><forward-request/></backend></policies>`
			if tc.section == "outbound" {
				doc = `<policies><inbound/><backend><forward-request/></backend><outbound><mock-response ` + tc.attrs + `/></outbound></policies>`
			}
			p := compilePipeline(t, Options{}, op(doc))
			if !tc.noExamples {
				p.SetResponseExamples(ex)
			}
			c := newCtx("GET", "/x")
			tr := drive(t, p, c, func(c *Context) {
				c.Response.Headers.Set("Content-Type", "text/html")
				c.Response.Body, c.Response.BodyBuffered = []byte("from the backend"), true
			})
			if tr.answered != tc.wantAnswered || (tr.forwards > 0) != tc.wantForwarded {
				t.Fatalf("trip %+v", tr)
			}
			if c.Response.StatusCode != tc.status || hdr(&c.Response.Headers, "Content-Type") != tc.ct || string(c.Response.Body) != tc.body || !c.Response.BodySet {
				t.Errorf("got %d %q %q (BodySet %v), want %d %q %q", c.Response.StatusCode, hdr(&c.Response.Headers, "Content-Type"), c.Response.Body,
					c.Response.BodySet, tc.status, tc.ct, tc.body)
			}
		})
	}
	// APIM documents inbound, outbound and on-error only.
	if _, err := NewCompiler(Options{}).Compile(ScopeOperation, Source{Name: "op.xml", XML: []byte(`<policies><backend><mock-response/></backend></policies>`)}); err == nil {
		t.Error("mock-response in backend compiled")
	}
	if _, err := NewCompiler(Options{}).Compile(ScopeOperation, Source{Name: "op.xml", XML: []byte(`<policies><inbound><mock-response status-code="@(200)"/></inbound></policies>`)}); err == nil {
		t.Error("mock-response with an expression compiled")
	}
}

// TestUsesOperationDocs: a pipeline says which operation documentation its
// policies read, so the appliance gives the rest none. Every policy that
// reads documented responses or the documented request is listed here.
func TestUsesOperationDocs(t *testing.T) {
	const vc = `<validate-content unspecified-content-type-action="prevent" max-size="1024" size-exceeded-action="prevent"/>`
	cases := []struct {
		name, inbound, outbound string
		responses, request      bool
	}{
		{"none", `<set-header name="X" exists-action="override"><value>1</value></set-header>`, ``, false, false},
		{"mock-response", `<mock-response/>`, ``, true, false},
		{"validate-headers", ``, `<validate-headers specified-header-action="prevent" unspecified-header-action="prevent"/>`, true, false},
		{"validate-status-code", ``, `<validate-status-code unspecified-status-code-action="prevent"/>`, true, false},
		{"validate-parameters", `<validate-parameters specified-parameter-action="prevent" unspecified-parameter-action="prevent"/>`, ``, false, true},
		{"validate-content on the request", vc, ``, false, true},
		{"validate-content on the response", ``, vc, true, false},
		{"inside choose", `<choose><when condition="@(true)"><mock-response/></when></choose>`, ``, true, false},
	}
	for _, tc := range cases {
		doc := `<policies><inbound>` + tc.inbound + `</inbound><backend><forward-request/></backend><outbound>` + tc.outbound + `</outbound></policies>`
		p := compilePipeline(t, Options{}, op(doc))
		if r, q := p.UsesOperationDocs(); r != tc.responses || q != tc.request {
			t.Errorf("%s: UsesOperationDocs = %t, %t; want %t, %t", tc.name, r, q, tc.responses, tc.request)
		}
	}
}
