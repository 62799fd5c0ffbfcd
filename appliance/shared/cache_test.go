package shared_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apimgw/apimgw/appliance/shared"
	"github.com/apimgw/apimgw/internal/testredis"
	"github.com/apimgw/apimgw/policy"
	"github.com/apimgw/apimgw/wire"
)

// cacheReplica is one gateway replica's policy state with the external cache.
type cacheReplica struct {
	state *policy.State
	pipe  *policy.Pipeline
	cache *shared.Cache
}

const cacheDoc = `<policies><inbound>
<choose><when condition="@(context.Request.Headers.ContainsKey(&quot;X-Store&quot;))">
  <cache-store-value key="@(&quot;user-&quot; + context.Request.Headers.GetValueOrDefault(&quot;X-User&quot;, &quot;&quot;))" value="@(context.Request.Headers.GetValueOrDefault(&quot;X-Store&quot;, &quot;&quot;))" duration="60" caching-type="external"/>
</when></choose>
<cache-lookup-value key="@(&quot;user-&quot; + context.Request.Headers.GetValueOrDefault(&quot;X-User&quot;, &quot;&quot;))" variable-name="v" default-value="miss" caching-type="external"/>
</inbound><backend><forward-request/></backend></policies>`

func newCacheReplica(t *testing.T, conn string) *cacheReplica {
	t.Helper()
	st := policy.NewState(nil)
	cp := policy.NewCompiler(policy.Options{State: st})
	api, err := cp.Compile(policy.ScopeAPI, policy.Source{Name: "apis/echo", XML: []byte(cacheDoc)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := shared.NewCache(shared.CacheOptions{Cache: wire.ExternalCache{ID: "c1", ConnectionString: conn, UseFromLocation: "default"},
		Probe: 50 * time.Millisecond, Timeout: 200 * time.Millisecond, MaxEntryBytes: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	st.SetExternalCache(c)
	return &cacheReplica{state: st, pipe: cp.Link(nil, nil, api, nil), cache: c}
}

// call runs inbound, answering lookups off this goroutine as the appliance
// does, and returns the variable and how long the lookup round trips took.
func (r *cacheReplica) call(t *testing.T, user, store string) (string, time.Duration) {
	t.Helper()
	c := policy.NewContext()
	c.Request.Method, c.Request.Path = "GET", "/x"
	c.Request.Headers.Add("X-User", user)
	if store != "" {
		c.Request.Headers.Add("X-Store", store)
	}
	var waited time.Duration
	res := r.pipe.Run(c, policy.Inbound)
	for res.Outcome == policy.Call {
		lk := res.Call.Cache
		if lk == nil {
			t.Fatalf("not a cache lookup: %+v", res.Call)
		}
		start := time.Now()
		c.CacheDone(lk.Cache.Get(context.Background(), lk.Key))
		waited += time.Since(start)
		res = r.pipe.Resume(c)
	}
	if res.Outcome != policy.Continue {
		t.Fatalf("inbound: %v (%v)", res, c.LastError)
	}
	v, _ := c.Variable("v")
	return v.String(), waited
}

func connString(srv *testredis.Server, extra string) string {
	return srv.Addr() + ",abortConnect=False" + extra
}

// One replica stores, the other finds the value: entries are shared through
// Redis, with their type.
func TestCacheReplicasShareEntries(t *testing.T) {
	srv := testredis.Start(t)
	a, b := newCacheReplica(t, connString(srv, "")), newCacheReplica(t, connString(srv, ""))
	waitFor(t, "both caches up", func() bool { return a.cache.Up() && b.cache.Up() })
	if v, _ := b.call(t, "ann", ""); v != "miss" {
		t.Fatalf("before any store: %q", v)
	}
	a.call(t, "ann", "token-1")
	waitFor(t, "the store written", func() bool { return a.cache.Stats().Sets == 1 })
	if v, _ := b.call(t, "ann", ""); v != "token-1" {
		t.Fatalf("the other replica found %q, want the stored value", v)
	}
	if got := srv.Do("GET", "apimgw:cache:user-ann"); got != "apimgw1stoken-1" {
		t.Fatalf("Redis holds %q", got)
	}
	if got := srv.Do("PTTL", "apimgw:cache:user-ann"); got == "" || got[0] == '-' {
		t.Fatalf("no expiry: PTTL %q", got)
	}
	// Over the entry size limit: not stored, counted.
	a.call(t, "big", strings.Repeat("x", 2<<10))
	if st := a.cache.Stats(); st.TooLarge != 1 {
		t.Fatalf("%+v", st)
	}
	// A long key is hashed, and still shared.
	long := strings.Repeat("k", 600)
	a.call(t, long, "v-long")
	waitFor(t, "the long key written", func() bool { return a.cache.Stats().Sets == 2 })
	if v, _ := b.call(t, long, ""); v != "v-long" {
		t.Fatalf("long key: %q", v)
	}
	if es := b.state.ExternalCacheStats(); es.Hits != 2 || es.Misses != 1 {
		t.Fatalf("%+v", es)
	}
}

// Redis killed: lookups miss at once (no round trip) and nothing fails;
// restarted: stores and hits again.
func TestCacheRedisKilledAndRestarted(t *testing.T) {
	srv := testredis.Start(t)
	a := newCacheReplica(t, connString(srv, ""))
	waitFor(t, "cache up", a.cache.Up)
	a.call(t, "ann", "v1")
	waitFor(t, "stored", func() bool { return a.cache.Stats().Sets == 1 })
	srv.Kill()
	waitFor(t, "cache down", func() bool {
		v, _ := a.call(t, "ann", "")
		return v == "miss" && !a.cache.Up()
	})
	for i := 0; i < 100; i++ {
		if v, waited := a.call(t, fmt.Sprint("u", i), "v"); v != "miss" || waited > 0 {
			t.Fatalf("down: %q after waiting %v", v, waited)
		}
	}
	st := a.cache.Stats()
	if st.Fallbacks != 1 || st.LastError == "" || a.state.ExternalCacheStats().Skipped < 100 {
		t.Fatalf("after the kill: %+v %+v", st, a.state.ExternalCacheStats())
	}
	srv.Restart()
	waitFor(t, "cache up again", a.cache.Up)
	a.call(t, "ann", "v2")
	waitFor(t, "hit after the restart", func() bool { v, _ := a.call(t, "ann", ""); return v == "v2" })
}

// The connection string's password and database are used; a wrong password
// keeps the cache down and says why.
func TestCachePassword(t *testing.T) {
	srv := testredis.Start(t, "--requirepass", "s3cret")
	good := newCacheReplica(t, connString(srv, ",password=s3cret,defaultDatabase=2"))
	waitFor(t, "up with the password", good.cache.Up)
	good.call(t, "ann", "v")
	waitFor(t, "stored", func() bool { return good.cache.Stats().Sets == 1 })
	if got := srv.Do("SELECT", "2"); got != "OK" {
		t.Fatalf("SELECT: %q", got)
	}
	bad := newCacheReplica(t, connString(srv, ",password=wrong"))
	time.Sleep(200 * time.Millisecond)
	st := bad.cache.Stats()
	if st.Up || st.LastError == "" || strings.Contains(st.LastError, "wrong") {
		t.Fatalf("wrong password: %+v", st)
	}
	if strings.Contains(st.Addr, "s3cret") || strings.Contains(good.cache.Stats().Addr, "s3cret") {
		t.Fatal("the password shows in the address")
	}
}

// CacheSwitch follows the snapshot: a cache, the same one again (kept), none.
func TestCacheSwitchRedis(t *testing.T) {
	srv := testredis.Start(t)
	st := policy.NewState(nil)
	sw := shared.NewCacheSwitch(st, shared.CacheOptions{Probe: 50 * time.Millisecond})
	defer sw.Close()
	ec := &wire.ExternalCache{ID: "c1", ConnectionString: connString(srv, ""), UseFromLocation: "default"}
	if err := sw.Use(ec); err != nil {
		t.Fatal(err)
	}
	first, _ := sw.Stats()
	if !st.ExternalCacheStats().Configured || first.ID != "c1" {
		t.Fatalf("%+v", first)
	}
	same := *ec
	sw.Use(&same)
	waitFor(t, "up", func() bool { s, _ := sw.Stats(); return s.Up })
	if s, _ := sw.Stats(); s.Since != first.Since && !s.Up {
		t.Fatalf("the same cache was replaced")
	}
	if err := sw.Use(&wire.ExternalCache{ID: "c2", ConnectionString: "a:1,nonsense=1"}); err == nil {
		t.Fatal("a bad connection string was accepted")
	}
	sw.Use(nil)
	if _, ok := sw.Stats(); ok || st.ExternalCacheStats().Configured {
		t.Fatal("no cache after Use(nil)")
	}
}

// A value larger than the entry limit written by someone else is read only
// up to the limit and is a miss.
func TestCacheForeignLargeValueRedis(t *testing.T) {
	srv := testredis.Start(t)
	r := newCacheReplica(t, connString(srv, ""))
	waitFor(t, "up", r.cache.Up)
	srv.Do("SET", "apimgw:cache:user-big", "apimgw1s"+strings.Repeat("x", 2<<10))
	if n := srv.Do("STRLEN", "apimgw:cache:user-big"); n != fmt.Sprint(8+2<<10) {
		t.Fatalf("the foreign value was not written: STRLEN %q", n)
	}
	if v, _ := r.call(t, "big", ""); v != "miss" {
		t.Fatalf("an oversized foreign value: %q", v)
	}
	if st := r.cache.Stats(); st.Misses != 1 || st.Hits != 0 {
		t.Fatalf("%+v", st)
	}
}
