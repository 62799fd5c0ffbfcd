package policy

import (
	"fmt"
	"net/netip"
	"testing"
)

const hotPathDoc = `<policies>
	<inbound>
		<base/>
		<rate-limit-by-key calls="1000000000" renewal-period="60" counter-key="@(context.Subscription.Id)"/>
		<set-header name="x-gateway" exists-action="override"><value>apimgw</value></set-header>
	</inbound>
	<backend><forward-request timeout="30"/></backend>
	<outbound><base/><set-header name="x-powered-by" exists-action="delete"/></outbound>
</policies>`

// hotRequest fills a reused Context the way the appliance does per request.
func hotRequest(c *Context) {
	c.Reset()
	c.Request.Method, c.Request.Path = "GET", "/items/42"
	c.Request.Headers.Add("Host", "gw.example")
	c.Request.Headers.Add("Accept", "application/json")
	c.Request.ClientIP = netip.AddrFrom4([4]byte{10, 0, 0, 1})
	c.ID.SubscriptionID, c.ID.APIName, c.ID.OperationName = "sub-1", "echo", "get-item"
	c.Upstream.BaseURL = "http://127.0.0.1:9000"
}

// hotTrip runs one request through inbound, backend (one forward) and
// outbound, as the appliance would, and reports whether it went through.
func hotTrip(p *Pipeline, c *Context) bool {
	hotRequest(c)
	if p.Run(c, Inbound).Outcome != Continue {
		return false
	}
	if p.Run(c, Backend).Outcome != Forward {
		return false
	}
	c.Response.StatusCode = 200
	c.Response.Headers.Add("Content-Type", "application/json")
	if p.Resume(c).Outcome != Continue {
		return false
	}
	if p.Run(c, Outbound).Outcome != Continue {
		return false
	}
	c.Finish()
	return true
}

// TestHotPathAllocations pins the claim that a warmed-up request through
// rate-limit-by-key + set-header (every section, a forward and Finish) does not
// allocate.
func TestHotPathAllocations(t *testing.T) {
	p := compilePipeline(t, Options{}, docs{2: hotPathDoc})
	c := NewContext()
	if !hotTrip(p, c) {
		t.Fatal("request did not go through")
	}
	if v := hdr(&c.Request.Headers, "x-gateway"); v != "apimgw" {
		t.Fatalf("x-gateway %q", v)
	}
	const n = 5000
	if got, where := mallocs(n, func() { hotTrip(p, c) }); got != 0 {
		t.Fatalf("hot path: %d allocations in %d requests, want 0:\n%s", got, n, where)
	}
}

func BenchmarkHotPath(b *testing.B) {
	p := compilePipeline(b, Options{}, docs{2: hotPathDoc})
	c := NewContext()
	b.ReportAllocs()
	for b.Loop() {
		if !hotTrip(p, c) {
			b.Fatal("refused")
		}
	}
}

// BenchmarkHotPathParallel is the same with one Context per goroutine sharing
// the pipeline and State, as event loops do.
func BenchmarkHotPathParallel(b *testing.B) {
	p := compilePipeline(b, Options{}, docs{2: hotPathDoc})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		c := NewContext()
		for pb.Next() {
			hotTrip(p, c)
		}
	})
}

// BenchmarkBaseline is the floor the hot path is measured against: the same
// request filling with an empty pipeline (only the default forward).
func BenchmarkBaseline(b *testing.B) {
	p := compilePipeline(b, Options{}, docs{})
	c := NewContext()
	b.ReportAllocs()
	for b.Loop() {
		hotTrip(p, c)
	}
}

// snapshot100x20 builds the documents of a snapshot of 100 APIs with 20
// operations each: a global policy, a product policy, one per API and one per
// operation, with named values, a fragment and expressions throughout.
func snapshot100x20() (Options, Source, Source, []Source, [][]Source) {
	o := Options{
		NamedValues: map[string]NamedValue{"backend-host": {Value: "10.1.2.3"}, "secret-key": {Value: "k3y", Secret: true}},
		Fragments: map[string]Source{"common": {Name: "fragments/common", XML: []byte(`<fragment>
			<set-header name="x-request-id" exists-action="skip"><value>@(context.RequestId)</value></set-header>
			<set-variable name="tier" value="@(context.Request.Headers.GetValueOrDefault(&quot;x-tier&quot;, &quot;free&quot;).ToLower())"/>
			</fragment>`)}},
	}
	global := Source{Name: "global", XML: []byte(`<policies><inbound><include-fragment fragment-id="common"/><cors><allowed-origins><origin>*</origin></allowed-origins></cors></inbound>
		<backend><forward-request timeout="60"/></backend><outbound><set-header name="x-powered-by" exists-action="delete"/></outbound><on-error/></policies>`)}
	product := Source{Name: "products/starter", XML: []byte(`<policies><inbound><base/><quota calls="10000" renewal-period="86400"/></inbound></policies>`)}
	apis := make([]Source, 100)
	ops := make([][]Source, 100)
	for a := range apis {
		apis[a] = Source{Name: fmt.Sprintf("apis/api%d", a), XML: []byte(fmt.Sprintf(`<policies><inbound><base/>
			<rate-limit-by-key calls="100" renewal-period="60" counter-key="@(context.Subscription.Id + &quot;:%d&quot;)"/>
			<set-backend-service base-url="http://{{backend-host}}:8%03d"/>
			</inbound><backend><base/></backend><outbound><base/></outbound></policies>`, a, a))}
		ops[a] = make([]Source, 20)
		for o := range ops[a] {
			ops[a][o] = Source{Name: fmt.Sprintf("apis/api%d/operations/op%d", a, o), XML: []byte(fmt.Sprintf(`<policies><inbound><base/>
				<choose><when condition="@(context.Request.Method == &quot;POST&quot; &amp;&amp; context.Request.Headers.ContainsKey(&quot;x-debug&quot;))">
					<set-header name="x-debug-op" exists-action="override"><value>op%d</value></set-header></when>
				<otherwise><set-query-parameter name="v" exists-action="override"><value>%d</value></set-query-parameter></otherwise></choose>
				<rewrite-uri template="/v2/things/{id}"/>
				</inbound><backend><base/></backend><outbound><base/><set-header name="x-op" exists-action="override"><value>@($"{context.Operation.Name}-{context.Response.StatusCode}")</value></set-header></outbound><on-error><base/></on-error></policies>`, o, o))}
		}
	}
	return o, global, product, apis, ops
}

func compileSnapshot(tb testing.TB, o Options, global, product Source, apis []Source, ops [][]Source) int {
	cp := NewCompiler(o)
	g, err := cp.Compile(ScopeGlobal, global)
	if err != nil {
		tb.Fatal(err)
	}
	pr, err := cp.Compile(ScopeProduct, product)
	if err != nil {
		tb.Fatal(err)
	}
	n := 0
	for a := range apis {
		ap, err := cp.Compile(ScopeAPI, apis[a])
		if err != nil {
			tb.Fatal(err)
		}
		for _, os := range ops[a] {
			opp, err := cp.Compile(ScopeOperation, os)
			if err != nil {
				tb.Fatal(err)
			}
			if cp.Link(g, pr, ap, opp) != nil {
				n++
			}
		}
	}
	return n
}

func BenchmarkCompile100APIsx20Ops(b *testing.B) {
	o, g, p, apis, ops := snapshot100x20()
	b.ReportAllocs()
	for b.Loop() {
		if n := compileSnapshot(b, o, g, p, apis, ops); n != 2000 {
			b.Fatalf("%d pipelines", n)
		}
	}
}

func TestCompileSnapshotWorks(t *testing.T) {
	o, g, pr, apis, ops := snapshot100x20()
	if n := compileSnapshot(t, o, g, pr, apis, ops); n != 2000 {
		t.Fatalf("%d pipelines", n)
	}
}
