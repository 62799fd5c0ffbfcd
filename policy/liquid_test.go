package policy

import (
	"strings"
	"testing"
)

func TestSetBodyLiquid(t *testing.T) {
	pl := compilePipeline(t, Options{NamedValues: map[string]NamedValue{"nv": {Value: "named"}}}, op(`<policies><inbound>
<set-variable name="obj" value="one"/>
<set-body template="liquid">
{%- for header in context.Request.Headers -%}
{{ header.Key }}: {{ header.Value }};
{%- endfor %}
email={{context.Request.MatchedParameters["emailAddress"]}} accept={{ context.Request.Headers["Accept"] }} method={{context.Request.Method}} product={{context.Product.Name}} nv={{nv}}
<data val1="{{ context.Variables['obj'] }}" none="{{ context.Variables['nothing'] }}" />
name={{ body.name }}
</set-body></inbound>
<outbound><set-body template="liquid">status {{context.Response.StatusCode}}: {{ body.items[1] }}</set-body></outbound></policies>`))
	c := newCtx("POST", "/users/ann", "Accept", "text/plain", "X-B", "2")
	c.Request.MatchedParameters.Add("emailAddress", "ann@example.com")
	c.Request.Body, c.Request.Buffered = []byte(`{"name":"Ann"}`), true
	if r := pl.Run(c, Inbound); r.Outcome != Continue {
		t.Fatal(r)
	}
	got := string(c.Request.Body)
	for _, want := range []string{"Accept: text/plain;X-B: 2;", "email=ann@example.com accept=text/plain method=POST product=Starter nv=", `<data val1="one" none="" />`, "name=Ann"} {
		if !strings.Contains(got, want) {
			t.Errorf("inbound body %q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "named") {
		t.Errorf("a named value was substituted inside a Liquid template: %q", got)
	}
	c.Response.StatusCode, c.Response.Body, c.Response.BodyBuffered = 200, []byte(`{"items":["a","b"]}`), true
	if r := pl.Run(c, Outbound); r.Outcome != Continue || string(c.Response.Body) != "status 200: b" || !c.Response.BodySet {
		t.Fatalf("outbound: %v %q", r, c.Response.Body)
	}
	if !pl.ReadsRequestBody() || !pl.ReadsResponseBody() {
		t.Error("a Liquid set-body reads its body")
	}
	for _, bad := range []struct{ doc, want string }{
		{`<set-body template="liquid">{% for x in y %}</set-body>`, "liquid template"},
		{`<set-body template="handlebars">x</set-body>`, `"handlebars" is not one of none, liquid`},
		{`<set-body xsi-nil="null">x</set-body>`, `"xsi-nil" is not supported`},
	} {
		err := Check(Options{Offline: true}, "d", []byte("<policies><inbound>"+bad.doc+"</inbound></policies>"))
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v", bad.doc, err)
		}
	}
}

// FuzzLiquid: any template either fails to compile with an error or renders
// (or fails the request) without panicking.
func FuzzLiquid(f *testing.F) {
	for _, s := range []string{"{{ body.a }}", "{% for h in context.Request.Headers %}{{h.Key}}{% endfor %}", "{% if body %}x{% else %}y{% endif %}",
		"{{ context.Variables['v'] | upcase }}", "{% assign x = body.items | size %}{{x}}", "{% raw %}{{%{% endraw %}"} {
		f.Add(s, `{"a":1,"items":[1,2]}`)
	}
	f.Fuzz(func(t *testing.T, tpl, body string) {
		doc := "<policies><inbound><set-body template=\"liquid\"><![CDATA[" + strings.ReplaceAll(tpl, "]]>", "") + "]]></set-body></inbound></policies>"
		cp := NewCompiler(Options{})
		p, err := cp.Compile(ScopeOperation, Source{Name: "f", XML: []byte(doc)})
		if err != nil {
			return
		}
		c := newCtx("GET", "/", "A", "b")
		c.SetVariable("v", StringValue("x"))
		c.Request.Body, c.Request.Buffered = []byte(body), true
		cp.Link(nil, nil, nil, p).Run(c, Inbound)
	})
}
