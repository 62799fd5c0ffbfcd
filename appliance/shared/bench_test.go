package shared_test

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apimgw/apimgw/appliance/shared"
	"github.com/apimgw/apimgw/internal/testredis"
	"github.com/apimgw/apimgw/policy"
)

// benchReplica is newReplica for benchmarks (testing.TB).
func benchReplica(b *testing.B, url, doc string) *replica {
	b.Helper()
	st := policy.NewState(nil)
	cp := policy.NewCompiler(policy.Options{State: st})
	api, err := cp.Compile(policy.ScopeAPI, policy.Source{Name: "apis/echo", XML: []byte(doc)})
	if err != nil {
		b.Fatal(err)
	}
	r := &replica{state: st, pipe: cp.Link(nil, nil, api, nil)}
	if url != "" {
		sc, err := shared.New(st, shared.Options{URL: url, Probe: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
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
// rate-limit-by-key check with local counters and with counters shared
// through a real redis-server (the increment is queued, not awaited), and
// how long the background round trip takes (roundtrip-µs: the lag of one
// replica's view, which bounds the overshoot).
func BenchmarkSharedRateLimit(b *testing.B) {
	srv := testredis.Start(b)
	for _, mode := range []string{"local", "redis"} {
		b.Run(mode, func(b *testing.B) {
			url := ""
			if mode == "redis" {
				url = srv.URL()
			}
			r := benchReplica(b, url, benchDoc)
			c := policy.NewContext()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c.Reset()
				c.Request.Method, c.Request.Path = "GET", "/x"
				c.ID = policy.Identity{SubscriptionID: "sub-1", APIName: "echo"}
				if res := r.pipe.Run(c, policy.Inbound); res.Outcome != policy.Continue {
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
			}
		})
	}
}

// BenchmarkSharedOvershoot measures the accuracy across N replicas sharing a
// limit of 10 calls a minute through a real redis-server: "turns" sends
// requests to the replicas in turn, each after the previous one is answered
// (the worst case of the lag: each replica sees the others' calls one
// round trip late); "burst" has N clients calling their replica at once, as
// fast as they can. overshoot/op is the calls that passed beyond 10.
func BenchmarkSharedOvershoot(b *testing.B) {
	srv := testredis.Start(b)
	doc := `<policies><inbound><rate-limit-by-key calls="10" renewal-period="60" counter-key="@(context.Subscription.Id)"/></inbound><backend><forward-request/></backend></policies>`
	for _, n := range []int{2, 3, 4} {
		reps := make([]*replica, n)
		for i := range reps {
			reps[i] = benchReplica(b, srv.URL(), doc)
		}
		b.Run(fmt.Sprintf("turns/N=%d", n), func(b *testing.B) {
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
		})
		b.Run(fmt.Sprintf("burst/N=%d", n), func(b *testing.B) {
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
		})
	}
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
