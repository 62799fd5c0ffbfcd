package policy_test

import (
	"fmt"
	"net/netip"

	"github.com/apimgw/apimgw/policy"
)

// The request handler's use of the package: compile a snapshot's documents
// once, then drive each request through the sections.
func Example() {
	state := policy.NewState(nil) // once per process: counters survive snapshots
	cp := policy.NewCompiler(policy.Options{
		NamedValues: map[string]policy.NamedValue{"greeting": {Value: "hello"}},
		State:       state,
	})
	api, err := cp.Compile(policy.ScopeAPI, policy.Source{Name: "apis/echo", XML: []byte(`<policies>
		<inbound><base/>
			<rate-limit-by-key calls="1" renewal-period="60" counter-key="@(context.Subscription.Id)"/>
			<set-header name="x-greeting" exists-action="override"><value>{{greeting}}</value></set-header>
		</inbound>
		<backend><forward-request timeout="10"/></backend>
	</policies>`)})
	if err != nil {
		fmt.Println(err)
		return
	}
	pipe := cp.Link(nil, nil, api, nil)

	serve := func(c *policy.Context) {
		r := pipe.Run(c, policy.Inbound)
		for sec := policy.Inbound; ; {
			switch r.Outcome {
			case policy.Forward:
				fmt.Printf("forward %s %s timeout %v, x-greeting=%s\n", c.Request.Method, c.AppendBackendURL(nil), c.Upstream.Timeout, must(c.Request.Headers.Get("x-greeting")))
				c.Response.StatusCode = 200 // the backend's answer
				r = pipe.Resume(c)
				continue
			case policy.Wait:
				r = pipe.Resume(c) // after sleeping r.Delay off the loop
				continue
			case policy.Respond:
				fmt.Printf("respond %d %s\n", c.Response.StatusCode, c.Response.Body)
			case policy.Fail:
				pipe.Run(c, policy.OnError)
				fmt.Printf("error %d\n", c.Response.StatusCode)
			case policy.Continue:
				if sec < policy.Outbound {
					sec++
					r = pipe.Run(c, sec)
					continue
				}
				fmt.Printf("send %d\n", c.Response.StatusCode)
			}
			break
		}
		c.Finish()
	}

	c := policy.NewContext()
	for i := 0; i < 2; i++ {
		c.Reset()
		c.Request.Method, c.Request.Path = "GET", "/items/42"
		policy.ParseQuery("v=1", &c.Request.Query)
		c.Request.ClientIP = netip.MustParseAddr("192.0.2.1")
		c.ID = policy.Identity{SubscriptionID: "sub-1", APIName: "echo"}
		c.Upstream.BaseURL = "http://10.0.0.5:8080/api"
		serve(c)
	}
	// Output:
	// forward GET http://10.0.0.5:8080/api/items/42?v=1 timeout 10s, x-greeting=hello
	// send 200
	// respond 429 {"statusCode":429,"message":"Rate limit is exceeded. Try again in 60 seconds."}
}

func must(s string, _ bool) string { return s }
