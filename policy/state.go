package policy

import (
	"fmt"
	"hash/maphash"
	"sort"
	"strings"
	"sync"
	"time"
)

// State holds the counters of rate-limit, rate-limit-by-key, quota,
// quota-by-key and limit-concurrency. It lives outside compiled pipelines:
// pass one State to every snapshot's Compiler, and a config swap keeps every
// counter whose policy identity (Source name, section, element, ordinal) and
// counter key are unchanged.
//
// State is safe for concurrent use; it is sharded so event loops rarely
// contend. The clock is injected (NewState) so tests control time.
type State struct {
	now     func() time.Time
	seed    maphash.Seed
	shards  [32]stateShard
	cache   ValueCache  // cache-*-value (cache.go)
	jwks    jwksCache   // validate-jwt openid-config keys (jwks.go)
	metrics metricStore // emit-metric (pol_emit_metric.go)
}

type stateShard struct {
	mu    sync.Mutex
	rate  map[counterKey]*rateWindow
	quota map[counterKey]*quotaWindow
	conc  map[counterKey]int
	// Expired windows are swept when a map outgrows these sizes (then the
	// size doubles), so memory follows the number of live keys at amortised
	// constant cost.
	rateSweepAt, quotaSweepAt int
}

// sweepFloor is the map size below which no sweeping happens.
const sweepFloor = 1024

type counterKey struct {
	id, key string
}

type rateWindow struct {
	start  time.Time
	period time.Duration
	count  int64
}

type quotaWindow struct {
	start  time.Time
	period time.Duration
	calls  int64
	bytes  int64
}

// newKey copies the strings of a counter key that is about to be stored: the
// caller's strings may point into a connection buffer that is reused after the
// request (Request's lifetime rule), but the State keeps keys for as long as
// the window lives. Only a key seen for the first time pays this allocation.
func newKey(id, key string) counterKey {
	return counterKey{id, strings.Clone(key)}
}

func (sh *stateShard) sweepRate(now time.Time) {
	if len(sh.rate) <= max(sh.rateSweepAt, sweepFloor) {
		return
	}
	for k, w := range sh.rate {
		if !now.Before(w.start.Add(w.period)) {
			delete(sh.rate, k)
		}
	}
	sh.rateSweepAt = 2 * len(sh.rate)
}

func (sh *stateShard) sweepQuota(now time.Time) {
	if len(sh.quota) <= max(sh.quotaSweepAt, sweepFloor) {
		return
	}
	for k, w := range sh.quota {
		if w.period > 0 && !now.Before(w.start.Add(w.period)) {
			delete(sh.quota, k)
		}
	}
	sh.quotaSweepAt = 2 * len(sh.quota)
}

// NewState returns an empty State reading time from now (time.Now if nil).
func NewState(now func() time.Time) *State {
	if now == nil {
		now = time.Now
	}
	s := &State{now: now, seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].rate = map[counterKey]*rateWindow{}
		s.shards[i].quota = map[counterKey]*quotaWindow{}
		s.shards[i].conc = map[counterKey]int{}
	}
	return s
}

func (s *State) shard(id, key string) *stateShard {
	return &s.shards[(maphash.String(s.seed, key)^maphash.String(s.seed, id))%uint64(len(s.shards))]
}

// rateTake checks and (if inc > 0) counts inc calls in the fixed window that
// began with the key's first call. With inc 0 it only checks that a call is
// still allowed (the increment comes later, at Finish).
func (s *State) rateTake(id, key string, calls int64, period time.Duration, inc int64) (ok bool, remaining int64, retry time.Duration) {
	now := s.now()
	sh := s.shard(id, key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	w := sh.rate[counterKey{id, key}]
	if w == nil {
		sh.sweepRate(now)
		w = &rateWindow{start: now, period: period}
		sh.rate[newKey(id, key)] = w
	} else if !now.Before(w.start.Add(period)) {
		w.start, w.count, w.period = now, 0, period
	}
	need := inc
	if need == 0 {
		need = 1
	}
	if w.count+need > calls {
		return false, 0, w.start.Add(period).Sub(now)
	}
	w.count += inc
	return true, calls - w.count, w.start.Add(period).Sub(now)
}

func (s *State) rateAdd(id, key string, period time.Duration, inc int64) {
	now := s.now()
	sh := s.shard(id, key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	w := sh.rate[counterKey{id, key}]
	switch {
	case w == nil:
		sh.sweepRate(now)
		w = &rateWindow{start: now, period: period}
		sh.rate[newKey(id, key)] = w
	case !now.Before(w.start.Add(period)):
		w.start, w.count, w.period = now, 0, period
	}
	w.count += inc
}

// quotaPeriod returns the start of the quota period containing now: periods
// are aligned to firstStart and last period long (period 0: never renews).
func quotaPeriod(now, firstStart time.Time, period time.Duration) time.Time {
	if period <= 0 || now.Before(firstStart) {
		return firstStart
	}
	// In seconds: APIM's default first start (year 1) is too far back for a
	// time.Duration.
	ps := int64(period / time.Second)
	if ps <= 0 {
		ps = 1
	}
	elapsed := now.Unix() - firstStart.Unix()
	return time.Unix(firstStart.Unix()+elapsed/ps*ps, 0).UTC()
}

// quotaTake checks the quota and counts inc calls (inc may be 0 when the
// count is deferred). It returns the time until the period renews.
func (s *State) quotaTake(id, key string, q *quotaSpec, inc int64) (ok bool, renew time.Duration) {
	now := s.now()
	sh := s.shard(id, key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	start := quotaPeriod(now, q.firstStart, q.period)
	w := sh.quota[counterKey{id, key}]
	if w == nil {
		sh.sweepQuota(now)
		w = &quotaWindow{start: start, period: q.period}
		sh.quota[newKey(id, key)] = w
	} else if !w.start.Equal(start) {
		w.start, w.calls, w.bytes, w.period = start, 0, 0, q.period
	}
	renew = time.Duration(1<<62 - 1)
	if q.period > 0 {
		renew = start.Add(q.period).Sub(now)
	}
	if q.calls > 0 && w.calls+max(inc, 1) > q.calls || q.kilobytes > 0 && w.bytes >= q.kilobytes*1024 {
		return false, renew
	}
	w.calls += inc
	return true, renew
}

func (s *State) quotaAdd(id, key string, q *quotaSpec, calls, bytes int64) {
	now := s.now()
	sh := s.shard(id, key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	start := quotaPeriod(now, q.firstStart, q.period)
	w := sh.quota[counterKey{id, key}]
	switch {
	case w == nil:
		sh.sweepQuota(now)
		w = &quotaWindow{start: start, period: q.period}
		sh.quota[newKey(id, key)] = w
	case !w.start.Equal(start):
		w.start, w.calls, w.bytes, w.period = start, 0, 0, q.period
	}
	w.calls += calls
	w.bytes += bytes
}

func (s *State) concAcquire(id, key string, max int64) bool {
	sh := s.shard(id, key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	n, ok := sh.conc[counterKey{id, key}]
	if int64(n) >= max {
		return false
	}
	if !ok {
		sh.conc[newKey(id, key)] = 1
		return true
	}
	sh.conc[counterKey{id, key}] = n + 1
	return true
}

func (s *State) concRelease(id, key string) {
	sh := s.shard(id, key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	k := counterKey{id, key}
	if n := sh.conc[k]; n > 1 {
		sh.conc[k] = n - 1
	} else {
		delete(sh.conc, k)
	}
}

// Concurrent returns how many limit-concurrency slots are held for a policy
// identity and key (for status pages and tests).
func (s *State) Concurrent(id, key string) int {
	sh := s.shard(id, key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.conc[counterKey{id, key}]
}

// QuotaCounter is one quota counter, for checkpointing to disk: the policy
// identity, the counter key, the start of the current period and what it has
// counted so far.
type QuotaCounter struct {
	Policy      string    `json:"policy"`
	Key         string    `json:"key"`
	PeriodStart time.Time `json:"periodStart"`
	Calls       int64     `json:"calls"`
	Bytes       int64     `json:"bytes"`
}

// QuotaCounters returns every quota counter, sorted by policy and key. The
// caller checkpoints them (the store) and gives them back to RestoreQuotas
// after a restart.
func (s *State) QuotaCounters() []QuotaCounter {
	var out []QuotaCounter
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for k, w := range sh.quota {
			out = append(out, QuotaCounter{Policy: k.id, Key: k.key, PeriodStart: w.start, Calls: w.calls, Bytes: w.bytes})
		}
		sh.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Policy != out[j].Policy {
			return out[i].Policy < out[j].Policy
		}
		return out[i].Key < out[j].Key
	})
	return out
}

// RestoreQuotas loads checkpointed counters, replacing counters with the same
// policy and key. A counter whose period has ended is harmless: the next call
// starts a new period. Negative counts are rejected and nothing is loaded.
func (s *State) RestoreQuotas(counters []QuotaCounter) error {
	for _, q := range counters {
		if q.Calls < 0 || q.Bytes < 0 || q.Policy == "" {
			return fmt.Errorf("%w: bad quota counter %q/%q", ErrState, q.Policy, q.Key)
		}
	}
	for _, q := range counters {
		sh := s.shard(q.Policy, q.Key)
		sh.mu.Lock()
		// The period is learnt again at the next call (sweeping skips 0).
		sh.quota[counterKey{q.Policy, q.Key}] = &quotaWindow{start: q.PeriodStart, calls: q.Calls, bytes: q.Bytes}
		sh.mu.Unlock()
	}
	return nil
}

// deferredCount is a counter increment applied at Finish.
type deferredCount struct {
	id, key string
	cond    *prop
	rate    time.Duration // renewal period of a rate limit (rate > 0)
	inc     int64
	quota   *quotaSpec
	bytes   bool // count c.Transferred against the quota
}

func (d *deferredCount) apply(s *State, c *Context) {
	if d.quota != nil {
		var b int64
		if d.bytes {
			b = c.Transferred
		}
		s.quotaAdd(d.id, d.key, d.quota, d.inc, b)
		return
	}
	s.rateAdd(d.id, d.key, d.rate, d.inc)
}
