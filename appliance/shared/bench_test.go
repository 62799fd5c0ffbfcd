package shared_test

import (
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apimgw/apimgw/appliance/shared"
	"github.com/apimgw/apimgw/internal/testredis"
	"github.com/apimgw/apimgw/policy"
)

// benchReplica is newReplica for benchmarks (testing.TB).
func benchReplica(b *testing.B, url, doc string, approximate bool) *replica {
	b.Helper()
	st := policy.NewState(nil)
	cp := policy.NewCompiler(policy.Options{State: st})
	api, err := cp.Compile(policy.ScopeAPI, policy.Source{Name: "apis/echo", XML: []byte(doc)})
	if err != nil {
		b.Fatal(err)
	}
	r := &replica{state: st, pipe: cp.Link(nil, nil, api, nil)}
	if url != "" {
		sc, err := shared.New(st, shared.Options{URL: url, Probe: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler), Approximate: approximate})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { sc.Close() })
		st.SetShared(sc)
		r.sc = sc
		for deadline := time.Now().Add(10 * time.Second); !sc.Sharing(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				b.Fatal("not sharing within 10s")
			}
		}
	}
	return r
}

const benchDoc = `<policies><inbound><rate-limit-by-key calls="1000000000" renewal-period="60" counter-key="@(context.Subscription.Id)"/></inbound><backend><forward-request/></backend></policies>`

// BenchmarkSharedRateLimit: what a request pays on the event loop for a
// rate-limit-by-key check on one hot key (a limit of 10^9 a minute) with
// local counters, with counters shared through a real redis-server in
// approximate mode (the increment is queued, not awaited) and in exact mode
// (calls admitted from leases: the lease grows to 4096 calls and is asked
// for ahead, so almost every call stays local; waits/op is the share of calls
// that waited for a lease), and how long the background round trip takes
// (roundtrip-µs).
func BenchmarkSharedRateLimit(b *testing.B) {
	srv := testredis.Start(b)
	for _, mode := range []string{"local", "approximate", "exact"} {
		b.Run(mode, func(b *testing.B) {
			url := ""
			if mode != "local" {
				url = srv.URL()
			}
			r := benchReplica(b, url, benchDoc, mode == "approximate")
			c := policy.NewContext()
			waits := 0
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c.Reset()
				c.Request.Method, c.Request.Path = "GET", "/x"
				c.ID = policy.Identity{SubscriptionID: "sub-1", APIName: "echo"}
				res := r.pipe.Run(c, policy.Inbound)
				if res.Outcome == policy.Await {
					waits++
					done := make(chan struct{})
					res.Await.OnDone(func() { close(done) })
					<-done
					res = r.pipe.Resume(c)
				}
				if res.Outcome != policy.Continue {
					b.Fatalf("outcome %v", res.Outcome)
				}
				c.Finish()
			}
			b.StopTimer()
			if r.sc != nil {
				st := r.sc.Stats()
				b.ReportMetric(float64(st.RoundTrip.Microseconds()), "roundtrip-µs")
				b.ReportMetric(float64(st.Sent)/float64(max(1, st.Batches)), "updates/batch")
				b.ReportMetric(float64(st.Dropped)/float64(b.N), "dropped/op")
				b.ReportMetric(float64(waits)/float64(b.N), "waits/op")
			}
		})
	}
}

// BenchmarkSharedLatency: the latency one request's inbound rate-limit-by-key
// check adds, as p50 and p99 over b.N calls (p50-µs, p99-µs), from one
// client: local counters; exact mode with a small limit (100 a minute: the
// lease is 1 call, so every call is suspended for one Redis round trip — the
// suspended path); exact mode on a hot key (10^9 a minute: leases of up to
// 4096 calls asked for ahead — the local path); approximate mode.
func BenchmarkSharedLatency(b *testing.B) {
	srv := testredis.Start(b)
	small := `<policies><inbound><rate-limit-by-key calls="100" renewal-period="60" counter-key="@(context.Subscription.Id)"/></inbound><backend><forward-request/></backend></policies>`
	for _, tc := range []struct {
		name, doc   string
		redis, appr bool
	}{
		{"local", benchDoc, false, false},
		{"exact/limit=100", small, true, false},
		{"exact/hot-key", benchDoc, true, false},
		{"approximate/limit=100", small, true, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			url := ""
			if tc.redis {
				url = srv.URL()
			}
			r := benchReplica(b, url, tc.doc, tc.appr)
			c := policy.NewContext()
			lat := make([]time.Duration, 0, b.N)
			key, used := fmt.Sprint("lat-", benchKeys.Add(1)), 0
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if used++; tc.doc == small && used > 90 { // a new key before the limit of 100 is reached
					b.StopTimer()
					key, used = fmt.Sprint("lat-", benchKeys.Add(1)), 1
					b.StartTimer()
				}
				start := time.Now()
				c.Reset()
				c.Request.Method, c.Request.Path = "GET", "/x"
				c.ID = policy.Identity{SubscriptionID: key, APIName: "echo"}
				if res := runInbound(r.pipe, c); res.Outcome != policy.Continue {
					b.Fatalf("outcome %v", res.Outcome)
				}
				c.Finish()
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
		})
	}
}

// BenchmarkSharedOvershoot measures the accuracy across N replicas sharing a
// limit of 10 calls a minute through a real redis-server, in exact mode
// (leases, the default) and approximate mode: "turns" sends requests to the
// replicas in turn, each after the previous one is answered (the worst case
// of the approximate lag: each replica sees the others' calls one round trip
// late); "burst" has N clients calling their replica at once, as fast as
// they can. overshoot/op is the calls that passed beyond 10 (negative: fewer
// than 10 passed).
func BenchmarkSharedOvershoot(b *testing.B) {
	srv := testredis.Start(b)
	doc := `<policies><inbound><rate-limit-by-key calls="10" renewal-period="60" counter-key="@(context.Subscription.Id)"/></inbound><backend><forward-request/></backend></policies>`
	for _, mode := range []string{"exact", "approximate"} {
		for _, n := range []int{2, 3, 4} {
			reps := make([]*replica, n)
			for i := range reps {
				reps[i] = benchReplica(b, srv.URL(), doc, mode == "approximate")
			}
			b.Run(fmt.Sprintf("%s/turns/N=%d", mode, n), func(b *testing.B) {
				over := 0
				for i := 0; i < b.N; i++ {
					key := fmt.Sprint("turns", n, "-", benchKeys.Add(1))
					passed := 0
					for j := 0; j < 40; j++ {
						r := reps[j%n]
						if r.call(key) == 200 {
							passed++
						}
						settleB(b, r)
					}
					over += passed - 10
				}
				b.ReportMetric(float64(over)/float64(b.N), "overshoot/op")
				b.ReportMetric(float64(reps[0].sc.Stats().RoundTrip.Microseconds()), "roundtrip-µs")
				b.ReportMetric(float64(fallbacks(reps)), "fallbacks")
			})
			b.Run(fmt.Sprintf("%s/burst/N=%d", mode, n), func(b *testing.B) {
				over := 0
				for i := 0; i < b.N; i++ {
					key := fmt.Sprint("burst", n, "-", benchKeys.Add(1))
					var mu sync.Mutex
					var wg sync.WaitGroup
					passed := 0
					for _, r := range reps {
						wg.Add(1)
						go func(r *replica) {
							defer wg.Done()
							for j := 0; j < 40; j++ {
								if r.call(key) == 200 {
									mu.Lock()
									passed++
									mu.Unlock()
								}
							}
						}(r)
					}
					wg.Wait()
					for _, r := range reps {
						settleB(b, r)
					}
					over += passed - 10
				}
				b.ReportMetric(float64(over)/float64(b.N), "overshoot/op")
				b.ReportMetric(float64(fallbacks(reps)), "fallbacks")
			})
		}
	}
}

// fallbacks counts the replicas' switches to local counters (Redis missed
// its round-trip timeout: the calls decided locally meanwhile may overshoot).
func fallbacks(reps []*replica) uint64 {
	var n uint64
	for _, r := range reps {
		n += r.sc.Stats().Fallbacks
	}
	return n
}

// benchKeys makes every round's counter key new (benchmark rounds restart i).
var benchKeys atomic.Int64

func settleB(b *testing.B, r *replica) {
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Microsecond) {
		s := r.sc.Stats()
		if s.Sent+s.Failed == s.Queued {
			return
		}
		if time.Now().After(deadline) {
			b.Fatal("updates not answered within 10s")
		}
	}
}
