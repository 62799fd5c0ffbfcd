package appliance

import (
	"testing"
	"time"

	"github.com/apimgw/apimgw/netstack"
	"github.com/apimgw/apimgw/wire"
)

// TestBreakerRules: APIM's circuit-breaker rule (count, percentage,
// interval, statusCodeRanges, errorReasons, tripDuration, acceptRetryAfter)
// step by step on a fake clock. Each step records one exchange and says
// whether the breaker is open right after it (and, with check, at a later
// time without recording).
func TestBreakerRules(t *testing.T) {
	r5xx := []wire.StatusCodeRange{{Min: 500, Max: 599}}
	refused := netstack.ErrUpstreamUnreachable
	timedOut := netstack.ErrUpstreamTimeout
	type step struct {
		at     time.Duration // since the start
		status int           // 0: no answer (err says why); -1: only check
		err    error
		ra     string // Retry-After
		open   bool   // tripped after this step
	}
	for _, tc := range []struct {
		name  string
		rule  wire.CircuitBreakerRule
		steps []step
	}{
		{"count: 3 failures within the interval trip",
			wire.CircuitBreakerRule{FailureCondition: wire.FailureCondition{Count: 3, Interval: "PT1M", StatusCodeRanges: r5xx}, TripDuration: "PT30S"},
			[]step{{0, 500, nil, "", false}, {time.Second, 200, nil, "", false}, {2 * time.Second, 404, nil, "", false},
				{3 * time.Second, 503, nil, "", false}, {4 * time.Second, 0, refused, "", true},
				{33 * time.Second, -1, nil, "", true}, {35 * time.Second, -1, nil, "", false}}},
		{"count: failures older than the interval do not count",
			wire.CircuitBreakerRule{FailureCondition: wire.FailureCondition{Count: 2, Interval: "PT10S", StatusCodeRanges: r5xx}, TripDuration: "PT30S"},
			[]step{{0, 500, nil, "", false}, {11 * time.Second, 500, nil, "", false}, {12 * time.Second, 500, nil, "", true}}},
		{"count: after the trip the counts start again",
			wire.CircuitBreakerRule{FailureCondition: wire.FailureCondition{Count: 2, Interval: "PT1M", StatusCodeRanges: r5xx}, TripDuration: "PT5S"},
			[]step{{0, 500, nil, "", false}, {time.Second, 500, nil, "", true}, {7 * time.Second, 500, nil, "", false}, {8 * time.Second, 500, nil, "", true}}},
		{"percentage 50: trips when half the exchanges failed",
			wire.CircuitBreakerRule{FailureCondition: wire.FailureCondition{Percentage: 50, Interval: "PT1M", StatusCodeRanges: r5xx}, TripDuration: "PT30S"},
			[]step{{0, 200, nil, "", false}, {time.Second, 200, nil, "", false}, {2 * time.Second, 500, nil, "", false},
				{3 * time.Second, 502, nil, "", true}}},
		{"percentage: a success never trips, even above the share",
			wire.CircuitBreakerRule{FailureCondition: wire.FailureCondition{Percentage: 10, Interval: "PT1M", StatusCodeRanges: r5xx}, TripDuration: "PT30S"},
			[]step{{0, 500, nil, "", true}, {31 * time.Second, 200, nil, "", false}}},
		{"percentage with count: at least count failures too",
			wire.CircuitBreakerRule{FailureCondition: wire.FailureCondition{Count: 3, Percentage: 50, Interval: "PT1M", StatusCodeRanges: r5xx}, TripDuration: "PT30S"},
			[]step{{0, 500, nil, "", false}, {time.Second, 500, nil, "", false}, {2 * time.Second, 200, nil, "", false}, {3 * time.Second, 500, nil, "", true}}},
		{"percentage: exchanges older than the interval slide out",
			wire.CircuitBreakerRule{FailureCondition: wire.FailureCondition{Percentage: 50, Interval: "PT10S", StatusCodeRanges: r5xx}, TripDuration: "PT30S"},
			[]step{{0, 200, nil, "", false}, {time.Second, 200, nil, "", false}, {2 * time.Second, 200, nil, "", false},
				{3 * time.Second, 500, nil, "", false}, {15 * time.Second, 500, nil, "", true}}},
		{"errorReasons Timeout: only timeouts among the no-answer failures",
			wire.CircuitBreakerRule{FailureCondition: wire.FailureCondition{Count: 1, Interval: "PT1M", ErrorReasons: []string{"Timeout"}}, TripDuration: "PT30S"},
			[]step{{0, 0, refused, "", false}, {time.Second, 500, nil, "", false}, {2 * time.Second, 0, timedOut, "", true}}},
		{"errorReasons BackendConnectionFailure: connection failures, not timeouts",
			wire.CircuitBreakerRule{FailureCondition: wire.FailureCondition{Count: 1, Interval: "PT1M", ErrorReasons: []string{"backendconnectionfailure"}}, TripDuration: "PT30S"},
			[]step{{0, 0, netstack.ErrUpstreamConnectTimeout, "", false}, {time.Second, 0, netstack.ErrUpstreamTLS, "", true}}},
		{"errorReasons as a label (APIM's samples): every no-answer failure counts",
			wire.CircuitBreakerRule{FailureCondition: wire.FailureCondition{Count: 2, Interval: "PT1M", ErrorReasons: []string{"Server errors"}, StatusCodeRanges: r5xx}, TripDuration: "PT30S"},
			[]step{{0, 0, timedOut, "", false}, {time.Second, 0, refused, "", true}}},
		{"acceptRetryAfter: the failing answer's Retry-After sets the trip",
			wire.CircuitBreakerRule{FailureCondition: wire.FailureCondition{Count: 1, Interval: "PT1M", StatusCodeRanges: []wire.StatusCodeRange{{Min: 429, Max: 429}}}, TripDuration: "PT10S", AcceptRetryAfter: true},
			[]step{{0, 429, nil, "120", true}, {100 * time.Second, -1, nil, "", true}, {121 * time.Second, -1, nil, "", false}}},
		{"acceptRetryAfter without a usable header: tripDuration",
			wire.CircuitBreakerRule{FailureCondition: wire.FailureCondition{Count: 1, Interval: "PT1M", StatusCodeRanges: r5xx}, TripDuration: "PT10S", AcceptRetryAfter: true},
			[]step{{0, 503, nil, "soon", true}, {11 * time.Second, -1, nil, "", false}}},
		{"no acceptRetryAfter: Retry-After is ignored",
			wire.CircuitBreakerRule{FailureCondition: wire.FailureCondition{Count: 1, Interval: "PT1M", StatusCodeRanges: r5xx}, TripDuration: "PT10S"},
			[]step{{0, 503, nil, "120", true}, {11 * time.Second, -1, nil, "", false}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := NewBreakers().get("b", "http://b", tc.rule)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Unix(1_700_000_000, 0)
			for i, s := range tc.steps {
				now := start.Add(s.at)
				if s.status >= 0 {
					if b.tripped(now.UnixNano()) {
						t.Fatalf("step %d: recording while open (a tripped backend gets no traffic)", i)
					}
					b.record(now, s.status, s.ra, s.err)
				}
				if got := b.tripped(now.UnixNano()); got != s.open {
					t.Fatalf("step %d (%v, status %d, %v): open=%t, want %t", i, s.at, s.status, s.err, got, s.open)
				}
			}
		})
	}
}

// TestBreakerPercentageConcurrent: a percentage rule counted from many
// goroutines at once (both loops record) trips, and -race sees no race.
func TestBreakerPercentageConcurrent(t *testing.T) {
	b, err := NewBreakers().get("b", "http://b", wire.CircuitBreakerRule{FailureCondition: wire.FailureCondition{Count: 50, Percentage: 40,
		Interval: "PT1M", StatusCodeRanges: []wire.StatusCodeRange{{Min: 500, Max: 599}}}, TripDuration: "PT1M"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	done := make(chan struct{})
	for g := 0; g < 4; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 100; i++ {
				st := 200
				if i%2 == 0 {
					st = 500
				}
				b.record(now, st, "", nil)
			}
		}()
	}
	for g := 0; g < 4; g++ {
		<-done
	}
	if !b.tripped(now.UnixNano()) {
		t.Fatal("50% failures over 400 exchanges did not trip a 40% rule")
	}
}
