package netstack

import "testing"

type fired struct {
	timerNode
	at []int64
}

func (f *fired) expire(now int64) { f.at = append(f.at, now) }

func TestWheel(t *testing.T) {
	const ms = int64(1e6)
	w := newWheel(10*ms, 1000*ms, func(int64) {})
	a, b, c := &fired{}, &fired{}, &fired{}
	a.owner, b.owner, c.owner = a, b, c
	w.arm(&a.timerNode, 1050*ms)
	w.arm(&b.timerNode, 1000*ms+wheelSlots*10*ms+30*ms) // beyond one turn of the wheel
	w.arm(&c.timerNode, 1100*ms)
	w.stop(&c.timerNode)
	w.stop(&c.timerNode) // twice is fine
	w.advance(1040 * ms)
	if len(a.at) != 0 {
		t.Fatal("fired early")
	}
	w.advance(1060 * ms)
	if len(a.at) != 1 {
		t.Fatalf("a fired %d times", len(a.at))
	}
	w.advance(1000*ms + 20*ms + wheelSlots*10*ms)
	if len(b.at) != 0 {
		t.Fatal("b fired a turn early")
	}
	w.advance(1000*ms + 40*ms + wheelSlots*10*ms)
	if len(b.at) != 1 || len(c.at) != 0 || len(a.at) != 1 {
		t.Fatalf("a %d b %d c %d", len(a.at), len(b.at), len(c.at))
	}
	// Re-arming moves the timer.
	w.arm(&a.timerNode, 1000*ms+wheelSlots*10*ms+100*ms)
	w.arm(&a.timerNode, 1000*ms+wheelSlots*10*ms+500*ms)
	w.advance(1000*ms + wheelSlots*10*ms + 200*ms)
	if len(a.at) != 1 {
		t.Fatal("re-armed timer fired at its old time")
	}
	w.advance(1000*ms + wheelSlots*10*ms + 600*ms)
	if len(a.at) != 2 {
		t.Fatal("re-armed timer did not fire")
	}
}

// TestWheelSchedule checks when the wheel asks its loop for ticks: arming a
// timer due before the next tick asks for one at its slot, a later one asks
// for nothing, and after a tick nextTick names the first slot holding a
// timer (the next slot when work waits on ticks, noTick when nothing does).
func TestWheelSchedule(t *testing.T) {
	const ms = int64(1e6)
	var woken []int64
	w := newWheel(10*ms, 1000*ms, func(at int64) { woken = append(woken, at) })
	a, b := &fired{}, &fired{}
	a.owner, b.owner = a, b
	w.arm(&a.timerNode, 1055*ms) // slot 106: its tick is at 1060 ms
	w.arm(&b.timerNode, 1200*ms) // later than the tick asked for
	if len(woken) != 1 || woken[0] != 1060*ms {
		t.Fatalf("woken %v, want [1060 ms]", woken)
	}
	w.arm(&b.timerNode, 1031*ms) // moved before it: a tick at 1040 ms
	if len(woken) != 2 || woken[1] != 1040*ms {
		t.Fatalf("woken %v, want the second at 1040 ms", woken)
	}
	w.wakeBy(1033 * ms) // already due by then
	if len(woken) != 2 {
		t.Fatalf("woken %v after wakeBy: a tick at 1040 ms was asked for already", woken)
	}

	w.advance(1040 * ms)
	w.arm(&b.timerNode, 1045*ms) // re-armed from expire, say: nobody woken mid-tick
	if len(woken) != 2 {
		t.Fatalf("woken %v while advancing", woken)
	}
	if next := w.nextTick(false); next != 1050*ms {
		t.Fatalf("nextTick = %d ms, want 1050 (b's slot)", next/ms)
	}
	w.stop(&b.timerNode)
	if next := w.nextTick(false); next != 1060*ms {
		t.Fatalf("nextTick = %d ms, want 1060 (a's slot)", next/ms)
	}
	if next := w.nextTick(true); next != 1050*ms {
		t.Fatalf("nextTick(soon) = %d ms, want the next slot, 1050", next/ms)
	}
	w.stop(&a.timerNode)
	if next := w.nextTick(false); next != noTick {
		t.Fatalf("nextTick with no timer = %d, want noTick", next)
	}
	w.wakeBy(1041 * ms) // work queued: the next slot boundary after it
	if len(woken) != 3 || woken[2] != 1050*ms {
		t.Fatalf("woken %v, want the third at 1050 ms", woken)
	}
}
