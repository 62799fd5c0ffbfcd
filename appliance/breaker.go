package appliance

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apimgw/apimgw/netstack"
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
	fc := r.FailureCondition
	interval, err := wire.ParseISODuration(fc.Interval)
	if err != nil {
		return nil, err
	}
	trip, err := wire.ParseISODuration(r.TripDuration)
	if err != nil {
		return nil, err
	}
	reasons := wire.KnownErrorReasons(fc.ErrorReasons)
	key := fmt.Sprintf("%s|%s|%d|%d|%s|%s|%v|%v|%t", id, url, fc.Count, fc.Percentage, interval, trip, fc.StatusCodeRanges, reasons, r.AcceptRetryAfter)
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if b, ok := bs.m[key]; ok {
		return b, nil
	}
	b := &breaker{count: fc.Count, percentage: fc.Percentage, interval: interval, trip: trip,
		ranges: fc.StatusCodeRanges, acceptRetryAfter: r.AcceptRetryAfter, connFail: true, timeout: true}
	if len(reasons) > 0 {
		b.connFail, b.timeout = false, false
		for _, r := range reasons {
			switch r {
			case wire.ReasonBackendConnectionFailure:
				b.connFail = true
			case wire.ReasonTimeout:
				b.timeout = true
			}
		}
	}
	if b.percentage > 0 {
		if b.count < 1 {
			b.count = 1
		}
		b.window = newRateWindow(interval)
	}
	bs.m[key] = b
	return b, nil
}

// breaker is APIM's backend circuit breaker (one rule). A failure is an
// answer whose status is in ranges, or no answer at all: a connection, TLS
// or proxy failure (counted unless errorReasons leave out
// BackendConnectionFailure) or a timeout (unless they leave out Timeout).
//
// Count rule (percentage 0): it trips when count failures happen within
// interval (exact: the times of the last count failures are kept).
// Percentage rule: it trips when, within interval, failures are at least
// percentage percent of all exchanges and at least count (default 1) of
// them; exchanges are counted in rateBuckets buckets of interval/rateBuckets
// (a sliding window to within one bucket, lock-free).
//
// Tripped, it stays open for trip — or, with acceptRetryAfter, for the
// failing answer's Retry-After — and the backend is skipped (a pool picks
// another member; a single backend answers 503). Then it closes with its
// counts cleared.
type breaker struct {
	count, percentage int
	interval, trip    time.Duration
	ranges            []wire.StatusCodeRange
	acceptRetryAfter  bool
	connFail, timeout bool // which no-answer failures count

	until atomic.Int64 // tripped until (unix ns)

	// Count rule.
	mu    sync.Mutex
	fails []int64 // times of recent failures, oldest first, at most count

	// Percentage rule.
	window *rateWindow
}

// tripped reports whether b (nil: no breaker) is open at now (unix ns).
func (b *breaker) tripped(now int64) bool {
	return b != nil && now < b.until.Load()
}

// failure reports whether an answer with status (0: none) counts as a
// failure; noAnswer classifies the exchange that got no answer.
func (b *breaker) failure(status int, noAnswer error) bool {
	if status == 0 {
		if isTimeout(noAnswer) {
			return b.timeout
		}
		return b.connFail
	}
	for _, r := range b.ranges {
		if status >= r.Min && status <= r.Max {
			return true
		}
	}
	return false
}

// isTimeout: the engine gave up waiting (connect or response timeout).
func isTimeout(err error) bool {
	return errors.Is(err, netstack.ErrUpstreamTimeout) || errors.Is(err, netstack.ErrUpstreamConnectTimeout)
}

// record counts one exchange's outcome: status is the backend's answer (0:
// none, then noAnswer says why), retryAfter its Retry-After header.
func (b *breaker) record(now time.Time, status int, retryAfter string, noAnswer error) {
	failed := b.failure(status, noAnswer)
	if b.window != nil {
		t := now.UnixNano()
		total, fails := b.window.add(t, failed)
		if !failed || fails < int64(b.count) || fails*100 < int64(b.percentage)*total {
			return
		}
		b.window.clear()
		b.open(now, retryAfter)
		return
	}
	if !failed {
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
	b.open(now, retryAfter)
}

// open trips the breaker at now for trip, or the answer's Retry-After.
func (b *breaker) open(now time.Time, retryAfter string) {
	d := b.trip
	if b.acceptRetryAfter {
		if ra, ok := parseRetryAfter(retryAfter, now); ok {
			d = ra
		}
	}
	b.until.Store(now.UnixNano() + int64(d))
}

// rateBuckets is how many buckets a percentage rule's interval is cut into.
const rateBuckets = 10

// rateWindow counts exchanges and failures over the last interval in
// buckets. Concurrent adds never block; a bucket reused for a new period is
// cleared by the add that claims it (an add racing that clear may be lost:
// the counts are approximate, as APIM says of its own).
type rateWindow struct {
	width   int64 // bucket width (ns)
	buckets [rateBuckets]rateBucket
}

type rateBucket struct {
	period       atomic.Int64 // t / width of the period it counts, +1 (0: unused)
	total, fails atomic.Int64
}

func newRateWindow(interval time.Duration) *rateWindow {
	w := int64(interval) / rateBuckets
	if w < 1 {
		w = 1
	}
	return &rateWindow{width: w}
}

// add counts one exchange at t (unix ns) and returns the window's totals.
func (w *rateWindow) add(t int64, failed bool) (total, fails int64) {
	p := t/w.width + 1
	b := &w.buckets[p%rateBuckets]
	if old := b.period.Load(); old != p && b.period.CompareAndSwap(old, p) {
		b.total.Store(0)
		b.fails.Store(0)
	}
	b.total.Add(1)
	if failed {
		b.fails.Add(1)
	}
	for i := range w.buckets {
		c := &w.buckets[i]
		if q := c.period.Load(); q > p-rateBuckets && q <= p {
			total += c.total.Load()
			fails += c.fails.Load()
		}
	}
	return total, fails
}

// clear forgets every count (after a trip).
func (w *rateWindow) clear() {
	for i := range w.buckets {
		w.buckets[i].period.Store(0)
		w.buckets[i].total.Store(0)
		w.buckets[i].fails.Store(0)
	}
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
