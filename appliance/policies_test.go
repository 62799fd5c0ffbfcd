package appliance

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apimgw/apimgw/wire"
)

// TestPoliciesThroughTheHandler: every supported policy, each on its own
// operation, driven by real requests through the gateway's handler on the
// netstack engine to a real backend. (policy/ tests each policy's semantics
// in depth; this checks that the handler carries out what they decide.)
func TestPoliciesThroughTheHandler(t *testing.T) {
	backendHits := map[string]int{}
	var mu sync.Mutex
	flaky := 0
	echo := func(tag string) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "slow") {
				time.Sleep(1500 * time.Millisecond)
			}
			if strings.HasSuffix(r.URL.Path, "/flaky") {
				mu.Lock()
				flaky++
				n := flaky
				mu.Unlock()
				if n < 3 {
					w.WriteHeader(503)
					return
				}
				io.WriteString(w, "third time lucky")
				return
			}
			mu.Lock()
			backendHits[tag]++
			mu.Unlock()
			body, _ := io.ReadAll(r.Body)
			hdr := map[string]string{}
			for k, v := range r.Header {
				hdr[k] = strings.Join(v, ",")
			}
			w.Header().Set("X-Backend", tag)
			json.NewEncoder(w).Encode(map[string]any{"method": r.Method, "uri": r.RequestURI, "headers": hdr, "body": string(body)})
		}))
		t.Cleanup(s.Close)
		return s
	}
	main, other, named := echo("main"), echo("other"), echo("named")

	pol := func(inbound, backend, outbound string) string {
		if backend == "" {
			backend = "<base/>"
		}
		return "<policies><inbound><base/>" + inbound + "</inbound><backend>" + backend + "</backend><outbound><base/>" +
			outbound + "</outbound><on-error><base/></on-error></policies>"
	}
	type call struct {
		method string
		path   string
		hdr    map[string]string
		body   string
		status int
		// want: substrings of the response (status line excluded), "H:Name=Value" for a response header
		want []string
	}
	cases := []struct {
		name     string
		template string
		method   string
		params   []string
		policy   string
		calls    []call
	}{
		{"check-header", "/check-header", "GET", nil,
			pol(`<check-header name="X-Need" failed-check-httpcode="401" failed-check-error-message="X-Need is missing" ignore-case="true"><value>yes</value></check-header>`, "", ""),
			[]call{{status: 401, want: []string{"X-Need is missing"}}, {hdr: map[string]string{"X-Need": "YES"}, status: 200}}},
		{"ip-filter", "/ip-filter", "GET", nil,
			pol(`<ip-filter action="forbid"><address>127.0.0.1</address></ip-filter>`, "", ""),
			[]call{{status: 403}}},
		{"cors", "/cors", "GET", nil,
			pol(`<cors allow-credentials="false"><allowed-origins><origin>https://app.example</origin></allowed-origins><allowed-methods><method>GET</method></allowed-methods></cors>`, "", ""),
			[]call{{hdr: map[string]string{"Origin": "https://app.example"}, status: 200, want: []string{"H:Access-Control-Allow-Origin=https://app.example"}}}},
		{"rate-limit-by-key", "/rlk", "GET", nil,
			pol(`<rate-limit-by-key calls="1" renewal-period="30" counter-key="@(context.Request.Headers.GetValueOrDefault(&quot;X-Client&quot;, &quot;anon&quot;))"/>`, "", ""),
			[]call{{hdr: map[string]string{"X-Client": "a"}, status: 200}, {hdr: map[string]string{"X-Client": "a"}, status: 429, want: []string{"H:Retry-After=30"}},
				{hdr: map[string]string{"X-Client": "b"}, status: 200}}},
		{"quota", "/quota", "GET", nil,
			pol(`<quota calls="1" renewal-period="3600"/>`, "", ""),
			[]call{{status: 200}, {status: 403, want: []string{"Out of call volume quota"}}}},
		{"quota-by-key", "/qk", "GET", nil,
			pol(`<quota-by-key calls="1" renewal-period="3600" counter-key="@(context.Request.IpAddress)"/>`, "", ""),
			[]call{{status: 200}, {status: 403}}},
		{"set-query-parameter", "/sqp", "GET", nil,
			pol(`<set-query-parameter name="added" exists-action="override"><value>1</value></set-query-parameter>`, "", ""),
			[]call{{path: "?keep=x", status: 200, want: []string{`/sqp?keep=x\u0026added=1`}}}},
		{"rewrite-uri", "/items/{id}", "GET", []string{"id"},
			pol(`<rewrite-uri template="/v2/things/{id}"/>`, "", ""),
			[]call{{path: "/items/42", status: 200, want: []string{`"uri":"/base/v2/things/42"`}}}},
		{"set-method", "/set-method", "GET", nil,
			pol(`<set-method>PUT</set-method>`, "", ""),
			[]call{{status: 200, want: []string{`"method":"PUT"`}}}},
		{"set-backend-service base-url", "/sbs", "GET", nil,
			pol(`<set-backend-service base-url="`+other.URL+`/elsewhere"/>`, "", ""),
			[]call{{status: 200, want: []string{"H:X-Backend=other", `"uri":"/elsewhere/sbs"`}}}},
		{"set-backend-service backend-id", "/sbs-id", "GET", nil,
			pol(`<set-backend-service backend-id="named-backend"/>`, "", ""),
			[]call{{status: 200, want: []string{"H:X-Backend=named"}}}},
		{"forward-request timeout", "/slow", "GET", nil,
			pol("", `<forward-request timeout="1"/>`, ""),
			[]call{{status: 504}}},
		{"set-status", "/set-status", "GET", nil,
			pol("", "", `<set-status code="201" reason="Made"/>`),
			[]call{{status: 201}}},
		{"set-body expression", "/set-body", "GET", nil,
			pol("", "", `<set-body>@("status was " + context.Response.StatusCode.ToString())</set-body>`),
			[]call{{status: 200, want: []string{"status was 200"}}}},
		{"set-body request", "/set-body-req", "POST", nil,
			pol(`<set-body>replaced</set-body>`, "", ""),
			[]call{{method: "POST", body: "original", status: 200, want: []string{`"body":"replaced"`}}}},
		{"mock-response", "/mock", "GET", nil,
			pol(`<mock-response status-code="204"/>`, "", ""),
			[]call{{status: 204}}},
		{"set-variable choose when otherwise", "/choose", "GET", nil,
			pol(`<set-variable name="who" value="@(context.Request.Headers.GetValueOrDefault(&quot;X-Who&quot;, &quot;nobody&quot;))"/>`+
				`<choose><when condition="@((string)context.Variables[&quot;who&quot;] == &quot;teapot&quot;)"><return-response><set-status code="418" reason="Teapot"/><set-body>short and stout</set-body></return-response></when>`+
				`<otherwise><set-header name="X-Who" exists-action="override"><value>@((string)context.Variables["who"])</value></set-header></otherwise></choose>`, "", ""),
			[]call{{hdr: map[string]string{"X-Who": "teapot"}, status: 418, want: []string{"short and stout"}}, {status: 200, want: []string{`"X-Who":"nobody"`}}}},
		{"retry", "/retry", "GET", nil,
			pol(`<set-variable name="n" value="@(0)"/><retry condition="@((int)context.Variables[&quot;n&quot;] &lt; 2)" count="5" interval="1"><set-variable name="n" value="@((int)context.Variables[&quot;n&quot;] + 1)"/></retry>`+
				`<set-header name="X-Tries" exists-action="override"><value>@(context.Variables["n"].ToString())</value></set-header>`, "", ""),
			[]call{{status: 200, want: []string{`"X-Tries":"2"`}}}},
		{"wait", "/wait", "GET", nil,
			pol(`<wait for="all"><set-header name="X-Waited" exists-action="override"><value>yes</value></set-header></wait>`, "", ""),
			[]call{{status: 200, want: []string{`"X-Waited":"yes"`}}}},
		{"include-fragment", "/fragment", "GET", nil,
			pol(`<include-fragment fragment-id="stamp"/>`, "", ""),
			[]call{{status: 200, want: []string{`"X-Fragment":"stamped"`}}}},
		{"trace", "/trace", "GET", nil,
			pol(`<trace source="test" severity="information"><message>hello</message></trace>`, "", ""),
			[]call{{status: 200}}},
		{"retry around forward-request", "/flaky", "GET", nil,
			pol("", `<retry condition="@(context.Response.StatusCode == 503)" count="3" interval="1"><forward-request/></retry>`, ""),
			[]call{{status: 200, want: []string{"third time lucky"}}}},
		{"limit-concurrency", "/slow-limited", "GET", nil,
			pol("", `<limit-concurrency key="one" max-count="1"><forward-request timeout="10"/></limit-concurrency>`, ""),
			nil}, // exercised concurrently below
	}

	snap := &wire.Snapshot{ProtocolVersion: wire.ProtocolVersion, Version: 1,
		APIs: []wire.API{{ID: "p", Path: "p", ServiceURL: main.URL + "/base", Protocols: []string{"http"}}},
		PolicyFragments: []wire.PolicyFragment{{ID: "stamp",
			Value: `<fragment><set-header name="X-Fragment" exists-action="override"><value>stamped</value></set-header></fragment>`}},
		Backends: []wire.Backend{{ID: "named-backend", URL: named.URL, Protocol: "http"}},
	}
	for i, c := range cases {
		op := wire.Operation{ID: fmt.Sprintf("op%d", i), Method: c.method, URLTemplate: c.template, Policy: c.policy}
		for _, p := range c.params {
			op.TemplateParameters = append(op.TemplateParameters, wire.TemplateParameter{Name: p})
		}
		snap.APIs[0].Operations = append(snap.APIs[0].Operations, op)
	}
	if err := snap.Seal(); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, snap)

	for _, c := range cases {
		for j, cl := range c.calls {
			method := cl.method
			if method == "" {
				method = "GET"
			}
			path := cl.path
			if path == "" || path[0] == '?' {
				path = c.template + path
			}
			req, _ := http.NewRequest(method, g.base+"/p"+path, strings.NewReader(cl.body))
			for k, v := range cl.hdr {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s call %d: %v", c.name, j, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != cl.status {
				t.Errorf("%s call %d: status %d, want %d (%s)", c.name, j, resp.StatusCode, cl.status, body)
				continue
			}
			for _, w := range cl.want {
				if strings.HasPrefix(w, "H:") {
					name, val, _ := strings.Cut(w[2:], "=")
					if got := resp.Header.Get(name); got != val {
						t.Errorf("%s call %d: header %s = %q, want %q", c.name, j, name, got, val)
					}
				} else if !strings.Contains(string(body), w) {
					t.Errorf("%s call %d: body %s lacks %q", c.name, j, body, w)
				}
			}
		}
	}

	// limit-concurrency: two calls at once to a slow backend, max-count 1.
	var wg sync.WaitGroup
	codes := make(chan int, 2)
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(g.base + "/p/slow-limited")
			if err != nil {
				codes <- 0
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
		time.Sleep(200 * time.Millisecond)
	}
	wg.Wait()
	close(codes)
	got := map[int]int{}
	for c := range codes {
		got[c]++
	}
	if got[200] != 1 || got[429] != 1 {
		t.Errorf("limit-concurrency: statuses %v, want one 200 and one 429", got)
	}
}
