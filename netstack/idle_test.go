package netstack

import (
	"bytes"
	"net/netip"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// TestIdleConnectionMemory opens 10,000 keep-alive connections, makes one
// request on each and leaves them idle, then measures the Go heap the proxy
// holds per connection. The clients are raw sockets (no Go objects), so the
// heap growth is the proxy's (gnet's connection plus ours). Kernel socket
// memory is not Go heap and is not counted.
func TestIdleConnectionMemory(t *testing.T) {
	if raceEnabled || testing.Short() {
		t.Skip("memory figures are meaningless under the race detector; make test runs this test without -race (test-norace)")
	}
	// Both ends live in this process: 2 fds per connection. 10,000
	// connections, or as many as the hard fd limit allows.
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	lim.Cur = lim.Max
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	n := min(10000, int(lim.Cur-1000)/2)
	if n < 1000 {
		cannotTest(t, "the fd limit %d is too low for 1,000 connections", lim.Cur)
	}
	s := startProxy(t, bigHandler{[]byte("ok")}, Config{Loops: 2})
	per := idleHeapPerConn(t, s, n, []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), []byte("\r\n\r\nok"))
	t.Logf("Go heap per idle keep-alive connection: %.0f B (%d connections)", per, s.Conns())
	if per > 1024 {
		t.Errorf("%.0f B of Go heap per idle connection, want ≤ 1 KiB", per)
	}
}

// idleHeapPerConn opens n raw-socket connections to s, makes the request req
// on each (read until marker), leaves them idle and returns the Go heap s
// holds per connection. The clients are raw sockets (no Go objects), so the
// growth is the server's; a warmed-up connection comes first, so loop
// buffers are in the baseline.
func idleHeapPerConn(t *testing.T, s *Server, n int, req, marker []byte) float64 {
	t.Helper()
	addr := s.Addr().(interface{ AddrPort() netip.AddrPort }).AddrPort()
	sa := &syscall.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().As4()}
	buf := make([]byte, 4096)
	warm := dialRaw(t, sa)
	defer syscall.Close(warm)
	roundTripRaw(t, warm, req, marker, buf)
	time.Sleep(3 * tickInterval) // idle connections give their exchange state back at a tick
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fds := make([]int, 0, n)
	t.Cleanup(func() {
		for _, fd := range fds {
			syscall.Close(fd)
		}
	})
	for i := 0; i < n; i++ {
		fd := dialRaw(t, sa)
		fds = append(fds, fd)
		roundTripRaw(t, fd, req, marker, buf)
	}
	time.Sleep(3 * tickInterval)
	runtime.GC()
	runtime.ReadMemStats(&after)
	if s.Conns() < int64(n) {
		t.Fatalf("only %d connections open", s.Conns())
	}
	return float64(int64(after.HeapInuse)-int64(before.HeapInuse)) / float64(n)
}

func dialRaw(t *testing.T, sa *syscall.SockaddrInet4) int {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Connect(fd, sa); err != nil {
		t.Fatal(err)
	}
	return fd
}

func roundTripRaw(t *testing.T, fd int, req, marker, buf []byte) {
	if _, err := syscall.Write(fd, req); err != nil {
		t.Fatal(err)
	}
	got := 0
	for !bytes.Contains(buf[:got], marker) {
		n, err := syscall.Read(fd, buf[got:])
		if err != nil || n == 0 {
			t.Fatalf("read: %v", err)
		}
		got += n
	}
}
