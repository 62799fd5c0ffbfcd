package gateway

import (
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// compileGCPercent is the garbage collector's target (GOGC) while a snapshot
// is decoded and compiled.
//
// Decoding and compiling a large snapshot allocate several times what stays
// live (a 100 APIs x 20 operations snapshot: 34 MB allocated for 7.6 MB
// kept). At the default GOGC=100 the heap grows to twice the live size
// between collections, and what survives ends up spread thinly over all the
// spans that growth took: FreeOSMemory afterwards can return free spans, not
// the partly used ones. Collecting more often while compiling keeps the
// survivors packed in fewer spans: that gateway's heap in use falls from
// 13 to about 10 MiB, its start-to-ready time unchanged (docs/benchmarks.md,
// "Idle footprint, third pass"). TestCompileGCPaceRestored checks that the
// target comes back.
const compileGCPercent = 25

var gcPace struct {
	sync.Mutex
	depth int // applies in progress
	prev  int // the target to restore when the last one ends
}

// tightenGC lowers the GC target for the duration of a snapshot apply and
// returns the function that restores it. Overlapping applies (a reload during
// a sync) nest: the target is restored when the last one ends. A target
// already lower than compileGCPercent, or GOGC=off, is left alone.
// APIMGW_COMPILE_GOGC=keep in the environment turns it off (for A/B
// measurements).
func tightenGC() (restore func()) {
	if os.Getenv("APIMGW_COMPILE_GOGC") == "keep" {
		return func() {}
	}
	gcPace.Lock()
	if gcPace.depth == 0 {
		gcPace.prev = gcPercent()
		if gcPace.prev >= compileGCPercent {
			debug.SetGCPercent(compileGCPercent)
		}
	}
	gcPace.depth++
	gcPace.Unlock()
	return func() {
		gcPace.Lock()
		gcPace.depth--
		if gcPace.depth == 0 {
			debug.SetGCPercent(gcPace.prev)
		}
		gcPace.Unlock()
	}
}

// gcPercent is the GC target in force (GOGC), -1 for off, read without
// changing it.
func gcPercent() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(int64(s[0].Value.Uint64())) // off reads as -1 in two's complement
}
