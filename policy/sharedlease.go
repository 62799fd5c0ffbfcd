package policy

import (
	"sync"
	"time"
)

// Leased budgets (exact sharing): a back end that implements Leaser grants a
// replica budgets of calls taken from the shared total atomically, never
// beyond the limit. The State admits a call locally while its window holds
// budget ("lease") left; when it has none it asks the back end for the next
// lease and the request is suspended (Outcome Await) until the answer, off
// the event loop. Requests arriving meanwhile wait for the same answer. So
// while the back end answers, no replica admits a call the shared total has
// not granted: the limit holds exactly across any number of replicas.
//
// The lease size k adapts to the limit and to the rate: it starts at 1 (every
// call a round trip), doubles when a lease lasted less than leaseFast and
// halves when it lasted more than leaseSlow, and never exceeds leaseMax(limit)
// (limit/64, at most 4096: k is 1 for every limit below 128). Once k reaches
// 4 the next lease is asked for before the current one runs out (a quarter
// left), so a hot counter stays on the local path. A lease asked for by
// waiting requests is as large as their number (capped at maxLeaseAsk): those
// calls are used at once, not kept.
//
// Unused budget is not given back: it expires with the rate-limit window or
// the quota period, so calls a replica holds but does not use are refused to
// the others (at most 2*leaseMax(limit) per replica: the lease and the one
// asked for ahead). It never lets more calls pass than the limit.
//
// A back end that cannot lease (Redis unreachable, approximate mode, a full
// queue) refuses Lease and the State counts as without leases (SharedCounters.Add,
// or locally): nothing waits for a back end that is down.

// Leaser is a SharedCounters back end that also grants leases. Lease must not
// block: it queues u (a lease request: u.Lease, u.Calls the calls asked for,
// u.Limit the limit) and reports false when it cannot. It answers each queued
// request once, from its own goroutine, with State.ApplyLease (failed true
// when it could not reach the shared total).
type Leaser interface {
	Lease(u CounterUpdate) bool
}

// LeaseGrant is a back end's answer to a lease request.
type LeaseGrant struct {
	// Granted is how many calls the lease holds (fewer than asked, 0 even,
	// when the shared total reached the limit).
	Granted int64
	// Total is the shared count of calls after the grant; Bytes a quota's
	// shared byte count.
	Total, Bytes int64
	// Left is how long the rate-limit window has to run (rate limits only).
	Left time.Duration
}

// Lease sizes (see above).
const (
	leaseFast   = 100 * time.Millisecond
	leaseSlow   = time.Second
	maxLeaseAsk = 4096
)

// leaseMax is the largest lease kept for a limit of calls.
func leaseMax(limit int64) int64 {
	return min(max(limit/64, 1), maxLeaseAsk)
}

// leaseState is a window's budget; guarded by the shard's lock.
type leaseState struct {
	left    int64        // calls granted, not yet admitted
	k       int64        // size of the next lease
	grantAt time.Time    // when the last lease arrived
	ticket  *leaseTicket // the request in flight, nil if none
}

// reset drops the budget of a window that ended; a request in flight is
// answered but its grant, which belongs to the old window, is dropped.
func (ls *leaseState) reset() {
	ls.left = 0
	if ls.ticket != nil {
		ls.ticket.stale = true
	}
}

// leaseTicket is one lease request in flight and the requests waiting for it.
type leaseTicket struct {
	waiters []waiter
	stale   bool // the window ended meanwhile
}

// leaseResult is what leaseTake decided.
type leaseResult uint8

const (
	leaseOff  leaseResult = iota // no lease: count as without leases
	leaseOK                      // admitted from the budget
	leaseWait                    // suspended until the lease request is answered
)

// leaseTake admits a call needing need calls of budget (inc of them counted
// now, 0 for a check whose count comes at Finish) from ls, or asks for a
// lease and arms aw. u names the counter. Called with the shard locked.
func (s *State) leaseTake(l Leaser, ls *leaseState, u CounterUpdate, need, inc int64, now time.Time, aw *LeaseWait) leaseResult {
	if ls.left >= need {
		ls.left -= inc
		if ls.ticket == nil && ls.k >= 4 && ls.left <= ls.k/4 {
			s.askLease(l, ls, u, now, 0) // ahead of need; a refusal is retried when it runs out
		}
		return leaseOK
	}
	if aw == nil {
		return leaseOff
	}
	if ls.ticket == nil && !s.askLease(l, ls, u, now, need-ls.left) {
		return leaseOff
	}
	ls.ticket.waiters = append(ls.ticket.waiters, aw.arm())
	return leaseWait
}

// askLease sends a lease request for ls: the adapted size k, or want if more.
func (s *State) askLease(l Leaser, ls *leaseState, u CounterUpdate, now time.Time, want int64) bool {
	k := max(ls.k, 1)
	if !ls.grantAt.IsZero() {
		switch d := now.Sub(ls.grantAt); {
		case d < leaseFast:
			k *= 2
		case d > leaseSlow:
			k /= 2
		}
	}
	k = min(max(k, 1), leaseMax(u.Limit))
	ls.k = k
	t := &leaseTicket{}
	u.Lease, u.Calls, u.ticket = true, min(max(k, want), maxLeaseAsk), t
	if !l.Lease(u) {
		return false
	}
	ls.ticket = t
	return true
}

// ApplyLease takes a back end's answer to lease request u (from its
// goroutine): the window's budget grows by the grant, its count becomes the
// shared total less the budget left (so a replica refuses locally once the
// shared total reached the limit and its budget is spent), a rate window is
// aligned to the shared window's end, and the requests waiting for the answer
// resume. failed reports that the request never reached the shared total.
func (s *State) ApplyLease(u CounterUpdate, g LeaseGrant, failed bool) {
	t := u.ticket
	if t == nil {
		return
	}
	now := s.now()
	sh := s.shard(u.Policy, u.Key)
	sh.mu.Lock()
	k := counterKey{u.Policy, u.Key}
	var ls *leaseState
	if u.Quota {
		if w := sh.quota[k]; w != nil && w.lease.ticket == t {
			ls = &w.lease
			if !failed && !t.stale {
				ls.left += g.Granted
				w.calls = max(0, g.Total+w.pendCalls-ls.left)
				w.bytes = g.Bytes + w.pendBytes
			}
		}
	} else if w := sh.rate[k]; w != nil && w.lease.ticket == t {
		ls = &w.lease
		if !failed && !t.stale {
			ls.left += g.Granted
			if g.Left > 0 && g.Left <= w.period {
				w.start = now.Add(g.Left).Add(-w.period)
			}
			w.count = max(0, g.Total+w.pending-ls.left)
		}
	}
	if ls != nil {
		ls.ticket, ls.grantAt = nil, now
		// More requests waited than the grant covers, and the limit is not
		// reached: ask for what they need at once; they join that ticket.
		if extra := int64(len(t.waiters)) - ls.left; !failed && !t.stale && g.Granted >= u.Calls && extra > 0 {
			if l := s.leaser(); l != nil {
				s.askLease(l, ls, u, now, extra)
			}
		}
	}
	waiters := t.waiters
	t.waiters = nil
	sh.mu.Unlock()
	for _, w := range waiters {
		w.fire()
	}
}

// LeaseWait is a request suspended until a lease request is answered (Outcome
// Await). The caller suspends the exchange and calls OnDone once with the
// function that resumes it (which then calls Pipeline.Resume); the step runs
// again and finds the budget, a refusal, or local counters.
type LeaseWait struct {
	mu   sync.Mutex
	gen  uint64
	done bool
	fn   func()
}

// OnDone calls fn once, from any goroutine, when the awaited answer has
// arrived: at once (on the caller's goroutine) if it already has.
func (a *LeaseWait) OnDone(fn func()) {
	a.mu.Lock()
	if a.done {
		a.mu.Unlock()
		fn()
		return
	}
	a.fn = fn
	a.mu.Unlock()
}

// arm starts a new wait on a (a reused Context's earlier waits are ignored).
func (a *LeaseWait) arm() waiter {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.gen++
	a.done, a.fn = false, nil
	return waiter{a, a.gen}
}

// waiter is one armed wait.
type waiter struct {
	a   *LeaseWait
	gen uint64
}

func (w waiter) fire() {
	a := w.a
	a.mu.Lock()
	if a.gen != w.gen || a.done {
		a.mu.Unlock()
		return
	}
	a.done = true
	fn := a.fn
	a.fn = nil
	a.mu.Unlock()
	if fn != nil {
		fn()
	}
}

// leaseReturnMargin: a rate window's budget is given back only while the
// window has longer than this to run, so the shared window is surely the one
// the budget came from.
const leaseReturnMargin = time.Second

// ReturnLeases takes the unused budget out of every window and returns it as
// updates (Calls: the budget) for a back end to give back to the shared total
// before it stops: rate windows with more than leaseReturnMargin to run,
// quota periods not yet ended. Budget of other windows is dropped (it expires
// with them). The windows count as without leases afterwards.
func (s *State) ReturnLeases() []CounterUpdate {
	now := s.now()
	var out []CounterUpdate
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for _, w := range sh.rate {
			if w.lease.left > 0 {
				if w.start.Add(w.period).Sub(now) > leaseReturnMargin {
					out = append(out, CounterUpdate{Policy: w.key.id, Key: w.key.key, Period: w.period, Calls: w.lease.left})
				}
				w.lease.left = 0
			}
		}
		for _, w := range sh.quota {
			if w.lease.left > 0 {
				if w.period <= 0 || now.Before(w.start.Add(w.period)) {
					out = append(out, CounterUpdate{Quota: true, Policy: w.key.id, Key: w.key.key, Period: w.period, PeriodStart: w.start, Calls: w.lease.left})
				}
				w.lease.left = 0
			}
		}
		sh.mu.Unlock()
	}
	return out
}
