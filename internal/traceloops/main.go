// Command traceloops reads a Go execution trace of the gateway (APIMGW_TRACE,
// or TRACE=DIR in scripts/bench-hybrid.sh) and reports how long its event
// loops waited, at the two levels where a loop can wait while it has work:
//
//   - for the processor (P): runnable, not running, for at least -min —
//     another goroutine held the P (on one CPU the gateway has one), and
//     which goroutines ran meanwhile;
//   - for the CPU inside a read or write system call lasting at least -min —
//     the kernel ran another thread, and which of the gateway's goroutines
//     ran on another thread meanwhile.
//
// Goroutines are named by the function they started in; an event loop is a
// goroutine that polled in gnet (the main reactor and each loop).
// docs/benchmarks.md ("Who holds the
// P") has what it showed. Usage: go run ./internal/traceloops [-min 1ms] FILE.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"golang.org/x/exp/trace"
)

func main() {
	minWait := flag.Duration("min", time.Millisecond, "the shortest wait counted")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: traceloops [-min 1ms] TRACE")
		os.Exit(2)
	}
	r, err := analyzeFile(flag.Arg(0), *minWait)
	if err != nil {
		fmt.Fprintln(os.Stderr, "traceloops:", err)
		os.Exit(1)
	}
	r.print(os.Stdout)
}

// report is what one trace showed.
type report struct {
	Span      time.Duration
	Loops     int
	GCCycles  int
	GCMark    time.Duration
	PWaits    int           // loop waits for a P of at least min
	PWait     time.Duration // their total
	PBlame    map[string]time.Duration
	SysWaits  int // loop read/write system calls of at least min
	SysWait   time.Duration
	SysBlame  map[string]time.Duration
	RunByRoot map[string]time.Duration
}

// loopFrame: an event loop is a goroutine that polled (gnet's main reactor
// and its loops).
const loopFrame = "github.com/panjf2000/gnet/v2/pkg/netpoll.(*Poller).Polling"

func analyzeFile(path string, minWait time.Duration) (*report, error) {
	return analyzeFileWith(path, loopFrame, minWait)
}

// analyzeFileWith takes as event loops the goroutines that ran a function
// named with the prefix loopFn.
func analyzeFileWith(path, loopFn string, minWait time.Duration) (*report, error) {
	open := func() (*trace.Reader, *os.File, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, nil, err
		}
		r, err := trace.NewReader(f)
		if err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		return r, f, nil
	}
	// First pass: which goroutines are event loops.
	r, f, err := open()
	if err != nil {
		return nil, err
	}
	loops := map[trace.GoID]bool{}
	err = each(r, func(ev trace.Event) {
		if ev.Kind() != trace.EventStateTransition {
			return
		}
		st := ev.StateTransition()
		if st.Resource.Kind == trace.ResourceGoroutine && hasFrame(st.Stack, loopFn) {
			loops[st.Resource.Goroutine()] = true
		}
	})
	f.Close()
	if err != nil {
		return nil, err
	}
	r, f, err = open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return analyze(r, loops, minWait)
}

func each(r *trace.Reader, fn func(trace.Event)) error {
	for {
		ev, err := r.ReadEvent()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		fn(ev)
	}
}

type span struct {
	g      trace.GoID
	t0, t1 trace.Time
}

func analyze(r *trace.Reader, loops map[trace.GoID]bool, minWait time.Duration) (*report, error) {
	rep := &report{Loops: len(loops), PBlame: map[string]time.Duration{}, SysBlame: map[string]time.Duration{}, RunByRoot: map[string]time.Duration{}}
	root := map[trace.GoID]string{}
	runnable := map[trace.GoID]trace.Time{}
	running := map[trace.GoID]trace.Time{}
	inSys := map[trace.GoID]trace.Time{}
	sysIO := map[trace.GoID]bool{}
	var runs, pWaits, sysWaits []span
	var first, last, markStart trace.Time
	err := each(r, func(ev trace.Event) {
		if first == 0 {
			first = ev.Time()
		}
		last = ev.Time()
		switch ev.Kind() {
		case trace.EventRangeBegin:
			if ev.Range().Name == "GC concurrent mark phase" {
				markStart = ev.Time()
			}
		case trace.EventRangeEnd:
			if ev.Range().Name == "GC concurrent mark phase" && markStart != 0 {
				rep.GCCycles++
				rep.GCMark += time.Duration(ev.Time() - markStart)
			}
		case trace.EventStateTransition:
			st := ev.StateTransition()
			if st.Resource.Kind != trace.ResourceGoroutine {
				return
			}
			g := st.Resource.Goroutine()
			if root[g] == "" {
				root[g] = rootFunc(st.Stack)
			}
			from, to := st.Goroutine()
			t := ev.Time()
			switch {
			case to == trace.GoRunnable:
				runnable[g] = t
			case to == trace.GoRunning:
				if t0, ok := runnable[g]; ok && from == trace.GoRunnable && loops[g] && time.Duration(t-t0) >= minWait {
					pWaits = append(pWaits, span{g, t0, t})
				}
				delete(runnable, g)
				running[g] = t
			case to == trace.GoSyscall && loops[g]:
				inSys[g] = t
				sysIO[g] = hasFrame(st.Stack, "golang.org/x/sys/unix.read") || hasFrame(st.Stack, "golang.org/x/sys/unix.write")
			}
			if from == trace.GoRunning && to != trace.GoRunning {
				if t0, ok := running[g]; ok {
					runs = append(runs, span{g, t0, t})
					delete(running, g)
				}
			}
			if from == trace.GoSyscall && loops[g] {
				if t0, ok := inSys[g]; ok && sysIO[g] && time.Duration(t-t0) >= minWait {
					sysWaits = append(sysWaits, span{g, t0, t})
				}
				delete(inSys, g)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	rep.Span = time.Duration(last - first)
	sort.Slice(runs, func(i, j int) bool { return runs[i].t0 < runs[j].t0 })
	for _, s := range runs {
		rep.RunByRoot[root[s.g]] += time.Duration(s.t1 - s.t0)
	}
	blame := func(waits []span, into map[string]time.Duration) (n int, total time.Duration) {
		for _, w := range waits {
			n++
			total += time.Duration(w.t1 - w.t0)
			// runs is sorted by start; a run that started before the wait
			// may overlap it, so scan from the first run ending after t0.
			i := sort.Search(len(runs), func(i int) bool { return runs[i].t0 >= w.t1 })
			for j := 0; j < i; j++ {
				s := runs[j]
				if s.t1 <= w.t0 || loops[s.g] {
					continue
				}
				into[root[s.g]] += time.Duration(min(s.t1, w.t1) - max(s.t0, w.t0))
			}
		}
		return n, total
	}
	rep.PWaits, rep.PWait = blame(pWaits, rep.PBlame)
	rep.SysWaits, rep.SysWait = blame(sysWaits, rep.SysBlame)
	return rep, nil
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "trace of %.1f s: %d event loops; %d GC cycles, mark phases %.1f ms\n", r.Span.Seconds(), r.Loops, r.GCCycles, ms(r.GCMark))
	fmt.Fprintf(w, "loops waiting for a P: %d waits, %.1f ms; running meanwhile:\n", r.PWaits, ms(r.PWait))
	top(w, r.PBlame)
	fmt.Fprintf(w, "loops off the CPU in read/write: %d calls, %.1f ms; the gateway's other goroutines running meanwhile:\n", r.SysWaits, ms(r.SysWait))
	top(w, r.SysBlame)
}

func top(w io.Writer, m map[string]time.Duration) {
	type kv struct {
		k string
		v time.Duration
	}
	var s []kv
	for k, v := range m {
		s = append(s, kv{k, v})
	}
	sort.Slice(s, func(i, j int) bool { return s[i].v > s[j].v })
	for i, e := range s {
		if i == 8 || e.v < 100*time.Microsecond {
			break
		}
		fmt.Fprintf(w, "  %8.1f ms  %s\n", ms(e.v), e.k)
	}
}

func rootFunc(s trace.Stack) string {
	name := ""
	for f := range s.Frames() {
		name = f.Func
	}
	return name
}

func hasFrame(s trace.Stack, prefix string) bool {
	for f := range s.Frames() {
		if strings.HasPrefix(f.Func, prefix) {
			return true
		}
	}
	return false
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }
