package appliance

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apimgw/apimgw/wire"
)

// Breakers holds circuit-breaker state by backend identity (id, URL and
// rule), outside any Compiled: a new snapshot with the same backend keeps
// its breaker, tripped or counting. Safe for concurrent use.
type Breakers struct {
	mu sync.Mutex
	m  map[string]*breaker
}

// NewBreakers returns an empty set of breakers.
func NewBreakers() *Breakers { return &Breakers{m: map[string]*breaker{}} }

var defaultBreakers = NewBreakers()

// get returns the breaker for backend id with rule r, made on first use.
func (bs *Breakers) get(id, url string, r wire.CircuitBreakerRule) (*breaker, error) {
	interval, err := wire.ParseISODuration(r.FailureCondition.Interval)
	if err != nil {
		return nil, err
	}
	trip, err := wire.ParseISODuration(r.TripDuration)
	if err != nil {
		return nil, err
	}
	key := fmt.Sprintf("%s|%s|%d|%s|%s|%v|%t", id, url, r.FailureCondition.Count, interval, trip, r.FailureCondition.StatusCodeRanges, r.AcceptRetryAfter)
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if b, ok := bs.m[key]; ok {
		return b, nil
	}
	b := &breaker{count: r.FailureCondition.Count, interval: interval, trip: trip,
		ranges: r.FailureCondition.StatusCodeRanges, acceptRetryAfter: r.AcceptRetryAfter}
	bs.m[key] = b
	return b, nil
}

// breaker trips when count failures happen within interval, for trip (or
// the failing answer's Retry-After with acceptRetryAfter). A failure is an
// answer whose status is in ranges, or no answer at all (unreachable,
// timeout, TLS failure). While tripped, the backend is skipped (a pool picks
// another member; a single backend answers 503).
type breaker struct {
	count            int
	interval, trip   time.Duration
	ranges           []wire.StatusCodeRange
	acceptRetryAfter bool

	until atomic.Int64 // tripped until (unix ns)
	mu    sync.Mutex
	fails []int64 // times of recent failures, oldest first, at most count
}

// tripped reports whether b (nil: no breaker) is open at now (unix ns).
func (b *breaker) tripped(now int64) bool {
	return b != nil && now < b.until.Load()
}

func (b *breaker) failure(status int) bool {
	if status == 0 {
		return true
	}
	for _, r := range b.ranges {
		if status >= r.Min && status <= r.Max {
			return true
		}
	}
	return false
}

// record counts one exchange's outcome.
func (b *breaker) record(now time.Time, status int, retryAfter string) {
	if !b.failure(status) {
		return
	}
	t := now.UnixNano()
	b.mu.Lock()
	defer b.mu.Unlock()
	cut := t - int64(b.interval)
	i := 0
	for i < len(b.fails) && b.fails[i] <= cut {
		i++
	}
	b.fails = append(b.fails[:0], b.fails[i:]...)
	b.fails = append(b.fails, t)
	if len(b.fails) < b.count {
		return
	}
	b.fails = b.fails[:0]
	d := b.trip
	if b.acceptRetryAfter {
		if ra, ok := parseRetryAfter(retryAfter, now); ok {
			d = ra
		}
	}
	b.until.Store(t + int64(d))
}

// parseRetryAfter reads Retry-After: seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, true
	}
	if t, err := time.Parse(time.RFC1123, v); err == nil && t.After(now) {
		return t.Sub(now), true
	}
	return 0, false
}
