package netstack

import "testing"

type fired struct {
	timerNode
	at []int64
}

func (f *fired) expire(now int64) { f.at = append(f.at, now) }

func TestWheel(t *testing.T) {
	const ms = int64(1e6)
	w := newWheel(10*ms, 1000*ms, nil)
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
