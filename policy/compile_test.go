package policy

import (
	"errors"
	"strings"
	"testing"
)

func TestMergeAtBase(t *testing.T) {
	global := `<policies><inbound><set-header name="x-order" exists-action="append"><value>global</value></set-header></inbound>
		<backend><forward-request timeout="7"/></backend><outbound/><on-error/></policies>`
	product := `<policies><inbound><set-header name="x-order" exists-action="append"><value>product-before</value></set-header><base/><set-header name="x-order" exists-action="append"><value>product-after</value></set-header></inbound></policies>`
	api := `<policies><inbound><base/><set-header name="x-order" exists-action="append"><value>api</value></set-header></inbound><backend><base/></backend></policies>`
	opNoBase := `<policies><inbound><set-header name="x-order" exists-action="append"><value>op-only</value></set-header></inbound></policies>`
	opFirst := `<policies><inbound><set-header name="x-order" exists-action="append"><value>op</value></set-header><base/></inbound></policies>`
	cases := []struct {
		name string
		d    docs
		want string
	}{
		{"all scopes", docs{global, product, api, opFirst}, "op,product-before,global,product-after,api"},
		{"operation without base drops parents", docs{global, product, api, opNoBase}, "op-only"},
		{"missing scopes act as base", docs{global, "", api, ""}, "global,api"},
		{"no documents", docs{}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := compilePipeline(t, Options{}, tc.d)
			c := newCtx("GET", "/")
			if r := p.Run(c, Inbound); r.Outcome != Continue {
				t.Fatalf("inbound: %+v", r)
			}
			got, _ := c.Request.Headers.Joined("x-order")
			if got != tc.want {
				t.Fatalf("x-order = %q, want %q", got, tc.want)
			}
		})
	}
	// The global forward-request's timeout reaches the caller through the API's <base/>.
	p := compilePipeline(t, Options{}, docs{global, "", api, ""})
	c := newCtx("GET", "/")
	if r := p.Run(c, Backend); r.Outcome != Forward || c.Upstream.Timeout.Seconds() != 7 {
		t.Fatalf("backend: %+v timeout %v", r, c.Upstream.Timeout)
	}
	// Without any forward-request, the backend section forwards with APIM's defaults.
	p = compilePipeline(t, Options{}, docs{})
	c = newCtx("GET", "/")
	if r := p.Run(c, Backend); r.Outcome != Forward || c.Upstream.Timeout.Seconds() != 300 || !c.Upstream.BufferResponse {
		t.Fatalf("default backend: %+v %+v", r, c.Upstream)
	}
}

func TestFragmentsAndNamedValues(t *testing.T) {
	o := Options{
		NamedValues: map[string]NamedValue{"greeting": {Value: "hello"}, "api-key": {Value: "s3cr3t-value", Secret: true}},
		Fragments: map[string]Source{
			"outer": {Name: "fragments/outer.xml", XML: []byte(`<fragment><set-header name="x-outer" exists-action="override"><value>{{greeting}}</value></set-header><include-fragment fragment-id="inner"/></fragment>`)},
			"inner": {Name: "fragments/inner.xml", XML: []byte(`<fragment><set-header name="x-key" exists-action="override"><value>{{api-key}}</value></set-header></fragment>`)},
		},
	}
	p := compilePipeline(t, o, op(`<policies><inbound><include-fragment fragment-id="outer"/></inbound></policies>`))
	c := newCtx("GET", "/")
	p.Run(c, Inbound)
	if v, _ := c.Request.Headers.Get("x-outer"); v != "hello" {
		t.Fatalf("x-outer = %q", v)
	}
	if v, _ := c.Request.Headers.Get("x-key"); v != "s3cr3t-value" {
		t.Fatalf("x-key = %q", v)
	}
}

func TestCompileErrors(t *testing.T) {
	o := Options{
		NamedValues: map[string]NamedValue{"secret": {Value: "TOPSECRET", Secret: true}},
		Fragments: map[string]Source{
			"loop": {Name: "fragments/loop.xml", XML: []byte("<fragment>\n  <include-fragment fragment-id=\"loop\"/></fragment>")},
			"bad":  {Name: "fragments/bad.xml", XML: []byte("<fragment>\n  <xsl-transform/></fragment>")},
		},
	}
	cases := []struct {
		name, src string
		file      string
		pos       Pos
		element   string
		kind      error
		msg       string
	}{
		{"unknown policy", "<policies>\n <inbound>\n  <xsl-transform/>\n </inbound>\n</policies>",
			"op.xml", Pos{3, 3}, "xsl-transform", ErrUnsupported, "not supported"},
		{"unknown attribute", "<policies><inbound><set-header name=\"a\" bogus=\"1\"><value>v</value></set-header></inbound></policies>",
			"op.xml", Pos{1, 41}, "set-header", ErrUnsupported, `attribute "bogus"`},
		{"policy in wrong section", "<policies><outbound><rate-limit calls=\"1\" renewal-period=\"1\"/></outbound></policies>",
			"op.xml", Pos{1, 21}, "rate-limit", ErrInvalid, "not allowed in the outbound section"},
		{"unknown section", "<policies><inbond/></policies>", "op.xml", Pos{1, 11}, "inbond", ErrUnsupported, "unknown section"},
		{"base nested", "<policies><inbound><choose><when condition=\"true\"><base/></when></choose></inbound></policies>",
			"op.xml", Pos{1, 51}, "base", ErrInvalid, "only directly inside a section"},
		{"undefined named value", "<policies><inbound><set-header name=\"a\"><value>x {{nope}}</value></set-header></inbound></policies>",
			"op.xml", Pos{1, 50}, "value", ErrNamedValue, "{{nope}} is not defined"},
		{"unsupported expression", "<policies><inbound><set-variable name=\"a\" value=\"@(context.Deployment.Continent)\"/></inbound></policies>",
			"op.xml", Pos{1, 71}, "set-variable", ErrUnsupported, "IDeployment.Continent is not supported"},
		{"secret never in errors", "<policies><inbound><set-variable name=\"a\" value=\"@(&quot;{{secret}}&quot;.Frobnicate())\"/></inbound></policies>",
			"op.xml", Pos{}, "set-variable", ErrUnsupported, "method string.Frobnicate( ) is not supported"},
		{"fragment cycle", "<policies><inbound><include-fragment fragment-id=\"loop\"/></inbound></policies>",
			"fragments/loop.xml", Pos{2, 3}, "include-fragment", ErrFragment, "includes itself"},
		{"error inside fragment names the fragment", "<policies><inbound><include-fragment fragment-id=\"bad\"/></inbound></policies>",
			"fragments/bad.xml", Pos{2, 3}, "xsl-transform", ErrUnsupported, "not supported"},
		{"unknown fragment", "<policies><inbound><include-fragment fragment-id=\"zzz\"/></inbound></policies>",
			"op.xml", Pos{1, 20}, "include-fragment", ErrFragment, `"zzz" is not defined`},
		{"required attribute", "<policies><inbound><rate-limit-by-key calls=\"5\" renewal-period=\"60\"/></inbound></policies>",
			"op.xml", Pos{1, 20}, "rate-limit-by-key", ErrInvalid, `"counter-key" is required`},
		{"fragment as policy document", "<fragment/>", "op.xml", Pos{1, 1}, "fragment", ErrUnsupported, "root element must be <policies>"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewCompiler(o).Compile(ScopeOperation, Source{Name: "op.xml", XML: []byte(tc.src)})
			if err == nil {
				t.Fatal("compiled")
			}
			if strings.Contains(err.Error(), "TOPSECRET") {
				t.Fatalf("secret leaked: %v", err)
			}
			var l ErrorList
			if !errors.As(err, &l) {
				t.Fatalf("not an ErrorList: %v", err)
			}
			var found *Error
			for _, e := range l {
				if e.File == tc.file && e.Element == tc.element && strings.Contains(e.Msg, tc.msg) {
					found = e
				}
			}
			if found == nil {
				t.Fatalf("want %s <%s> %q; got\n%v", tc.file, tc.element, tc.msg, err)
			}
			if tc.pos != (Pos{}) && found.Pos != tc.pos {
				t.Errorf("position %v, want %v (%v)", found.Pos, tc.pos, found)
			}
			if !errors.Is(err, tc.kind) {
				t.Errorf("errors.Is(%v) false: %v", tc.kind, err)
			}
		})
	}
}
