package policy

import (
	"sync/atomic"
	"time"
)

// Counters shared by gateway replicas (rate-limit, rate-limit-by-key, quota,
// quota-by-key) come in two modes. With a back end that grants leases
// (Leaser, sharedlease.go: the default, exact) calls are admitted from budgets
// taken from the shared total, never beyond the limit. Otherwise (approximate,
// or for what leases do not cover: bytes, increments counted at Finish beyond
// the budget) they are decided locally and synchronised in the background: the
// State admits or refuses a call from its own window at once, as without
// sharing, and hands every increment it counts to a SharedCounters back end
// (the appliance fills it with Redis). The back end adds the increment to the
// replicas' common total off the event loop and gives the total back through
// State.ApplyShared, which makes it the local window's count (plus the
// increments still in flight). So a replica's view lags the others by one
// round trip: with N replicas taking turns, up to N-1 calls beyond the limit
// pass in a window (docs/policies.md, "Replicas sharing counters").
//
// A back end that cannot share (Redis unreachable) refuses Add and the
// counters are local at once: nothing ever waits for it.

// SharedCounters is where the State sends its counter increments when
// replicas share counters. Add must not block: it queues u (whose strings are
// immutable and may be kept) and reports false when it cannot (the back end is
// down or its queue is full); the call is then counted locally only. The back
// end answers each queued update, from its own goroutine, with
// State.ApplyShared.
type SharedCounters interface {
	Add(u CounterUpdate) bool
}

// CounterUpdate is one increment of a shared counter.
type CounterUpdate struct {
	// Quota is true for quota and quota-by-key, false for rate limits.
	Quota bool
	// Policy is the policy identity and Key the counter key (folded to its
	// digest when longer than MaxKeyBytes): together the counter's name,
	// the same on every replica running the same configuration.
	Policy, Key string
	// Period is the rate limit's renewal period or the quota's (0: a quota
	// that never renews).
	Period time.Duration
	// PeriodStart is the start of the quota period counted (zero for rate
	// limits, whose window starts with the first call any replica counts).
	PeriodStart time.Time
	// Calls and Bytes are the increment (Bytes only for quotas). For a lease
	// request (Lease true) Calls is how many calls are asked for.
	Calls, Bytes int64
	// Lease marks a lease request (Leaser, sharedlease.go): the back end
	// grants at most Calls calls without taking the shared total beyond
	// Limit, and answers with State.ApplyLease instead of ApplyShared.
	Lease bool
	Limit int64

	// ticket is the State's handle on the waiting requests (lease requests
	// only); the back end hands the update back unchanged.
	ticket *leaseTicket
}

// CounterTotal is the shared total after an update.
type CounterTotal struct {
	Calls, Bytes int64
	// Left is how long the rate-limit window has to run (rate limits only).
	Left time.Duration
}

// sharedBox holds the back end for an atomic.Pointer (l: the same back end
// when it also grants leases).
type sharedBox struct {
	c SharedCounters
	l Leaser
}

// SetShared makes the State send its increments to c (nil: counters are
// local, the default). Set it before serving; safe at any time.
func (s *State) SetShared(c SharedCounters) {
	if c == nil {
		s.shared.Store(nil)
		return
	}
	l, _ := c.(Leaser)
	s.shared.Store(&sharedBox{c: c, l: l})
}

func (s *State) sharedCounters() SharedCounters {
	if b := s.shared.Load(); b != nil {
		return b.c
	}
	return nil
}

// leaser returns the back end if it grants leases.
func (s *State) leaser() Leaser {
	if b := s.shared.Load(); b != nil {
		return b.l
	}
	return nil
}

// shareRate sends a rate increment; called with the shard locked.
func (s *State) shareRate(w *rateWindow, period time.Duration, inc int64) {
	sc := s.sharedCounters()
	if sc == nil || inc <= 0 {
		return
	}
	if sc.Add(CounterUpdate{Policy: w.key.id, Key: w.key.key, Period: period, Calls: inc}) {
		w.pending += inc
	}
}

// shareQuota sends a quota increment; called with the shard locked.
func (s *State) shareQuota(w *quotaWindow, q *quotaSpec, calls, bytes int64) {
	sc := s.sharedCounters()
	if sc == nil || calls <= 0 && bytes <= 0 {
		return
	}
	if sc.Add(CounterUpdate{Quota: true, Policy: w.key.id, Key: w.key.key, Period: q.period, PeriodStart: w.start, Calls: calls, Bytes: bytes}) {
		w.pendCalls += calls
		w.pendBytes += bytes
	}
}

// ApplyShared takes the shared total after update u (from the back end's
// goroutine): the local window's count becomes the total plus the increments
// sent since and not yet answered, and a rate window is aligned to the shared
// window's end. failed reports that u never reached the shared total (the
// back end went down): only its in-flight count is released. A counter
// evicted meanwhile, or a quota period that has ended, is left alone.
func (s *State) ApplyShared(u CounterUpdate, t CounterTotal, failed bool) {
	now := s.now()
	sh := s.shard(u.Policy, u.Key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	k := counterKey{u.Policy, u.Key}
	if u.Quota {
		w := sh.quota[k]
		if w == nil || !w.start.Equal(u.PeriodStart) {
			return
		}
		w.pendCalls = max(0, w.pendCalls-u.Calls)
		w.pendBytes = max(0, w.pendBytes-u.Bytes)
		if !failed {
			w.calls, w.bytes = max(0, t.Calls+w.pendCalls-w.lease.left), t.Bytes+w.pendBytes
		}
		return
	}
	w := sh.rate[k]
	if w == nil {
		return
	}
	w.pending = max(0, w.pending-u.Calls)
	if failed || t.Left <= 0 || t.Left > w.period {
		return
	}
	w.start = now.Add(t.Left).Add(-w.period)
	w.count = max(0, t.Calls+w.pending-w.lease.left)
}

// sharedState is the State's handle on its back end.
type sharedState = atomic.Pointer[sharedBox]
