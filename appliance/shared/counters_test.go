package shared_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/apimgw/apimgw/appliance/shared"
	"github.com/apimgw/apimgw/internal/testredis"
	"github.com/apimgw/apimgw/policy"
)

// replica is one gateway replica's policy state and pipeline.
type replica struct {
	state *policy.State
	pipe  *policy.Pipeline
	sc    *shared.Counters
}

func newReplica(t *testing.T, url, doc string) *replica {
	t.Helper()
	return newReplicaMode(t, url, doc, false)
}

// newReplicaMode is newReplica in exact (leases) or approximate mode.
func newReplicaMode(t *testing.T, url, doc string, approximate bool) *replica {
	t.Helper()
	st := policy.NewState(nil)
	cp := policy.NewCompiler(policy.Options{State: st})
	api, err := cp.Compile(policy.ScopeAPI, policy.Source{Name: "apis/echo", XML: []byte(doc)})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := shared.New(st, shared.Options{URL: url, Probe: 50 * time.Millisecond, Timeout: 200 * time.Millisecond, Approximate: approximate})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Close() })
	st.SetShared(sc)
	r := &replica{state: st, pipe: cp.Link(nil, nil, api, nil), sc: sc}
	waitFor(t, "sharing", func() bool { return sc.Sharing() })
	return r
}

// call runs one request's inbound section and returns its status (200 when
// it would be forwarded).
func (r *replica) call(sub string) int {
	c := policy.NewContext()
	c.Request.Method, c.Request.Path = "GET", "/x"
	c.ID = policy.Identity{SubscriptionID: sub, APIName: "echo"}
	res := runInbound(r.pipe, c)
	status := 200
	if res.Outcome == policy.Respond {
		status = c.Response.StatusCode
	}
	c.Response.StatusCode = status
	c.Finish()
	return status
}

// runInbound runs the inbound section as the appliance does: a request that
// waits for a lease (Outcome Await) is suspended until it is answered, then
// resumed.
func runInbound(p *policy.Pipeline, c *policy.Context) policy.Result {
	res := p.Run(c, policy.Inbound)
	for res.Outcome == policy.Await {
		done := make(chan struct{})
		res.Await.OnDone(func() { close(done) })
		<-done
		res = p.Resume(c)
	}
	return res
}

// settle waits until every update sent has been answered.
func (r *replica) settle(t *testing.T) {
	t.Helper()
	waitFor(t, "updates answered", func() bool {
		s := r.sc.Stats()
		return s.Sent+s.Failed == s.Queued
	})
}

func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

const rateDoc = `<policies><inbound>
	<rate-limit calls="10" renewal-period="60"/>
	<quota-by-key calls="15" renewal-period="3600" counter-key="@(context.Subscription.Id)"/>
</inbound><backend><forward-request/></backend></policies>`

// Two replicas taking turns against one limit of 10 calls a minute let
// exactly 10 calls pass with leases (the default), at most 11 in approximate
// mode (the documented overshoot of N-1 for N replicas taking turns).
func TestTwoReplicasShareRateLimit(t *testing.T) {
	srv := testredis.Start(t)
	byKey := `<policies><inbound><rate-limit-by-key calls="10" renewal-period="60" counter-key="@(context.Subscription.Id)"/></inbound><backend><forward-request/></backend></policies>`
	for _, tc := range []struct {
		name        string
		doc         string
		approximate bool
		max         int
	}{
		{"rate-limit", rateDoc, false, 10},
		{"rate-limit-by-key", byKey, false, 10},
		{"approximate/rate-limit", rateDoc, true, 11},
		{"approximate/rate-limit-by-key", byKey, true, 11},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv.Do("FLUSHALL")
			a, b := newReplicaMode(t, srv.URL(), tc.doc, tc.approximate), newReplicaMode(t, srv.URL(), tc.doc, tc.approximate)
			passed := 0
			for i := 0; i < 30; i++ {
				r := a
				if i%2 == 1 {
					r = b
				}
				if r.call("sub-1") == 200 {
					passed++
				}
				r.settle(t)
			}
			if passed < 10 || passed > tc.max {
				t.Fatalf("%d calls passed across two replicas, want 10..%d", passed, tc.max)
			}
			t.Logf("%d of 30 calls passed (limit 10, 2 replicas)", passed)
		})
	}
}

// A quota shared by two replicas: 15 calls an hour for one key, exactly.
func TestTwoReplicasShareQuota(t *testing.T) {
	srv := testredis.Start(t)
	doc := `<policies><inbound><quota-by-key calls="15" renewal-period="3600" counter-key="@(context.Subscription.Id)"/></inbound><backend><forward-request/></backend></policies>`
	a, b := newReplica(t, srv.URL(), doc), newReplica(t, srv.URL(), doc)
	passed := 0
	for i := 0; i < 40; i++ {
		r := a
		if i%2 == 1 {
			r = b
		}
		if st := r.call("sub-q"); st == 200 {
			passed++
		} else if st != 403 {
			t.Fatalf("call %d: status %d, want 200 or 403", i, st)
		}
		r.settle(t)
	}
	if passed != 15 {
		t.Fatalf("%d calls passed the shared quota of 15, want 15", passed)
	}
}

// Redis killed: the replicas fall back to local counters at once (no call
// waits for Redis), the fallback is counted; Redis restarted: sharing resumes.
func TestRedisKilledAndRestarted(t *testing.T) {
	srv := testredis.Start(t)
	doc := `<policies><inbound><rate-limit-by-key calls="1000000" renewal-period="60" counter-key="@(context.Subscription.Id)"/></inbound><backend><forward-request/></backend></policies>`
	a := newReplica(t, srv.URL(), doc)
	for i := 0; i < 50; i++ {
		a.call("k")
	}
	a.settle(t)
	srv.Kill()
	start := time.Now()
	for i := 0; !func() bool { return !a.sc.Sharing() }(); i++ {
		if a.call(fmt.Sprint("k", i%3)) != 200 {
			t.Fatal("a call was refused while falling back")
		}
	}
	t.Logf("fell back %v after the kill", time.Since(start))
	for i := 0; i < 1000; i++ {
		if a.call("k") != 200 {
			t.Fatal("a call was refused on local counters")
		}
	}
	st := a.sc.Stats()
	if st.Fallbacks != 1 || st.Local == 0 || st.LastError == "" {
		t.Fatalf("after the kill: %+v, want one fallback, local updates and the error", st)
	}
	srv.Restart()
	waitFor(t, "sharing resumed", a.sc.Sharing)
	before := a.sc.Stats().Sent
	a.call("k")
	waitFor(t, "an update sent after the restart", func() bool { return a.sc.Stats().Sent > before })
	if got := srv.Do("DBSIZE"); got == "0" || got == "" {
		t.Fatalf("the restarted Redis holds %q keys, want the counter sent after the restart", got)
	}
	if st := a.sc.Stats(); st.Resumed < 2 {
		t.Fatalf("resumed %d times, want the first connection and the return: %+v", st.Resumed, st)
	}
}

// A URL that cannot be used is refused with the reason; a password file
// that does not exist too.
func TestOptionsRefused(t *testing.T) {
	for _, o := range []shared.Options{
		{URL: "http://127.0.0.1:6379"},
		{URL: "redis://127.0.0.1:6379/notanumber"},
		{URL: "redis://127.0.0.1:6379/0", PasswordFile: "/nonexistent/pw"},
	} {
		if _, err := shared.New(policy.NewState(nil), o); err == nil {
			t.Errorf("%+v: accepted", o)
		}
	}
}

// The password comes from the URL or from a file (which wins); a wrong one
// keeps the counters local and says why.
func TestPassword(t *testing.T) {
	srv := testredis.Start(t, "--requirepass", "s3cret")
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("s3cret\n"), 0o600)
	for _, tc := range []struct {
		name string
		o    shared.Options
		ok   bool
	}{
		{"url", shared.Options{URL: fmt.Sprintf("redis://:s3cret@127.0.0.1:%d/0", srv.Port)}, true},
		{"file", shared.Options{URL: srv.URL(), PasswordFile: pw}, true},
		{"file wins", shared.Options{URL: fmt.Sprintf("redis://:wrong@127.0.0.1:%d/0", srv.Port), PasswordFile: pw}, true},
		{"wrong", shared.Options{URL: fmt.Sprintf("redis://:wrong@127.0.0.1:%d/0", srv.Port)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Probe = 20 * time.Millisecond
			sc, err := shared.New(policy.NewState(nil), tc.o)
			if err != nil {
				t.Fatal(err)
			}
			defer sc.Close()
			if tc.ok {
				waitFor(t, "sharing", sc.Sharing)
				return
			}
			waitFor(t, "an error", func() bool { return sc.Stats().LastError != "" })
			if st := sc.Stats(); st.Sharing || !strings.Contains(st.LastError, "WRONGPASS") || strings.Contains(st.Addr, "wrong") {
				t.Fatalf("%+v: want local counters, the WRONGPASS error, no password in Addr", st)
			}
		})
	}
}

// rediss://: sharing over TLS with the server's CA from a file; with the
// system roots the certificate is refused and the counters stay local.
func TestTLS(t *testing.T) {
	srv := testredis.StartTLS(t)
	for _, tc := range []struct {
		name string
		ca   string
		ok   bool
	}{{"private CA", srv.CAFile, true}, {"system roots", "", false}} {
		t.Run(tc.name, func(t *testing.T) {
			sc, err := shared.New(policy.NewState(nil), shared.Options{URL: srv.URL(), CAFile: tc.ca, Probe: 20 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer sc.Close()
			if tc.ok {
				waitFor(t, "sharing over TLS", sc.Sharing)
				return
			}
			waitFor(t, "an error", func() bool { return sc.Stats().LastError != "" })
			// go-redis reports the refused handshake as the probe's
			// deadline, not as the certificate error.
			time.Sleep(100 * time.Millisecond)
			if st := sc.Stats(); st.Sharing || st.Resumed != 0 {
				t.Fatalf("%+v: want local counters (the certificate is not trusted)", st)
			}
		})
	}
	if _, err := shared.New(policy.NewState(nil), shared.Options{URL: "redis://127.0.0.1:1/0", CAFile: srv.CAFile}); err == nil {
		t.Error("a CA file with redis:// (no TLS) was accepted")
	}
}

// burst sends calls from clients goroutines per replica at once, each client
// calling its replica calls times, and returns how many passed.
func burst(reps []*replica, clients, calls int, key string) int {
	var passed atomic.Int64
	var wg sync.WaitGroup
	for _, r := range reps {
		for i := 0; i < clients; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; j < calls; j++ {
					if r.call(key) == 200 {
						passed.Add(1)
					}
				}
			}()
		}
	}
	wg.Wait()
	return int(passed.Load())
}

// Replicas bursting at once (several clients each) against limits they
// share: with leases exactly the limit passes however many replicas there
// are, for rate-limit-by-key, quota-by-key and a rate-limit whose step holds
// two limits (the subscription's and the API's: the first is not counted
// twice when the second waits for its lease).
func TestReplicasBurstExact(t *testing.T) {
	srv := testredis.Start(t)
	for _, tc := range []struct {
		name  string
		doc   string
		limit int
	}{
		{"rate-limit-by-key", `<policies><inbound><rate-limit-by-key calls="10" renewal-period="60" counter-key="@(context.Subscription.Id)"/></inbound><backend><forward-request/></backend></policies>`, 10},
		{"quota-by-key", `<policies><inbound><quota-by-key calls="25" renewal-period="3600" counter-key="@(context.Subscription.Id)"/></inbound><backend><forward-request/></backend></policies>`, 25},
		{"rate-limit with an api limit", `<policies><inbound><rate-limit calls="1000" renewal-period="60"><api name="echo" calls="12" renewal-period="60"/></rate-limit></inbound><backend><forward-request/></backend></policies>`, 12},
		{"large limit", `<policies><inbound><rate-limit-by-key calls="3000" renewal-period="60" counter-key="@(context.Subscription.Id)"/></inbound><backend><forward-request/></backend></policies>`, 3000},
	} {
		for _, n := range []int{2, 3} {
			t.Run(fmt.Sprintf("%s/N=%d", tc.name, n), func(t *testing.T) {
				reps := make([]*replica, n)
				for i := range reps {
					reps[i] = newReplica(t, srv.URL(), tc.doc)
				}
				key := fmt.Sprintf("burst-%s-%d", tc.name, n)
				calls := (tc.limit*2)/(n*4) + 10
				if got := burst(reps, 4, calls, key); got != tc.limit {
					t.Fatalf("%d of %d calls passed across %d replicas bursting against a shared limit of %d, want exactly %d",
						got, n*4*calls, n, tc.limit, tc.limit)
				}
				st := reps[0].sc.Stats()
				t.Logf("N=%d: exactly %d passed; replica 0: %d lease requests, %d calls granted", n, tc.limit, st.Leases, st.Granted)
			})
		}
	}
}

// Exact mode across a window's end: a rate limit of 3 calls a second shared by
// two replicas lets exactly 3 pass, refuses the rest with a Retry-After from
// the shared window, and lets 3 pass again in the next window (the leases of
// the old window are not carried over).
func TestExactWindowRenews(t *testing.T) {
	srv := testredis.Start(t)
	doc := `<policies><inbound><rate-limit-by-key calls="3" renewal-period="1" counter-key="@(context.Subscription.Id)"/></inbound><backend><forward-request/></backend></policies>`
	reps := []*replica{newReplica(t, srv.URL(), doc), newReplica(t, srv.URL(), doc)}
	for round := 0; round < 2; round++ {
		if got := burst(reps, 3, 4, "renew"); got != 3 {
			t.Fatalf("window %d: %d calls passed, want exactly 3", round, got)
		}
		time.Sleep(1100 * time.Millisecond)
	}
}

// A quota of calls and bandwidth in exact mode: the calls are leased
// (exactly 6 pass across two replicas), the bytes counted at Finish reach
// Redis in the background and the other replica refuses once the shared byte
// count reached the limit.
func TestExactQuotaBandwidth(t *testing.T) {
	srv := testredis.Start(t)
	doc := `<policies><inbound><quota-by-key calls="6" bandwidth="1" renewal-period="3600" counter-key="@(context.Subscription.Id)"/></inbound><backend><forward-request/></backend></policies>`
	a, b := newReplica(t, srv.URL(), doc), newReplica(t, srv.URL(), doc)
	if got := burst([]*replica{a, b}, 2, 6, "calls"); got != 6 {
		t.Fatalf("%d calls passed a shared quota of 6 calls, want exactly 6", got)
	}
	// Bandwidth: 1 KiB. One call of 2 KiB through a, then b refuses.
	c := policy.NewContext()
	c.Request.Method, c.Request.Path = "GET", "/x"
	c.ID = policy.Identity{SubscriptionID: "bytes", APIName: "echo"}
	if res := runInbound(a.pipe, c); res.Outcome != policy.Continue {
		t.Fatalf("first call: outcome %v", res.Outcome)
	}
	c.Response.StatusCode, c.Transferred = 200, 2048
	c.Finish()
	a.settle(t)
	if st := b.call("bytes"); st != 403 {
		t.Fatalf("after 2 KiB through the other replica: status %d, want 403 (bandwidth quota of 1 KiB shared)", st)
	}
}

// A hot quota's replica holds budget leased ahead (Redis counts more calls
// than passed); Close gives the unused budget back, so Redis counts exactly
// the calls that passed.
func TestLeasesReturnedAtClose(t *testing.T) {
	srv := testredis.Start(t)
	doc := `<policies><inbound><quota-by-key calls="100000" renewal-period="3600" counter-key="@(context.Subscription.Id)"/></inbound><backend><forward-request/></backend></policies>`
	a := newReplica(t, srv.URL(), doc)
	for i := 0; i < 2000; i++ {
		if a.call("hot") != 200 {
			t.Fatalf("call %d refused", i)
		}
	}
	a.settle(t)
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rc.Close()
	ctx := context.Background()
	keys, err := rc.Keys(ctx, "apimgw:quota:*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("quota keys %q, %v: want one", keys, err)
	}
	count := func() int64 { n, _ := rc.HGet(ctx, keys[0], "c").Int64(); return n }
	before := count()
	if before <= 2000 {
		t.Fatalf("Redis counts %d calls before Close, want more than the 2000 that passed (budget leased ahead)", before)
	}
	if err := a.sc.Close(); err != nil {
		t.Fatal(err)
	}
	st := a.sc.Stats()
	if got := count(); got != 2000 || st.Returned != uint64(before-2000) {
		t.Fatalf("after Close Redis counts %d calls (want 2000), %d returned (want %d)", got, st.Returned, before-2000)
	}
	t.Logf("leased ahead: %d calls, given back at Close", before-2000)
}
