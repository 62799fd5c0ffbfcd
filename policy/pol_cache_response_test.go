package policy

import (
	"strings"
	"testing"
	"time"
)

func TestResponseCache(t *testing.T) {
	clk := newClock()
	st := NewState(clk.now)
	pl := compilePipeline(t, Options{State: st}, op(`<policies>
<inbound><cache-lookup vary-by-developer="false" vary-by-developer-groups="false" downstream-caching-type="public" must-revalidate="false">
  <vary-by-query-parameter>page</vary-by-query-parameter><vary-by-header>Accept</vary-by-header></cache-lookup></inbound>
<outbound><cache-store duration="60"/></outbound></policies>`))
	backendCalls := 0
	get := func(method, query, accept string, status int) *Context {
		c := newCtx(method, "/items", "Accept", accept)
		ParseQuery(query, &c.Request.Query)
		Simulate(pl, c, SimIO{Forward: func(r *SentRequest) (*CallResponse, error) {
			backendCalls++
			return &CallResponse{StatusCode: status, Headers: []Header{{"Content-Type", "text/plain"}, {"Set-Cookie", "s=1"}},
				Body: []byte("answer " + itoa(backendCalls))}, nil
		}})
		return c
	}
	c := get("GET", "page=1&x=a", "text/plain", 200)
	if string(c.Response.Body) != "answer 1" || backendCalls != 1 {
		t.Fatalf("miss: %q", c.Response.Body)
	}
	if cc, _ := c.Response.Headers.Get("Cache-Control"); cc != "public, max-age=60" {
		t.Errorf("Cache-Control on the stored response: %q", cc)
	}
	clk.add(20 * time.Second)
	c = get("GET", "x=b&page=1", "text/plain", 200) // x is not part of the key
	cc, _ := c.Response.Headers.Get("Cache-Control")
	if string(c.Response.Body) != "answer 1" || backendCalls != 1 || cc != "public, max-age=40" || c.Response.Headers.Has("Set-Cookie") {
		t.Fatalf("hit: %q %d %q %v", c.Response.Body, backendCalls, cc, c.Response.Headers.List)
	}
	for _, k := range []struct{ method, query, accept string }{{"GET", "page=2", "text/plain"}, {"GET", "page=1", "application/json"}, {"POST", "page=1", "text/plain"}} {
		before := backendCalls
		if get(k.method, k.query, k.accept, 200); backendCalls != before+1 {
			t.Errorf("%v: served from the cache", k)
		}
	}
	// A non-200 answer is not stored.
	get("GET", "page=9", "text/plain", 500)
	before := backendCalls
	if get("GET", "page=9", "text/plain", 200); backendCalls != before+1 {
		t.Error("a 500 was cached")
	}
	clk.add(61 * time.Second)
	before = backendCalls
	if get("GET", "page=1", "text/plain", 200); backendCalls != before+1 {
		t.Error("an expired response was served")
	}
	if !pl.ReadsResponseBody() {
		t.Error("cache-store reads the response body")
	}
	for _, bad := range []struct{ doc, want string }{
		{`<inbound><cache-lookup vary-by-developer="false"/></inbound>`, `"vary-by-developer-groups" is required`},
		{`<outbound><cache-store/></outbound>`, `"duration" is required`},
		{`<inbound><cache-store duration="1"/></inbound>`, "not allowed in the inbound section"},
	} {
		err := Check(Options{Offline: true}, "d", []byte("<policies>"+bad.doc+"</policies>"))
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v", bad.doc, err)
		}
	}
}
