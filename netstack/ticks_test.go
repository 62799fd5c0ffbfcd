package netstack

import (
	"bufio"
	"net"
	"net/http"
	"testing"
	"time"
)

// loopTicks sums the ticks s's loops have run.
func loopTicks(s *Server) uint64 {
	s.loopMu.Lock()
	defer s.loopMu.Unlock()
	var n uint64
	for _, lp := range s.loopList {
		n += lp.ticks.Load()
	}
	return n
}

// TestIdleLoopsDoNotTick checks that the loops' tickers run only when a timer
// or queued work is due. A fixed 50 ms ticker woke every loop 20 times a
// second, and each wake-up of a loop blocked in epoll_wait kept the Go
// runtime's sysmon polling at its fastest rate (about 1,250 context switches
// a second and 3 % of a core for an idle gateway): an idle appliance must
// cost nothing.
func TestIdleLoopsDoNotTick(t *testing.T) {
	const idle = time.Second
	s := startProxy(t, bigHandler{[]byte("ok")}, Config{Loops: 2, IdleTimeout: idle})
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	before := loopTicks(s)
	start := time.Now()

	// The idle keep-alive connection is closed by its timer, although the
	// ticker sleeps between the few ticks that are due.
	c.SetReadDeadline(time.Now().Add(idle + 5*time.Second))
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("read a byte from an idle connection; want it closed")
	}
	waited := time.Since(start)
	if waited < idle-tickInterval {
		t.Fatalf("idle connection closed after %v; IdleTimeout is %v", waited, idle)
	}
	for deadline := time.Now().Add(5 * time.Second); s.Conns() > 0; {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still open", s.Conns())
		}
		time.Sleep(time.Millisecond)
	}
	// While idle: the tick that gives the exchange state back, the one that
	// closes the connection, and perhaps one for a slot on the way (the
	// header timer's). A fixed ticker ran idle/tickInterval = 20 per loop.
	if n := loopTicks(s) - before; n > 5 {
		t.Errorf("%d ticks in the %v a connection idled, want ≤ 5", n, waited.Round(time.Millisecond))
	}

	// Nothing timed is left: no tick at all. First the closed connection's
	// last release, however late a loaded machine runs it.
	quiet := loopTicks(s)
	for deadline := time.Now().Add(5 * time.Second); ; quiet = loopTicks(s) {
		time.Sleep(3 * tickInterval)
		if loopTicks(s) == quiet {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the loops still tick 5 s after their last connection closed")
		}
	}
	time.Sleep(10 * tickInterval)
	if n := loopTicks(s) - quiet; n != 0 {
		t.Errorf("%d ticks in %v with nothing timed, want 0", n, 10*tickInterval)
	}
}
