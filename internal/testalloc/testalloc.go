// Package testalloc counts heap allocations exactly, for the tests that
// assert the request fast path allocates nothing. It is imported by _test.go
// files only (never by a binary); testing.AllocsPerRun's integer average
// would let 1,999 allocations in 2,000 runs pass as 0.
package testalloc

import (
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strings"
)

// notCounted lists the functions whose allocations mallocs leaves out, the
// only ones: those made by a clock, not by the code under test — each netstack
// loop's 50 ms ticker goroutine (loop.ticker hands the tick to its loop with
// gnet's EventLoop.Execute, which allocates a task and a queue node; the
// tick's work itself runs on the loop and counts), gnet's task pool taking
// that task back (a sync.Pool: its first Put after a GC emptied it allocates a
// chain node, once per GC cycle; the measurement itself runs GCs) and the
// idle-worker purge ticker of gnet's goroutine pool (ants) — and the
// measurement's own (allocSites). The runtime's own allocations (a stack of
// runtime frames only: the scheduler starting a thread, the GC's and the
// scavenger's bookkeeping, the race detector's) are not counted either. Every
// other allocation of the process counts.
var notCounted = []string{
	"github.com/apimgw/apimgw/netstack.(*loop).ticker",
	"github.com/panjf2000/gnet/v2/pkg/queue.PutTask",
	"github.com/panjf2000/ants/v2.(*poolCommon).ticktock",
	runtime.FuncForPC(reflect.ValueOf(allocSites).Pointer()).Name(),
}

// Mallocs calls f once to warm up, then n times, and returns the heap
// allocations the whole process made during the n calls, except the ones of
// notCounted: an exact total from the runtime's memory profile (sampling
// every allocation meanwhile), where testing.AllocsPerRun's integer average
// lets 1,999 allocations in 2,000 runs pass as 0. where lists the allocation
// sites of the total, for the failure message. GOMAXPROCS stays as it is (a
// change makes every sync.Pool grow its per-P array once: an allocation of the
// measurement, not of the code). A test's own client and backend count too,
// so they must not allocate in their steady state.
//
// alsoNotCounted names more functions to leave out, for background work a
// test wires in on purpose (the telemetry committer): the caller says why.
func Mallocs(n int, f func(), alsoNotCounted ...string) (total int64, where string) {
	skip := append(slices.Clip(notCounted), alsoNotCounted...)
	rate := runtime.MemProfileRate
	runtime.MemProfileRate = 1
	defer func() { runtime.MemProfileRate = rate }()
	f()
	before := allocSites(skip)
	for range n {
		f()
	}
	after := allocSites(skip)
	var sites []string
	for stack, count := range after {
		if d := count - before[stack]; d > 0 {
			total += d
			sites = append(sites, fmt.Sprintf("%d × %s", d, stack))
		}
	}
	slices.Sort(sites)
	return total, strings.Join(sites, "\n")
}

// allocSites returns the allocation count per stack of the memory profile,
// without the stacks of skip and the runtime's own. The profile is published
// at the end of a GC cycle and may be two cycles old: three cycles first make
// it current.
func allocSites(skip []string) map[string]int64 {
	for range 3 {
		runtime.GC()
	}
	var recs []runtime.MemProfileRecord
	n, _ := runtime.MemProfile(nil, true)
	for {
		recs = make([]runtime.MemProfileRecord, n+50)
		var ok bool
		if n, ok = runtime.MemProfile(recs, true); ok {
			recs = recs[:n]
			break
		}
	}
	sites := map[string]int64{}
next:
	for i := range recs {
		var b strings.Builder
		ours := false // a frame outside the runtime
		frames := runtime.CallersFrames(recs[i].Stack())
		for {
			fr, more := frames.Next()
			ours = ours || !strings.HasPrefix(fr.Function, "runtime.")
			if slices.Contains(skip, fr.Function) {
				continue next
			}
			if b.Len() > 0 {
				b.WriteString(" < ")
			}
			fmt.Fprintf(&b, "%s:%d", fr.Function, fr.Line)
			if !more {
				break
			}
		}
		if ours {
			sites[b.String()] += recs[i].AllocObjects
		}
	}
	return sites
}
