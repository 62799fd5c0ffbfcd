package netstack

import (
	"net"
	"sync"
	"syscall"
	"testing"
)

// workMeter counts the work a benchmark's process did, not the wall time it
// took: user+system CPU and context switches (voluntary and involuntary) of
// every thread of the process (getrusage RUSAGE_SELF), per operation. On a
// shared machine these move far less with the neighbours' load than ns/op.
type workMeter struct{ start syscall.Rusage }

func startWork(b *testing.B) *workMeter {
	w := &workMeter{}
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &w.start); err != nil {
		b.Fatal(err)
	}
	return w
}

// report adds cpu-ns/op and ctxsw/op to the benchmark's result.
func (w *workMeter) report(b *testing.B) {
	var end syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &end); err != nil {
		b.Fatal(err)
	}
	tv := func(t syscall.Timeval) int64 { return t.Sec*1e9 + int64(t.Usec)*1e3 }
	cpu := tv(end.Utime) - tv(w.start.Utime) + tv(end.Stime) - tv(w.start.Stime)
	cs := end.Nvcsw - w.start.Nvcsw + end.Nivcsw - w.start.Nivcsw
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(cs)/float64(b.N), "ctxsw/op")
}

// BenchmarkProxyConcurrent: 32 keep-alive client connections, each sending
// its requests one at a time, through a two-loop proxy to rawBackend — the
// shape of `make bench`'s wrk -c64 in one process, so the loops find several
// connections ready per wake-up as under load. cpu-ns/op and ctxsw/op are
// the whole process's (clients and backend included, the same in every
// variant); compare variants within one run. lock=on/off is the event loops'
// gnet.WithLockOSThread (APIMGW_LOCKOSTHREAD, lockthread.go).
func BenchmarkProxyConcurrent(b *testing.B) {
	for _, v := range []struct{ name, env string }{{"lock=off", "0"}, {"lock=on", "1"}} {
		b.Run(v.name, func(b *testing.B) {
			b.Setenv("APIMGW_LOCKOSTHREAD", v.env)
			up := rawBackend(b)
			s := startProxy(b, &forwardAll{upstream: up}, Config{Loops: 2})
			benchConcurrent(b, s.Addr().String(), 32)
		})
	}
}

// benchConcurrent runs b.N requests over conns keep-alive connections to
// addr, conns goroutines each making one request at a time, and reports the
// work per request (workMeter).
func benchConcurrent(b *testing.B, addr string, conns int) {
	trips := make([]func(), conns)
	for i := range trips {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		trips[i] = keepAliveRoundTrip(b, c)
		for j := 0; j < 20; j++ { // warm up: upstream connections dialed and pooled
			trips[i]()
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	w := startWork(b)
	var wg sync.WaitGroup
	for i, trip := range trips {
		n := b.N / conns
		if i < b.N%conns {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < n; j++ {
				trip()
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	w.report(b)
}
