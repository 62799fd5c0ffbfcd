package policy

import (
	"strings"
	"testing"
	"time"
)

func TestCacheValues(t *testing.T) {
	clk := newClock()
	st := NewState(clk.now)
	o := Options{State: st}
	store := compilePipeline(t, o, op(`<policies><inbound>
<cache-store-value key="@(&quot;tok-&quot; + context.Request.Headers.GetValueOrDefault(&quot;X-User&quot;, &quot;&quot;))" value="@(context.Request.Headers.GetValueOrDefault(&quot;X-Token&quot;, &quot;&quot;))" duration="60" caching-type="internal"/>
</inbound></policies>`))
	lookup := compilePipeline(t, o, op(`<policies><inbound>
<cache-lookup-value key="@(&quot;tok-&quot; + context.Request.Headers.GetValueOrDefault(&quot;X-User&quot;, &quot;&quot;))" variable-name="tok"/>
<cache-lookup-value key="nothing-here" variable-name="dflt" default-value="fallback"/>
</inbound></policies>`))
	remove := compilePipeline(t, o, op(`<policies><inbound><cache-remove-value key="tok-ann"/></inbound></policies>`))
	run := func(p *Pipeline, hdr ...string) *Context {
		c := newCtx("GET", "/", hdr...)
		if r := p.Run(c, Inbound); r.Outcome != Continue {
			t.Fatalf("run: %v", r)
		}
		return c
	}
	run(store, "X-User", "ann", "X-Token", "secret-1")
	c := run(lookup, "X-User", "ann")
	if v, ok := c.Variable("tok"); !ok || v.String() != "secret-1" {
		t.Fatalf("hit: %v %v", v, ok)
	}
	if v, ok := c.Variable("dflt"); !ok || v.String() != "fallback" {
		t.Fatalf("default: %v %v", v, ok)
	}
	if _, ok := run(lookup, "X-User", "bob").Variable("tok"); ok {
		t.Fatal("a miss without default-value set the variable")
	}
	clk.add(61 * time.Second)
	if _, ok := run(lookup, "X-User", "ann").Variable("tok"); ok {
		t.Fatal("expired entry found")
	}
	run(store, "X-User", "ann", "X-Token", "secret-2")
	run(remove)
	if _, ok := run(lookup, "X-User", "ann").Variable("tok"); ok {
		t.Fatal("removed entry found")
	}
	// The byte budget evicts the least recently used entries.
	st.SetCacheBudget(4 << 10)
	for i := 0; i < 100; i++ {
		run(store, "X-User", strings.Repeat("u", i+1), "X-Token", strings.Repeat("v", 200))
	}
	s := st.CacheStats()
	if s.Bytes > 4<<10 || s.Evictions == 0 || s.Expired != 1 || s.Hits != 1 {
		t.Fatalf("stats: %+v", s)
	}
	if _, ok := run(lookup, "X-User", strings.Repeat("u", 100)).Variable("tok"); !ok {
		t.Fatal("the newest entry was evicted")
	}
}

func TestAuthBasicAndReturnResponseVariable(t *testing.T) {
	pl := compilePipeline(t, Options{NamedValues: map[string]NamedValue{"pw": {Value: "s3cret", Secret: true}}}, op(`<policies><inbound>
<authentication-basic username="@(context.Request.Headers.GetValueOrDefault(&quot;X-U&quot;, &quot;&quot;))" password="{{pw}}"/>
<send-request response-variable-name="r"><set-url>http://svc.test/</set-url></send-request>
<return-response response-variable-name="r"><set-header name="X-Added" exists-action="override"><value>yes</value></set-header></return-response>
</inbound></policies>`))
	c := newCtx("GET", "/", "X-U", "ann")
	r := pl.Run(c, Inbound)
	if got, _ := c.Request.Headers.Get("Authorization"); got != "Basic YW5uOnMzY3JldA==" {
		t.Fatalf("Authorization %q", got)
	}
	if r.Outcome != Call {
		t.Fatalf("%v", r)
	}
	c.CallDone(&CallResponse{StatusCode: 202, Reason: "Accepted", Headers: []Header{{"Content-Type", "text/plain"}}, Body: []byte("queued")}, nil)
	if r = pl.Resume(c); r.Outcome != Respond {
		t.Fatalf("%v", r)
	}
	ct, _ := c.Response.Headers.Get("Content-Type")
	added, _ := c.Response.Headers.Get("X-Added")
	if c.Response.StatusCode != 202 || string(c.Response.Body) != "queued" || ct != "text/plain" || added != "yes" {
		t.Fatalf("response %+v", c.Response)
	}
	for _, bad := range []struct{ doc, want string }{
		{`<authentication-basic username="a"/>`, `"password" is required`},
		{`<cache-store-value key="k" value="v"/>`, `"duration" is required`},
	} {
		err := Check(Options{Offline: true}, "d", []byte("<policies><inbound>"+bad.doc+"</inbound></policies>"))
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v", bad.doc, err)
		}
	}
}

func TestEmitMetric(t *testing.T) {
	st := NewState(nil)
	pl := compilePipeline(t, Options{State: st}, op(`<policies><inbound>
<emit-metric name="calls" value="@(context.Request.Headers.GetValueOrDefault(&quot;X-N&quot;, &quot;1&quot;))" namespace="shop">
  <dimension name="API ID"/><dimension name="Client" value="@(context.Request.Headers.GetValueOrDefault(&quot;X-Client&quot;, &quot;anon&quot;))"/>
</emit-metric></inbound></policies>`))
	for _, h := range [][]string{{"X-N", "2", "X-Client", "a"}, {"X-N", "3", "X-Client", "a"}, {"X-Client", "b"}} {
		if r := pl.Run(newCtx("GET", "/", h...), Inbound); r.Outcome != Continue {
			t.Fatal(r)
		}
	}
	got := st.EmittedMetrics()
	if len(got) != 2 || got[0].Sum != 5 || got[0].Count != 2 || got[0].Dimensions[0].Value != "echo" || got[0].Dimensions[1].Value != "a" ||
		got[1].Sum != 1 || got[1].Namespace != "shop" || got[1].Name != "calls" {
		t.Fatalf("%+v", got)
	}
	for _, bad := range []struct{ doc, want string }{
		{`<emit-metric name="m"><dimension name="Custom"/></emit-metric>`, "needs a value"},
		{`<emit-metric/>`, `"name" is required`},
		{`<emit-metric name="m"><dimension name="a" value="1"/><dimension name="b" value="1"/><dimension name="c" value="1"/><dimension name="d" value="1"/><dimension name="e" value="1"/><dimension name="f" value="1"/></emit-metric>`, "at most 5"},
	} {
		err := Check(Options{Offline: true}, "d", []byte("<policies><inbound>"+bad.doc+"</inbound></policies>"))
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v", bad.doc, err)
		}
	}
}
