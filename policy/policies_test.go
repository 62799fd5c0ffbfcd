package policy

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func hdr(h *Headers, name string) string { v, _ := h.Joined(name); return v }

func TestCheckHeader(t *testing.T) {
	p := compilePipeline(t, Options{}, op(`<policies><inbound>
		<check-header name="X-Role" failed-check-httpcode="401" failed-check-error-message="Not authorized" ignore-case="true">
			<value>admin</value><value>ops</value>
		</check-header></inbound></policies>`))
	cases := []struct {
		name    string
		headers []string
		want    Outcome
	}{
		{"missing", nil, Respond},
		{"wrong value", []string{"x-role", "guest"}, Respond},
		{"listed value", []string{"X-Role", "ops"}, Continue},
		{"ignore case", []string{"x-role", "ADMIN"}, Continue},
		{"second header instance matches", []string{"X-Role", "guest", "X-Role", "admin"}, Continue},
	}
	for _, tc := range cases {
		c := newCtx("GET", "/", tc.headers...)
		tr := drive(t, p, c, nil)
		if tr.answered != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, tr.answered, tc.want)
		}
		if tc.want == Respond && (c.Response.StatusCode != 401 || string(c.Response.Body) != `{"statusCode":401,"message":"Not authorized"}`) {
			t.Errorf("%s: %d %s", tc.name, c.Response.StatusCode, c.Response.Body)
		}
	}
}

func TestIPFilter(t *testing.T) {
	allow := compilePipeline(t, Options{}, op(`<policies><inbound><ip-filter action="allow">
		<address>192.0.2.7</address><address-range from="10.0.0.0" to="10.0.0.255"/><address>2001:db8::1</address>
		</ip-filter></inbound></policies>`))
	forbid := compilePipeline(t, Options{}, op(`<policies><inbound><ip-filter action="forbid"><address-range from="10.0.0.0" to="10.0.0.9"/></ip-filter></inbound></policies>`))
	cases := []struct {
		p    *Pipeline
		ip   string
		want Outcome
	}{
		{allow, "192.0.2.7", Continue},
		{allow, "10.0.0.200", Continue},
		{allow, "::ffff:10.0.0.3", Continue},
		{allow, "2001:db8::1", Continue},
		{allow, "10.0.1.0", Respond},
		{allow, "2001:db8::2", Respond},
		{forbid, "10.0.0.5", Respond},
		{forbid, "10.0.0.10", Continue},
	}
	for i, tc := range cases {
		c := newCtx("GET", "/")
		c.Request.ClientIP = netip.MustParseAddr(tc.ip)
		tr := drive(t, tc.p, c, nil)
		if tr.answered != tc.want || tc.want == Respond && c.Response.StatusCode != 403 {
			t.Errorf("%d %s: %v %d, want %v", i, tc.ip, tr.answered, c.Response.StatusCode, tc.want)
		}
	}
}

func TestCors(t *testing.T) {
	p := compilePipeline(t, Options{}, op(`<policies><inbound><cors allow-credentials="true">
		<allowed-origins><origin>https://app.example</origin></allowed-origins>
		<allowed-methods preflight-result-max-age="300"><method>GET</method><method>PUT</method></allowed-methods>
		<allowed-headers><header>content-type</header><header>x-token</header></allowed-headers>
		<expose-headers><header>x-trace</header></expose-headers>
		</cors></inbound></policies>`))
	cases := []struct {
		name    string
		method  string
		headers []string
		want    Outcome
		resp    map[string]string
	}{
		{"preflight allowed", "OPTIONS", []string{"Origin", "https://app.example", "Access-Control-Request-Method", "PUT", "Access-Control-Request-Headers", "X-Token"}, Respond,
			map[string]string{"Access-Control-Allow-Origin": "https://app.example", "Access-Control-Allow-Credentials": "true", "Access-Control-Allow-Methods": "PUT", "Access-Control-Allow-Headers": "X-Token", "Access-Control-Max-Age": "300"}},
		{"preflight bad method", "OPTIONS", []string{"Origin", "https://app.example", "Access-Control-Request-Method", "DELETE"}, Respond,
			map[string]string{"Access-Control-Allow-Origin": ""}},
		{"preflight bad origin", "OPTIONS", []string{"Origin", "https://evil.example", "Access-Control-Request-Method", "GET"}, Respond,
			map[string]string{"Access-Control-Allow-Origin": ""}},
		{"simple allowed", "GET", []string{"Origin", "https://app.example"}, Continue,
			map[string]string{"Access-Control-Allow-Origin": "https://app.example", "Access-Control-Expose-Headers": "x-trace"}},
		{"simple unmatched terminates", "GET", []string{"Origin", "https://evil.example"}, Respond, map[string]string{"Access-Control-Allow-Origin": ""}},
		{"same origin", "GET", nil, Continue, map[string]string{"Access-Control-Allow-Origin": ""}},
	}
	for _, tc := range cases {
		c := newCtx(tc.method, "/", tc.headers...)
		tr := drive(t, p, c, nil)
		if tr.answered != tc.want || c.Response.StatusCode != 200 {
			t.Errorf("%s: %v %d, want %v", tc.name, tr.answered, c.Response.StatusCode, tc.want)
		}
		for k, v := range tc.resp {
			if got := hdr(&c.Response.Headers, k); got != v {
				t.Errorf("%s: %s = %q, want %q", tc.name, k, got, v)
			}
		}
	}
}

func TestRateLimit(t *testing.T) {
	clk := newClock()
	st := NewState(clk.now)
	p := compilePipeline(t, Options{State: st}, docs{1: `<policies><inbound><rate-limit calls="2" renewal-period="60" remaining-calls-header-name="x-remaining" remaining-calls-variable-name="left"/></inbound></policies>`})
	call := func(sub string) *Context {
		c := newCtx("GET", "/")
		c.ID.SubscriptionID = sub
		drive(t, p, c, nil)
		return c
	}
	if c := call("a"); c.Response.StatusCode != 200 || hdr(&c.Response.Headers, "x-remaining") != "1" {
		t.Fatalf("first: %d remaining %q", c.Response.StatusCode, hdr(&c.Response.Headers, "x-remaining"))
	}
	call("a")
	c := call("a")
	if c.Response.StatusCode != 429 || hdr(&c.Response.Headers, "Retry-After") != "60" ||
		string(c.Response.Body) != `{"statusCode":429,"message":"Rate limit is exceeded. Try again in 60 seconds."}` {
		t.Fatalf("third: %d %q %s", c.Response.StatusCode, hdr(&c.Response.Headers, "Retry-After"), c.Response.Body)
	}
	if c := call("b"); c.Response.StatusCode != 200 {
		t.Fatalf("other subscription: %d", c.Response.StatusCode)
	}
	clk.add(30 * time.Second)
	if c := call("a"); c.Response.StatusCode != 429 || hdr(&c.Response.Headers, "Retry-After") != "30" {
		t.Fatalf("after 30s: %d %q", c.Response.StatusCode, hdr(&c.Response.Headers, "Retry-After"))
	}
	clk.add(30 * time.Second)
	if c := call("a"); c.Response.StatusCode != 200 {
		t.Fatalf("after renewal: %d", c.Response.StatusCode)
	}
}

func TestRateLimitByKey(t *testing.T) {
	clk := newClock()
	st := NewState(clk.now)
	doc := `<policies><inbound><rate-limit-by-key calls="2" renewal-period="10" counter-key="@(context.Request.Headers.GetValueOrDefault(&quot;x-client&quot;, &quot;anon&quot;))"
		increment-condition="@(context.Response.StatusCode == 200)" retry-after-header-name="x-retry" retry-after-variable-name="wait"/></inbound></policies>`
	p := compilePipeline(t, Options{State: st}, docs{2: doc})
	call := func(client string, status int) *Context {
		c := newCtx("GET", "/", "x-client", client)
		drive(t, p, c, func(c *Context) { c.Response.StatusCode = status })
		return c
	}
	// Failures are not counted (increment-condition), successes are.
	for i := 0; i < 5; i++ {
		if c := call("c1", 500); c.Response.StatusCode != 500 {
			t.Fatalf("failure %d was limited: %d", i, c.Response.StatusCode)
		}
	}
	call("c1", 200)
	call("c1", 200)
	c := call("c1", 200)
	if c.Response.StatusCode != 429 || hdr(&c.Response.Headers, "x-retry") != "10" {
		t.Fatalf("third success: %d %q", c.Response.StatusCode, hdr(&c.Response.Headers, "x-retry"))
	}
	if v, _ := c.Variable("wait"); v.String() != "10" {
		t.Fatalf("retry-after variable %v", v)
	}
	if c := call("c2", 200); c.Response.StatusCode != 200 {
		t.Fatalf("other key limited")
	}
	// A config swap (new compile, same Source name, same State) keeps the counter;
	// a different document identity starts afresh.
	p = compilePipeline(t, Options{State: st}, docs{2: doc})
	c = newCtx("GET", "/", "x-client", "c1")
	if drive(t, p, c, nil); c.Response.StatusCode != 429 {
		t.Fatalf("after swap: %d", c.Response.StatusCode)
	}
	p = compilePipeline(t, Options{State: st}, docs{3: doc})
	c = newCtx("GET", "/", "x-client", "c1")
	if drive(t, p, c, nil); c.Response.StatusCode != 200 {
		t.Fatalf("other identity: %d", c.Response.StatusCode)
	}
}

func TestQuota(t *testing.T) {
	clk := newClock()
	st := NewState(clk.now)
	doc := docs{1: `<policies><inbound><quota calls="2" renewal-period="3600"/></inbound></policies>`}
	p := compilePipeline(t, Options{State: st}, doc)
	for i := 0; i < 2; i++ {
		c := newCtx("GET", "/")
		if drive(t, p, c, nil); c.Response.StatusCode != 200 {
			t.Fatalf("call %d: %d", i, c.Response.StatusCode)
		}
	}
	clk.add(20 * time.Minute)
	c := newCtx("GET", "/")
	drive(t, p, c, nil)
	if c.Response.StatusCode != 403 || hdr(&c.Response.Headers, "Retry-After") != "2400" ||
		string(c.Response.Body) != `{"statusCode":403,"message":"Out of call volume quota. Quota will be replenished in 0.00:40:00."}` {
		t.Fatalf("over quota: %d %q %s", c.Response.StatusCode, hdr(&c.Response.Headers, "Retry-After"), c.Response.Body)
	}
	// Checkpoint and restore into a fresh State (a restart): still over quota.
	saved := st.QuotaCounters()
	if len(saved) != 1 || saved[0].Calls != 2 || !saved[0].PeriodStart.Equal(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("checkpoint %+v", saved)
	}
	st2 := NewState(clk.now)
	if err := st2.RestoreQuotas(saved); err != nil {
		t.Fatal(err)
	}
	p = compilePipeline(t, Options{State: st2}, doc)
	c = newCtx("GET", "/")
	if drive(t, p, c, nil); c.Response.StatusCode != 403 {
		t.Fatalf("after restore: %d", c.Response.StatusCode)
	}
	if err := st2.RestoreQuotas([]QuotaCounter{{Policy: "x", Calls: -1}}); err == nil {
		t.Fatal("negative counter accepted")
	}
	clk.add(40 * time.Minute)
	c = newCtx("GET", "/")
	if drive(t, p, c, nil); c.Response.StatusCode != 200 {
		t.Fatalf("next period: %d", c.Response.StatusCode)
	}
}

func TestQuotaByKeyBandwidth(t *testing.T) {
	clk := newClock()
	p := compilePipeline(t, Options{State: NewState(clk.now)}, op(`<policies><inbound>
		<quota-by-key bandwidth="1" renewal-period="86400" counter-key="@(context.Request.IpAddress)" first-period-start="2026-01-01T00:00:00Z"/>
		</inbound></policies>`))
	c := newCtx("GET", "/")
	drive(t, p, c, nil)
	// drive calls Finish before we can set Transferred, so count explicitly:
	c = newCtx("GET", "/")
	r := p.Run(c, Inbound)
	if r.Outcome != Continue {
		t.Fatalf("%+v", r)
	}
	c.Transferred = 2048
	c.Finish()
	c = newCtx("GET", "/")
	drive(t, p, c, nil)
	if c.Response.StatusCode != 403 || !strings.Contains(string(c.Response.Body), "Out of bandwidth quota. Quota will be replenished in 0.14:00:00.") {
		t.Fatalf("%d %s", c.Response.StatusCode, c.Response.Body)
	}
}

func TestLimitConcurrency(t *testing.T) {
	st := NewState(nil)
	p := compilePipeline(t, Options{State: st}, op(`<policies><backend><limit-concurrency key="@(context.Api.Name)" max-count="1"><forward-request timeout="5"/></limit-concurrency></backend></policies>`))
	c1 := newCtx("GET", "/")
	p.Run(c1, Inbound)
	if r := p.Run(c1, Backend); r.Outcome != Forward {
		t.Fatalf("first: %+v", r)
	}
	c2 := newCtx("GET", "/")
	p.Run(c2, Inbound)
	if r := p.Run(c2, Backend); r.Outcome != Respond || c2.Response.StatusCode != 429 {
		t.Fatalf("second while first in flight: %+v %d", r, c2.Response.StatusCode)
	}
	c2.Finish()
	c1.Response.StatusCode = 200
	if r := p.Resume(c1); r.Outcome != Continue {
		t.Fatalf("resume: %+v", r)
	}
	c1.Finish()
	if n := st.Concurrent(p.sections[Backend][0].step.(*concEnter).m.id, "echo"); n != 0 {
		t.Fatalf("slots still held: %d", n)
	}
	c3 := newCtx("GET", "/")
	p.Run(c3, Inbound)
	if r := p.Run(c3, Backend); r.Outcome != Forward {
		t.Fatalf("third: %+v", r)
	}
	// Leaving early (no Resume) releases at Finish.
	c3.Finish()
	c4 := newCtx("GET", "/")
	if r := p.Run(c4, Backend); r.Outcome != Forward {
		t.Fatalf("fourth: %+v", r)
	}
}

func TestTransformations(t *testing.T) {
	o := Options{Backends: map[string]string{"b1": "https://b1.internal:8443/base"}}
	cases := []struct {
		name  string
		doc   string
		setup func(c *Context)
		check func(t *testing.T, c *Context, tr trip)
	}{
		{"set-header actions", `<policies><inbound>
			<set-header name="x-a" exists-action="override"><value>1</value></set-header>
			<set-header name="x-keep" exists-action="skip"><value>new</value></set-header>
			<set-header name="x-new" exists-action="skip"><value>new</value></set-header>
			<set-header name="x-multi" exists-action="append"><value>2</value><value>3</value></set-header>
			<set-header name="x-drop" exists-action="delete"/>
			<set-header name="x-expr" exists-action="override"><value>@(context.Request.Method + "!")</value></set-header>
			</inbound><outbound><set-header name="x-out" exists-action="override"><value>o</value></set-header></outbound></policies>`,
			func(c *Context) {
				c.Request.Headers.Add("X-A", "0")
				c.Request.Headers.Add("x-keep", "old")
				c.Request.Headers.Add("x-multi", "1")
				c.Request.Headers.Add("x-drop", "z")
			},
			func(t *testing.T, c *Context, tr trip) {
				h := &c.Request.Headers
				for k, v := range map[string]string{"x-a": "1", "x-keep": "old", "x-new": "new", "x-multi": "1,2,3", "x-drop": "", "x-expr": "GET!"} {
					if got := hdr(h, k); got != v {
						t.Errorf("%s = %q, want %q", k, got, v)
					}
				}
				if hdr(&c.Response.Headers, "x-out") != "o" {
					t.Errorf("response header missing")
				}
			}},
		{"set-query-parameter", `<policies><inbound>
			<set-query-parameter name="a" exists-action="override"><value>9</value></set-query-parameter>
			<set-query-parameter name="b" exists-action="append"><value>2</value></set-query-parameter>
			<set-query-parameter name="c" exists-action="delete"/>
			<set-query-parameter name="d" exists-action="skip"><value>x</value></set-query-parameter>
			</inbound></policies>`,
			func(c *Context) {
				c.Request.Query.Add("a", "1")
				c.Request.Query.Add("b", "1")
				c.Request.Query.Add("c", "1")
			},
			func(t *testing.T, c *Context, tr trip) {
				got := ""
				for _, q := range c.Request.Query.List {
					got += q.Name + "=" + q.Value + "&"
				}
				if got != "b=1&a=9&b=2&d=x&" {
					t.Errorf("query %q", got)
				}
			}},
		{"rewrite-uri", `<policies><inbound><rewrite-uri template="/v2/items/{id}?view={view}&amp;fixed=1"/></inbound></policies>`,
			func(c *Context) {
				c.Request.MatchedParameters.Add("id", "a b")
				c.Request.Query.Add("view", "full")
				c.Request.Query.Add("other", "x")
			},
			func(t *testing.T, c *Context, tr trip) {
				if c.Request.Path != "/v2/items/a%20b" {
					t.Errorf("path %q", c.Request.Path)
				}
				got := ""
				for _, q := range c.Request.Query.List {
					got += q.Name + "=" + q.Value + "&"
				}
				if got != "view=full&fixed=1&other=x&" {
					t.Errorf("query %q", got)
				}
			}},
		{"rewrite-uri without copying", `<policies><inbound><rewrite-uri template="/x" copy-unmatched-params="false"/></inbound></policies>`,
			func(c *Context) { c.Request.Query.Add("other", "x") },
			func(t *testing.T, c *Context, tr trip) {
				if c.Request.Path != "/x" || len(c.Request.Query.List) != 0 {
					t.Errorf("%q %v", c.Request.Path, c.Request.Query.List)
				}
			}},
		{"set-method", `<policies><inbound><set-method>POST</set-method></inbound></policies>`, nil,
			func(t *testing.T, c *Context, tr trip) {
				if c.Request.Method != "POST" {
					t.Errorf("method %q", c.Request.Method)
				}
			}},
		{"set-backend-service base-url expression", `<policies><inbound><set-backend-service base-url="@(&quot;http://&quot; + context.Api.Name + &quot;.svc&quot;)"/></inbound></policies>`, nil,
			func(t *testing.T, c *Context, tr trip) {
				if c.Upstream.BaseURL != "http://echo.svc" {
					t.Errorf("base %q", c.Upstream.BaseURL)
				}
			}},
		{"set-backend-service backend-id", `<policies><inbound><set-backend-service backend-id="b1"/></inbound></policies>`, nil,
			func(t *testing.T, c *Context, tr trip) {
				if c.Upstream.BaseURL != "https://b1.internal:8443/base" {
					t.Errorf("base %q", c.Upstream.BaseURL)
				}
			}},
		{"forward-request options", `<policies><backend><forward-request timeout="12" buffer-request-body="false" buffer-response="true" follow-redirects="false" fail-on-error-status-code="false"/></backend></policies>`, nil,
			func(t *testing.T, c *Context, tr trip) {
				u := c.Upstream
				if tr.forwards != 1 || u.Timeout != 12*time.Second || u.BufferRequestBody || !u.BufferResponse || u.FollowRedirects || u.FailOnErrorStatus {
					t.Errorf("%d %+v", tr.forwards, u)
				}
			}},
		{"set-status and set-body in outbound", `<policies><outbound><set-status code="201" reason="Made"/><set-body>@("made " + context.Response.StatusCode)</set-body></outbound></policies>`, nil,
			func(t *testing.T, c *Context, tr trip) {
				if c.Response.StatusCode != 201 || c.Response.Reason != "Made" || string(c.Response.Body) != "made 201" || !c.Response.BodySet {
					t.Errorf("%d %q %q", c.Response.StatusCode, c.Response.Reason, c.Response.Body)
				}
			}},
		{"set-body literal on the request", `<policies><inbound><set-body>{"hello":"world"}</set-body></inbound></policies>`, nil,
			func(t *testing.T, c *Context, tr trip) {
				if string(c.Request.Body) != `{"hello":"world"}` || !c.Request.Buffered {
					t.Errorf("%q", c.Request.Body)
				}
			}},
		{"set-body inline XML", `<policies><inbound><set-body><root><a x="1">t</a></root></set-body></inbound></policies>`, nil,
			func(t *testing.T, c *Context, tr trip) {
				if string(c.Request.Body) != `<root><a x="1">t</a></root>` {
					t.Errorf("%q", c.Request.Body)
				}
			}},
		{"return-response skips the rest", `<policies><inbound><return-response><set-status code="418" reason="Teapot"/><set-header name="x-r" exists-action="override"><value>1</value></set-header><set-body>short</set-body></return-response><set-header name="x-after" exists-action="override"><value>1</value></set-header></inbound><outbound><set-header name="x-out" exists-action="override"><value>1</value></set-header></outbound></policies>`, nil,
			func(t *testing.T, c *Context, tr trip) {
				if tr.answered != Respond || tr.forwards != 0 || c.Response.StatusCode != 418 || string(c.Response.Body) != "short" || hdr(&c.Response.Headers, "x-r") != "1" || hdr(&c.Response.Headers, "x-out") != "" || c.Request.Headers.Has("x-after") {
					t.Errorf("%+v %d %q", tr, c.Response.StatusCode, c.Response.Body)
				}
			}},
		{"mock-response", `<policies><inbound><mock-response status-code="204" content-type="application/json"/></inbound></policies>`, nil,
			func(t *testing.T, c *Context, tr trip) {
				if tr.answered != Respond || c.Response.StatusCode != 204 || hdr(&c.Response.Headers, "Content-Type") != "application/json" {
					t.Errorf("%+v %d", tr, c.Response.StatusCode)
				}
			}},
		{"set-variable and choose", `<policies><inbound>
			<set-variable name="tier" value="@(context.Request.Headers.GetValueOrDefault(&quot;x-tier&quot;, &quot;free&quot;))"/>
			<set-variable name="literal" value="10"/>
			<choose>
				<when condition="@((string)context.Variables[&quot;tier&quot;] == &quot;gold&quot;)"><set-header name="x-path" exists-action="override"><value>gold</value></set-header></when>
				<when condition="@(context.Variables.GetValueOrDefault&lt;string&gt;(&quot;tier&quot;) == &quot;silver&quot;)"><set-header name="x-path" exists-action="override"><value>silver</value></set-header></when>
				<otherwise><set-header name="x-path" exists-action="override"><value>other</value></set-header></otherwise>
			</choose></inbound></policies>`,
			func(c *Context) { c.Request.Headers.Add("x-tier", "silver") },
			func(t *testing.T, c *Context, tr trip) {
				if hdr(&c.Request.Headers, "x-path") != "silver" {
					t.Errorf("x-path %q", hdr(&c.Request.Headers, "x-path"))
				}
				if v, _ := c.Variable("literal"); v.String() != "10" {
					t.Errorf("literal %v", v)
				}
			}},
		{"choose otherwise", `<policies><inbound><choose><when condition="false"><set-method>PUT</set-method></when><otherwise><set-method>DELETE</set-method></otherwise></choose></inbound></policies>`, nil,
			func(t *testing.T, c *Context, tr trip) {
				if c.Request.Method != "DELETE" {
					t.Errorf("method %q", c.Request.Method)
				}
			}},
		{"retry until success", `<policies><backend><retry condition="@(context.Response.StatusCode == 503)" count="3" interval="2" delta="1" first-fast-retry="true"><forward-request/></retry></backend></policies>`, nil,
			func(t *testing.T, c *Context, tr trip) {
				if tr.forwards != 4 || len(tr.waits) != 2 || tr.waits[0] != 2*time.Second || tr.waits[1] != 3*time.Second {
					t.Errorf("forwards %d waits %v", tr.forwards, tr.waits)
				}
			}},
		{"retry exponential capped", `<policies><backend><retry condition="@(context.Response.StatusCode == 503)" count="4" interval="1" delta="2" max-interval="5"><forward-request/></retry></backend></policies>`, nil,
			func(t *testing.T, c *Context, tr trip) {
				want := []time.Duration{1 * time.Second, 3 * time.Second, 5 * time.Second, 5 * time.Second}
				if tr.forwards != 5 || len(tr.waits) != 4 {
					t.Fatalf("forwards %d waits %v", tr.forwards, tr.waits)
				}
				for i := range want {
					if tr.waits[i] != want[i] {
						t.Errorf("waits %v, want %v", tr.waits, want)
					}
				}
			}},
		{"wait runs children", `<policies><inbound><wait for="any"><set-header name="x-w" exists-action="override"><value>1</value></set-header></wait></inbound></policies>`, nil,
			func(t *testing.T, c *Context, tr trip) {
				if hdr(&c.Request.Headers, "x-w") != "1" {
					t.Errorf("wait children did not run")
				}
			}},
		{"on-error after a runtime failure", `<policies><inbound><set-variable name="x" value="@((string)context.Variables[&quot;missing&quot;])"/></inbound>
			<on-error><set-header name="x-err" exists-action="override"><value>yes</value></set-header><set-status code="503"/></on-error></policies>`, nil,
			func(t *testing.T, c *Context, tr trip) {
				if !tr.onError || c.Response.StatusCode != 503 || hdr(&c.Response.Headers, "x-err") != "yes" || c.LastError == nil || c.LastError.Source != "set-variable" {
					t.Errorf("%+v %d %+v", tr, c.Response.StatusCode, c.LastError)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := compilePipeline(t, o, op(tc.doc))
			c := newCtx("GET", "/items/1")
			if tc.setup != nil {
				tc.setup(c)
			}
			backend := func(c *Context) {}
			if strings.Contains(tc.name, "retry") {
				n := 0
				backend = func(c *Context) {
					n++
					c.Response.StatusCode = 503
					if n == 4 && strings.Contains(tc.name, "until success") {
						c.Response.StatusCode = 200
					}
				}
			}
			tr := drive(t, p, c, backend)
			tc.check(t, c, tr)
		})
	}
}

type traceRec struct{ lines []string }

func (r *traceRec) Trace(source, severity, message string, md []Header) {
	s := source + "/" + severity + ": " + message
	for _, h := range md {
		s += " " + h.Name + "=" + h.Value
	}
	r.lines = append(r.lines, s)
}

func TestTraceAndIncludeFragment(t *testing.T) {
	o := Options{Fragments: map[string]Source{"log": {Name: "fragments/log.xml", XML: []byte(`<fragment>
		<trace source="gw" severity="information"><message>@("op " + context.Operation.Name)</message><metadata name="k" value="v"/></trace>
		<trace source="old">plain text</trace></fragment>`)}}}
	p := compilePipeline(t, o, op(`<policies><inbound><include-fragment fragment-id="log"/></inbound></policies>`))
	c := newCtx("GET", "/")
	rec := &traceRec{}
	c.Tracer = rec
	drive(t, p, c, nil)
	if strings.Join(rec.lines, "|") != "gw/information: op get-item k=v|old/verbose: plain text" {
		t.Fatalf("trace %q", rec.lines)
	}
	// Without a tracer nothing happens.
	c = newCtx("GET", "/")
	if tr := drive(t, p, c, nil); tr.answered != Continue {
		t.Fatal(tr)
	}
}

func TestResumeWithoutSuspension(t *testing.T) {
	p := compilePipeline(t, Options{}, docs{})
	c := newCtx("GET", "/")
	if r := p.Resume(c); r.Outcome != Fail {
		t.Fatalf("%+v", r)
	}
}

func TestForwardInUntakenBranch(t *testing.T) {
	p := compilePipeline(t, Options{}, op(`<policies><backend><choose><when condition="@(context.Request.Method == &quot;POST&quot;)"><forward-request/></when></choose></backend></policies>`))
	c := newCtx("GET", "/")
	if r := p.Run(c, Backend); r.Outcome != Continue || c.Forwarded() {
		t.Fatalf("%+v forwarded=%v", r, c.Forwarded())
	}
	c = newCtx("POST", "/")
	if r := p.Run(c, Backend); r.Outcome != Forward || !c.Forwarded() {
		t.Fatalf("%+v forwarded=%v", r, c.Forwarded())
	}
}
