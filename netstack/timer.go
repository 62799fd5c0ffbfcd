package netstack

import "math"

// A wheel is a hashed timer wheel owned by one event loop: arming, moving and
// stopping a timer are O(1) list operations, and each tick looks only at the
// slots whose time has come. It is not safe for concurrent use: only the loop
// that owns it touches it (ticks reach the loop through Execute).
//
// Ticks come only when something is due: next is the time of the tick the
// loop's ticker is set for, and arming a timer due before it calls wake with
// the earlier tick's time. After a tick, nextTick says when the next one is
// needed. An idle loop (no timers) is therefore never woken, and neither is
// the Go runtime's sysmon, which otherwise keeps polling at its fastest rate
// after each wake-up of a loop blocked in epoll_wait.
type wheel struct {
	tick  int64 // nanoseconds per slot
	slots []timerNode
	cur   int64 // the last tick processed
	next  int64 // when the ticker fires next; math.MinInt64 while advancing
	wake  func(at int64)

	scratch timerNode // holds a slot's timers while they are walked
}

// noTick is next when nothing is due: the ticker is stopped.
const noTick = math.MaxInt64

// timed is what a timer fires on.
type timed interface {
	expire(now int64)
}

// timerNode is embedded in what can time out. when == 0 means not armed.
type timerNode struct {
	prev, next *timerNode
	when       int64
	owner      timed
}

const wheelSlots = 512

// newWheel returns an empty wheel whose ticker is stopped; wake is called on
// the owning loop whenever a tick is needed before next.
func newWheel(tick int64, now int64, wake func(at int64)) *wheel {
	w := &wheel{tick: tick, slots: make([]timerNode, wheelSlots), cur: now / tick, next: noTick, wake: wake}
	for i := range w.slots {
		w.slots[i].prev = &w.slots[i]
		w.slots[i].next = &w.slots[i]
	}
	return w
}

// arm (re)schedules n to fire at when (unix nanoseconds).
func (w *wheel) arm(n *timerNode, when int64) {
	w.stop(n)
	// The slot of the first tick at or after when: processing slot t at a time
	// now with now/tick >= t guarantees now >= when.
	t := w.need((when + w.tick - 1) / w.tick)
	head := &w.slots[t%wheelSlots]
	n.when = when
	n.prev = head.prev
	n.next = head
	head.prev.next = n
	head.prev = n
}

// stop disarms n; a disarmed node is left alone.
func (w *wheel) stop(n *timerNode) {
	if n.next == nil {
		return
	}
	n.prev.next = n.next
	n.next.prev = n.prev
	n.prev, n.next = nil, nil
	n.when = 0
}

// advance fires every timer due at or before now. A slot's list is detached
// before it is walked, so that expire may arm or stop any timer, this slot's
// included.
func (w *wheel) advance(now int64) {
	w.next = math.MinInt64 // arming meanwhile wakes nobody: nextTick follows
	end := now / w.tick
	if end-w.cur > wheelSlots {
		w.cur = end - wheelSlots
	}
	tmp := &w.scratch
	for w.cur < end {
		w.cur++
		head := &w.slots[w.cur%wheelSlots]
		if head.next == head {
			continue
		}
		tmp.next, tmp.prev = head.next, head.prev
		tmp.next.prev, tmp.prev.next = tmp, tmp
		head.next, head.prev = head, head
		for tmp.next != tmp {
			n := tmp.next
			n.prev.next = n.next
			n.next.prev = n.prev
			n.prev, n.next = nil, nil
			if n.when <= now {
				n.when = 0
				n.owner.expire(now)
			} else {
				w.arm(n, n.when) // due in a later turn of the wheel
			}
		}
	}
}

// need makes sure a tick processes slot t (at the earliest the next one, which
// it returns): if that is before next, the ticker is told. Arming a timer
// costs one comparison more.
func (w *wheel) need(t int64) int64 {
	t = max(t, w.cur+1)
	if at := t * w.tick; at < w.next {
		w.next = at
		w.wake(at)
	}
	return t
}

// wakeBy asks for a tick at the first slot boundary after at at the latest
// (loop work that runs on ticks, like parked connections, uses it).
func (w *wheel) wakeBy(at int64) { w.need(at/w.tick + 1) }

// nextTick is called at the end of a tick, after advance, and records as
// next when the next tick is needed, which it returns: the next slot if soon
// (work waits on ticks), else the first slot holding a timer within one turn
// of the wheel, or noTick. Timers due in a later turn sit in a slot of this
// one and are moved along when it comes.
func (w *wheel) nextTick(soon bool) int64 {
	w.next = noTick
	for t := w.cur + 1; t <= w.cur+wheelSlots; t++ {
		if head := &w.slots[t%wheelSlots]; soon || head.next != head {
			w.next = t * w.tick
			break
		}
	}
	return w.next
}
