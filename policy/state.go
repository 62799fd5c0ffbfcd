package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/maphash"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// State holds the counters of rate-limit, rate-limit-by-key, quota,
// quota-by-key and limit-concurrency. It lives outside compiled pipelines:
// pass one State to every snapshot's Compiler, and a config swap keeps every
// counter whose policy identity (Source name, section, element, ordinal) and
// counter key are unchanged.
//
// State is safe for concurrent use; it is sharded so event loops rarely
// contend. The clock is injected (NewState) so tests control time.
//
// Counter keys come from expressions over the request (counter-key), so a
// client chooses them: the number of live keys per policy is bounded
// (SetMaxKeys, DefaultMaxKeys), the least recently used key of a policy is
// evicted to make room, and keys longer than MaxKeyBytes are stored as their
// SHA-256. An evicted key starts a new window or period at its next call: the
// bound fails open (see docs/policies.md).
type State struct {
	now     func() time.Time
	seed    maphash.Seed
	maxKeys atomic.Int64 // per policy
	shards  [numShards]stateShard

	rateEvictions, quotaEvictions atomic.Uint64
	cache                         ValueCache  // cache-*-value (cache.go)
	jwks                          jwksCache   // validate-jwt openid-config keys (jwks.go)
	tokens                        tokenCache  // authentication-managed-identity (tokens.go)
	certs                         certCache   // authentication-certificate body certificates (pol_authentication_certificate.go)
	metrics                       metricStore // emit-metric (pol_emit_metric.go)
	shared                        sharedState // replicas' shared counters (sharedcounters.go), nil: local

	external externalState // the external cache (pol_cache_external.go)
}

const numShards = 32

// DefaultMaxKeys is how many counter keys one rate-limit(-by-key) or
// quota(-by-key) policy keeps by default (env.conf policy.rate-limit.max-keys).
const DefaultMaxKeys = 65536

// MaxKeyBytes is the longest counter key stored as it is; a longer key is
// stored (and checkpointed) as "\x00sha256:" and its SHA-256 in hex, so a
// key's memory is bounded whatever the client sends.
const MaxKeyBytes = 128

type stateShard struct {
	mu    sync.Mutex
	rate  map[counterKey]*rateWindow
	quota map[counterKey]*quotaWindow
	conc  map[counterKey]int
	// Per policy identity, the shard's windows from most to least recently
	// used: the tail is evicted when the policy holds its share of maxKeys.
	rateLRU, quotaLRU map[string]*lruList
	// Expired windows are swept when a map outgrows these sizes (then the
	// size doubles), so memory follows the number of live keys at amortised
	// constant cost.
	rateSweepAt, quotaSweepAt int
}

// lruNode links a window into its policy's list in a shard.
type lruNode struct {
	prev, next *lruNode
	list       *lruList
	key        counterKey
}

// lruList is a circular doubly linked list with a sentinel.
type lruList struct {
	root lruNode
	n    int
}

func newLRU() *lruList {
	l := &lruList{}
	l.root.prev, l.root.next = &l.root, &l.root
	return l
}

func (l *lruList) pushFront(n *lruNode) {
	n.list = l
	n.prev, n.next = &l.root, l.root.next
	l.root.next.prev = n
	l.root.next = n
	l.n++
}

func (n *lruNode) unlink() {
	if n.list == nil {
		return
	}
	n.prev.next, n.next.prev = n.next, n.prev
	n.prev, n.next = nil, nil
	n.list.n--
	n.list = nil
}

// touch makes n the most recently used of its list.
func (n *lruNode) touch() {
	l := n.list
	if l == nil || l.root.next == n {
		return
	}
	n.prev.next, n.next.prev = n.next, n.prev
	n.prev, n.next = &l.root, l.root.next
	l.root.next.prev = n
	l.root.next = n
}

// back returns the least recently used node, or nil.
func (l *lruList) back() *lruNode {
	if l.n == 0 {
		return nil
	}
	return l.root.prev
}

// perShard is how many keys of one policy a shard keeps.
func (s *State) perShard() int {
	m := s.maxKeys.Load()
	return int(max(1, (m+numShards-1)/numShards))
}

// SetMaxKeys bounds the counter keys each rate-limit(-by-key) and
// quota(-by-key) policy keeps (n <= 0: DefaultMaxKeys). The bound is kept per
// shard (each of the 32 shards keeps at most ceil(n/32) keys of a policy), so
// a policy holds at most n rounded up to a multiple of 32. Lowering it takes
// effect as keys are added. Safe at any time.
func (s *State) SetMaxKeys(n int) {
	if n <= 0 {
		n = DefaultMaxKeys
	}
	s.maxKeys.Store(int64(n))
}

// StateStats are the State's counts, for /metrics.
type StateStats struct {
	RateKeys, QuotaKeys           int    // live keys (windows) now
	RateEvictions, QuotaEvictions uint64 // keys evicted to stay within the bound
	MaxKeys                       int    // the bound per policy
}

// Stats counts the live keys and the evictions so far (it locks each shard
// in turn, briefly).
func (s *State) Stats() StateStats {
	st := StateStats{RateEvictions: s.rateEvictions.Load(), QuotaEvictions: s.quotaEvictions.Load(), MaxKeys: int(s.maxKeys.Load())}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		st.RateKeys += len(sh.rate)
		st.QuotaKeys += len(sh.quota)
		sh.mu.Unlock()
	}
	return st
}

// foldKey returns key, or for a key longer than MaxKeyBytes its digest form
// written into buf (the result views buf: clone it to keep it).
func foldKey(key string, buf *[8 + 2*sha256.Size]byte) string {
	if len(key) <= MaxKeyBytes {
		return key
	}
	sum := sha256.Sum256(unsafe.Slice(unsafe.StringData(key), len(key)))
	copy(buf[:], "\x00sha256:")
	hex.Encode(buf[8:], sum[:])
	return unsafe.String(&buf[0], len(buf))
}

// insertRate stores a new rate window, evicting the policy's least recently
// used key in this shard when it holds its share. Called with sh.mu held.
func (s *State) insertRate(sh *stateShard, id, key string, w *rateWindow) {
	l := sh.rateLRU[id]
	if l == nil {
		l = newLRU()
		sh.rateLRU[id] = l
	}
	for limit := s.perShard(); l.n >= limit; {
		old := l.back()
		old.unlink()
		delete(sh.rate, old.key)
		s.rateEvictions.Add(1)
	}
	w.key = newKey(id, key)
	sh.rate[w.key] = w
	l.pushFront(&w.lruNode)
}

// insertQuota is insertRate for quota periods.
func (s *State) insertQuota(sh *stateShard, id, key string, w *quotaWindow) {
	l := sh.quotaLRU[id]
	if l == nil {
		l = newLRU()
		sh.quotaLRU[id] = l
	}
	for limit := s.perShard(); l.n >= limit; {
		old := l.back()
		old.unlink()
		delete(sh.quota, old.key)
		s.quotaEvictions.Add(1)
	}
	w.key = newKey(id, key)
	sh.quota[w.key] = w
	l.pushFront(&w.lruNode)
}

// sweepFloor is the map size below which no sweeping happens.
const sweepFloor = 1024

type counterKey struct {
	id, key string
}

type rateWindow struct {
	lruNode
	start   time.Time
	period  time.Duration
	count   int64
	pending int64 // sent to the shared counters, not yet answered (sharedcounters.go)
	lease   leaseState
}

type quotaWindow struct {
	lruNode
	start  time.Time
	period time.Duration
	calls  int64
	bytes  int64
	// sent to the shared counters, not yet answered (sharedcounters.go)
	pendCalls, pendBytes int64
	lease                leaseState
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
			w.unlink()
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
			w.unlink()
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
	s.maxKeys.Store(DefaultMaxKeys)
	for i := range s.shards {
		s.shards[i].rate = map[counterKey]*rateWindow{}
		s.shards[i].quota = map[counterKey]*quotaWindow{}
		s.shards[i].conc = map[counterKey]int{}
		s.shards[i].rateLRU = map[string]*lruList{}
		s.shards[i].quotaLRU = map[string]*lruList{}
	}
	return s
}

func (s *State) shard(id, key string) *stateShard {
	return &s.shards[(maphash.String(s.seed, key)^maphash.String(s.seed, id))%uint64(len(s.shards))]
}

// rateTake checks and (if inc > 0) counts inc calls in the fixed window that
// began with the key's first call. With inc 0 it only checks that a call is
// still allowed (the increment comes later, at Finish). With a leasing back
// end (sharedlease.go) and aw set, wait reports that the call is suspended
// until aw fires.
func (s *State) rateTake(id, key string, calls int64, period time.Duration, inc int64) (ok bool, remaining int64, retry time.Duration) {
	ok, remaining, retry, _ = s.rateTakeAwait(id, key, calls, period, inc, nil)
	return ok, remaining, retry
}

// rateTakeAwait is rateTake, suspending on aw when a lease is needed.
func (s *State) rateTakeAwait(id, key string, calls int64, period time.Duration, inc int64, aw *LeaseWait) (ok bool, remaining int64, retry time.Duration, wait bool) {
	var kb [8 + 2*sha256.Size]byte
	key = foldKey(key, &kb)
	now := s.now()
	sh := s.shard(id, key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	w := sh.rate[counterKey{id, key}]
	if w == nil {
		sh.sweepRate(now)
		w = &rateWindow{start: now, period: period}
		s.insertRate(sh, id, key, w)
	} else {
		w.touch()
		if !now.Before(w.start.Add(period)) {
			w.start, w.count, w.period = now, 0, period
			w.lease.reset()
		}
	}
	need := inc
	if need == 0 {
		need = 1
	}
	if w.count+need > calls {
		return false, 0, w.start.Add(period).Sub(now), false
	}
	if l := s.leaser(); l != nil {
		switch s.leaseTake(l, &w.lease, CounterUpdate{Policy: w.key.id, Key: w.key.key, Period: period, Limit: calls}, need, inc, now, aw) {
		case leaseWait:
			return false, 0, 0, true
		case leaseOK:
			w.count += inc
			return true, calls - w.count, w.start.Add(period).Sub(now), false
		}
	}
	w.count += inc
	s.shareRate(w, period, inc)
	return true, calls - w.count, w.start.Add(period).Sub(now), false
}

func (s *State) rateAdd(id, key string, period time.Duration, inc int64) {
	var kb [8 + 2*sha256.Size]byte
	key = foldKey(key, &kb)
	now := s.now()
	sh := s.shard(id, key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	w := sh.rate[counterKey{id, key}]
	switch {
	case w == nil:
		sh.sweepRate(now)
		w = &rateWindow{start: now, period: period}
		s.insertRate(sh, id, key, w)
	case !now.Before(w.start.Add(period)):
		w.touch()
		w.start, w.count, w.period = now, 0, period
		w.lease.reset()
	default:
		w.touch()
	}
	w.count += inc
	if inc > 0 && w.lease.left >= inc { // checked at take, counted now: from the budget
		w.lease.left -= inc
		return
	}
	s.shareRate(w, period, inc)
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
// count is deferred). It returns the time until the period renews; wait as
// for rateTake (a call quota with a leasing back end).
func (s *State) quotaTake(id, key string, q *quotaSpec, inc int64) (ok bool, renew time.Duration) {
	ok, renew, _ = s.quotaTakeAwait(id, key, q, inc, nil)
	return ok, renew
}

// quotaTakeAwait is quotaTake, suspending on aw when a lease is needed.
func (s *State) quotaTakeAwait(id, key string, q *quotaSpec, inc int64, aw *LeaseWait) (ok bool, renew time.Duration, wait bool) {
	var kb [8 + 2*sha256.Size]byte
	key = foldKey(key, &kb)
	now := s.now()
	sh := s.shard(id, key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	start := quotaPeriod(now, q.firstStart, q.period)
	w := sh.quota[counterKey{id, key}]
	if w == nil {
		sh.sweepQuota(now)
		w = &quotaWindow{start: start, period: q.period}
		s.insertQuota(sh, id, key, w)
	} else {
		w.touch()
		if !w.start.Equal(start) {
			w.start, w.calls, w.bytes, w.period = start, 0, 0, q.period
			w.pendCalls, w.pendBytes = 0, 0
			w.lease.reset()
		}
	}
	renew = time.Duration(1<<62 - 1)
	if q.period > 0 {
		renew = start.Add(q.period).Sub(now)
	}
	if q.calls > 0 && w.calls+max(inc, 1) > q.calls || q.kilobytes > 0 && w.bytes >= q.kilobytes*1024 {
		return false, renew, false
	}
	if l := s.leaser(); l != nil && q.calls > 0 {
		switch s.leaseTake(l, &w.lease, CounterUpdate{Quota: true, Policy: w.key.id, Key: w.key.key, Period: q.period, PeriodStart: w.start, Limit: q.calls}, max(inc, 1), inc, now, aw) {
		case leaseWait:
			return false, 0, true
		case leaseOK:
			w.calls += inc
			return true, renew, false
		}
	}
	w.calls += inc
	s.shareQuota(w, q, inc, 0)
	return true, renew, false
}

func (s *State) quotaAdd(id, key string, q *quotaSpec, calls, bytes int64) {
	var kb [8 + 2*sha256.Size]byte
	key = foldKey(key, &kb)
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
		s.insertQuota(sh, id, key, w)
	case !w.start.Equal(start):
		w.touch()
		w.start, w.calls, w.bytes, w.period = start, 0, 0, q.period
		w.pendCalls, w.pendBytes = 0, 0
		w.lease.reset()
	default:
		w.touch()
	}
	w.calls += calls
	w.bytes += bytes
	if calls > 0 && w.lease.left >= calls { // checked at take, counted now: from the budget
		w.lease.left -= calls
		calls = 0
	}
	s.shareQuota(w, q, calls, bytes)
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
		var kb [8 + 2*sha256.Size]byte
		key := foldKey(q.Key, &kb)
		sh := s.shard(q.Policy, key)
		sh.mu.Lock()
		// The period is learnt again at the next call (sweeping skips 0).
		k := counterKey{q.Policy, key}
		if old := sh.quota[k]; old != nil {
			old.start, old.calls, old.bytes = q.PeriodStart, q.Calls, q.Bytes
		} else {
			s.insertQuota(sh, q.Policy, key, &quotaWindow{start: q.PeriodStart, calls: q.Calls, bytes: q.Bytes})
		}
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
