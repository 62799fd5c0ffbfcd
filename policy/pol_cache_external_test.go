package policy

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// mapCache is an in-memory ExternalCache for the pipeline's side of the
// contract; the Redis back end is tested against a real redis-server in
// appliance/shared.
type mapCache struct {
	mu   sync.Mutex
	m    map[string][]byte
	down bool
	fail error
	gets int
}

func newMapCache() *mapCache { return &mapCache{m: map[string][]byte{}} }

func (c *mapCache) Get(_ context.Context, key string) ([]byte, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gets++
	if c.fail != nil {
		return nil, false, c.fail
	}
	v, ok := c.m[key]
	return v, ok, nil
}
func (c *mapCache) Set(key string, val []byte, _ time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[key] = val
	return true
}
func (c *mapCache) Delete(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
	return true
}
func (c *mapCache) Up() bool { return !c.down }

// runCached runs inbound, answering cache lookups from the State's cache.
func runCached(t *testing.T, p *Pipeline, c *Context) (Result, int) {
	t.Helper()
	calls := 0
	r := p.Run(c, Inbound)
	for r.Outcome == Call {
		lk := r.Call.Cache
		if lk == nil {
			t.Fatalf("a Call that is not a cache lookup: %+v", r.Call)
		}
		calls++
		c.CacheDone(lk.Cache.Get(context.Background(), lk.Key))
		r = p.Resume(c)
	}
	return r, calls
}

func TestExternalCacheValues(t *testing.T) {
	for _, tc := range []struct {
		name, ct   string
		configured bool
		external   bool // the value goes to the external cache
		internal   bool // … or to the built-in one
	}{
		{"prefer-external with a cache", "prefer-external", true, true, false},
		{"default is prefer-external", "", true, true, false},
		{"prefer-external without", "prefer-external", false, false, true},
		{"external with a cache", "external", true, true, false},
		{"external without", "external", false, false, false},
		{"internal with a cache", "internal", true, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := NewState(nil)
			ec := newMapCache()
			if tc.configured {
				st.SetExternalCache(ec)
			}
			attr := ""
			if tc.ct != "" {
				attr = ` caching-type="` + tc.ct + `"`
			}
			store := compilePipeline(t, Options{State: st}, op(`<policies><inbound><cache-store-value key="k" value="v1" duration="60"`+attr+`/></inbound></policies>`))
			lookup := compilePipeline(t, Options{State: st}, op(`<policies><inbound><cache-lookup-value key="k" variable-name="got" default-value="none"`+attr+`/></inbound></policies>`))
			remove := compilePipeline(t, Options{State: st}, op(`<policies><inbound><cache-remove-value key="k"`+attr+`/></inbound></policies>`))
			if r, _ := runCached(t, store, newCtx("GET", "/")); r.Outcome != Continue {
				t.Fatal(r)
			}
			_, inExt := ec.m["k"]
			_, inInt := st.cache.lookup("k", time.Now())
			if inExt != tc.external || inInt != tc.internal {
				t.Fatalf("stored externally %v (want %v), internally %v (want %v)", inExt, tc.external, inInt, tc.internal)
			}
			c := newCtx("GET", "/")
			r, calls := runCached(t, lookup, c)
			v, _ := c.Variable("got")
			want := "v1"
			if !tc.external && !tc.internal {
				want = "none"
			}
			if r.Outcome != Continue || v.String() != want || (calls == 1) != tc.external {
				t.Fatalf("lookup: %v, %q (want %q), %d round trips", r, v, want, calls)
			}
			runCached(t, remove, newCtx("GET", "/"))
			c = newCtx("GET", "/")
			runCached(t, lookup, c)
			if v, _ := c.Variable("got"); v.String() != "none" {
				t.Fatalf("after remove: %q", v)
			}
			es := st.ExternalCacheStats()
			if tc.ct == "external" && !tc.configured && es.Unconfigured != 4 {
				t.Fatalf("unconfigured = %d, want 4 (store, 2 lookups, remove): %+v", es.Unconfigured, es)
			}
			if tc.external && (es.Hits != 1 || es.Misses != 1 || es.Stores != 1 || es.Removes != 1) {
				t.Fatalf("stats %+v", es)
			}
		})
	}
}

// Values keep their type through the external cache.
func TestExternalCacheValueTypes(t *testing.T) {
	st := NewState(nil)
	st.SetExternalCache(newMapCache())
	for _, tc := range []struct{ expr, check string }{
		{`@("text")`, `@((string)context.Variables["v"] == "text")`},
		{`@(42)`, `@((int)context.Variables["v"] == 42)`},
		{`@(true)`, `@((bool)context.Variables["v"])`},
		{`@(1.5)`, `@((double)context.Variables["v"] == 1.5)`},
		{`@("a,b".Split(','))`, `@(((string[])context.Variables["v"])[1] == "b")`},
		{`@(JObject.Parse("{\"a\":[1,2]}"))`, `@(((JObject)context.Variables["v"])["a"][1].ToString() == "2")`},
		{`@(new DateTime(2026, 12, 2, 3, 4, 5))`, `@(((DateTime)context.Variables["v"]).Minute == 4)`},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			esc := func(s string) string { return strings.ReplaceAll(s, `"`, "&quot;") }
			pl := compilePipeline(t, Options{State: st}, op(`<policies><inbound>
<cache-store-value key="t" value="`+esc(tc.expr)+`" duration="60"/>
<cache-lookup-value key="t" variable-name="v"/>
<choose><when condition="`+esc(tc.check)+`"><set-variable name="ok" value="yes"/></when></choose>
</inbound></policies>`))
			c := newCtx("GET", "/")
			if r, calls := runCached(t, pl, c); r.Outcome != Continue || calls != 1 {
				t.Fatalf("%v, %d round trips: %v", r, calls, c.LastError)
			}
			if v, ok := c.Variable("ok"); !ok || v.String() != "yes" {
				v, _ := c.Variable("v")
				t.Fatalf("the value came back as %v (%s)", v, v.k)
			}
		})
	}
	// An object that cannot cross the wire fails the store, loudly.
	pl := compilePipeline(t, Options{State: st}, op(`<policies><inbound><cache-store-value key="u" value="@(context.Request.Headers)" duration="60"/></inbound></policies>`))
	if r, _ := runCached(t, pl, newCtx("GET", "/")); r.Outcome != Fail || !strings.Contains(r.Err.Error(), "cannot be stored in the external cache") {
		t.Fatalf("%v", r)
	}
}

// Down: a lookup misses at once (no round trip), a store is skipped; a
// failed read is a miss too. Back up: hits again.
func TestExternalCacheDown(t *testing.T) {
	st := NewState(nil)
	ec := newMapCache()
	st.SetExternalCache(ec)
	store := compilePipeline(t, Options{State: st}, op(`<policies><inbound><cache-store-value key="k" value="v" duration="60"/></inbound></policies>`))
	lookup := compilePipeline(t, Options{State: st}, op(`<policies><inbound><cache-lookup-value key="k" variable-name="got" default-value="miss"/></inbound></policies>`))
	got := func() (string, int) {
		c := newCtx("GET", "/")
		if r, calls := runCached(t, lookup, c); r.Outcome != Continue {
			t.Fatal(r)
		} else {
			v, _ := c.Variable("got")
			return v.String(), calls
		}
		return "", 0
	}
	ec.down = true
	runCached(t, store, newCtx("GET", "/"))
	if v, calls := got(); v != "miss" || calls != 0 || len(ec.m) != 0 {
		t.Fatalf("down: %q after %d round trips, %d stored", v, calls, len(ec.m))
	}
	ec.down = false
	runCached(t, store, newCtx("GET", "/"))
	ec.fail = errors.New("i/o timeout")
	if v, calls := got(); v != "miss" || calls != 1 {
		t.Fatalf("failed read: %q", v)
	}
	ec.fail = nil
	if v, _ := got(); v != "v" {
		t.Fatalf("back up: %q", v)
	}
	ec.m["k"] = []byte("written by someone else")
	if v, _ := got(); v != "miss" {
		t.Fatalf("a foreign value: %q", v)
	}
	es := st.ExternalCacheStats()
	if es.Down != 1 || es.Skipped != 1 || es.Errors != 1 || es.Hits != 2 || es.Undecodable != 1 {
		t.Fatalf("stats %+v", es)
	}
}

// Responses: one State stores, another (a second replica) hits.
func TestExternalResponseCache(t *testing.T) {
	ec := newMapCache()
	doc := op(`<policies>
<inbound><cache-lookup vary-by-developer="false" vary-by-developer-groups="false" downstream-caching-type="private"/></inbound>
<outbound><cache-store duration="60"/></outbound></policies>`)
	backend := 0
	get := func(st *State) *Context {
		pl := compilePipeline(t, Options{State: st}, doc)
		c := newCtx("GET", "/items")
		Simulate(pl, c, SimIO{Forward: func(*SentRequest) (*CallResponse, error) {
			backend++
			return &CallResponse{StatusCode: 200, Headers: []Header{{"Content-Type", "text/plain"}}, Body: []byte("answer")}, nil
		}})
		return c
	}
	a, b := NewState(nil), NewState(nil)
	a.SetExternalCache(ec)
	b.SetExternalCache(ec)
	if c := get(a); string(c.Response.Body) != "answer" || backend != 1 {
		t.Fatalf("miss: %q", c.Response.Body)
	}
	c := get(b)
	cc, _ := c.Response.Headers.Get("Cache-Control")
	ct, _ := c.Response.Headers.Get("Content-Type")
	if string(c.Response.Body) != "answer" || backend != 1 || ct != "text/plain" || !strings.HasPrefix(cc, "private, max-age=") {
		t.Fatalf("the other replica: %q, backend %d, %q %q", c.Response.Body, backend, ct, cc)
	}
	if es := b.ExternalCacheStats(); es.Hits != 1 {
		t.Fatalf("%+v", es)
	}
}

func FuzzDecodeCached(f *testing.F) {
	for _, v := range []Value{StringValue("x"), IntValue(3), BoolValue(true), {}, ResponseValue(200, "OK", []Header{{"A", "b"}}, []byte("body"))} {
		b, _ := encodeCached(v, time.Unix(1, 0))
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeCached(newCtx("GET", "/"), b) // must not panic
	})
}

// allow-private-response-caching: without it a request carrying an
// Authorization header is neither served from nor stored in the cache.
func TestResponseCachePrivate(t *testing.T) {
	for _, tc := range []struct {
		attr  string
		allow bool
	}{{"", false}, {` allow-private-response-caching="false"`, false}, {` allow-private-response-caching="true"`, true},
		{` allow-private-response-caching="@(context.Request.Method == &quot;GET&quot;)"`, true}} {
		st := NewState(nil)
		st.SetExternalCache(newMapCache())
		attr, allow := tc.attr, tc.allow
		pl := compilePipeline(t, Options{State: st}, op(`<policies>
<inbound><cache-lookup vary-by-developer="false" vary-by-developer-groups="false"`+attr+`/></inbound>
<outbound><cache-store duration="60"/></outbound></policies>`))
		backend := 0
		for i := 0; i < 2; i++ {
			c := newCtx("GET", "/items", "Authorization", "Bearer x")
			Simulate(pl, c, SimIO{Forward: func(*SentRequest) (*CallResponse, error) {
				backend++
				return &CallResponse{StatusCode: 200, Body: []byte("answer")}, nil
			}})
		}
		if want := map[bool]int{false: 2, true: 1}[allow]; backend != want {
			t.Errorf("allow-private-response-caching=%v: backend called %d times, want %d", allow, backend, want)
		}
	}
}
