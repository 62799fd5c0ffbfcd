package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// process.scheduling=batch (the default) puts every thread of the gateway
// under SCHED_BATCH. The kernel then lets a woken batch thread wait until
// the thread running on that CPU blocks or its slice ends, instead of
// preempting it at once. On a box the gateway shares with its backend and
// clients (and in the benchmarks, with the load generator), an event loop
// woken by every single arriving request would otherwise cut in after each
// write of its peer, handle one event and sleep again: batch lets the peer
// finish its burst, and the loop finds several requests per wake-up. The
// weight (nice) is unchanged. Measured in docs/benchmarks.md ("The loops'
// wake-ups: SCHED_BATCH").
//
// Only threads still under the default policy (SCHED_OTHER) are switched:
// another policy set by systemd's CPUSchedulingPolicy= or chrt is the
// operator's choice and stays. New threads inherit the policy of the thread that
// creates them, so once every thread is switched the runtime's later
// threads are too; threads the runtime starts while a pass runs are caught
// by the next pass.

// schedBatch switches every SCHED_OTHER thread of this process to
// SCHED_BATCH. It returns how many threads it switched, how many already
// ran under SCHED_BATCH (the packaged unit starts the gateway so:
// CPUSchedulingPolicy=batch, since its system-call filter denies
// sched_setscheduler), and how many it left under another policy an
// operator chose. Policies are read from /proc, so a process that needs no
// change makes no scheduler call at all.
func schedBatch() (switched, already, kept int, err error) {
	for pass := 0; pass < 100; pass++ {
		tids, err := threadIDs()
		if err != nil {
			return switched, already, kept, err
		}
		n := 0
		already, kept = 0, 0
		for _, tid := range tids {
			policy, ok := threadPolicy(tid)
			if !ok {
				continue // the thread has exited
			}
			switch policy {
			case unix.SCHED_BATCH:
				already++
				continue
			case unix.SCHED_NORMAL:
			default:
				kept++
				continue
			}
			// sched_setscheduler, not sched_setattr: it leaves the nice
			// value as it is.
			var param struct{ priority int32 }
			_, _, e := unix.RawSyscall(unix.SYS_SCHED_SETSCHEDULER, uintptr(tid), unix.SCHED_BATCH, uintptr(unsafe.Pointer(&param)))
			if e == unix.ESRCH {
				continue
			}
			if e != 0 {
				return switched, already, kept, fmt.Errorf("sched_setscheduler(SCHED_BATCH) of thread %d: %w", tid, e)
			}
			n++
		}
		switched += n
		if n == 0 {
			return switched, already, kept, nil
		}
	}
	return switched, already, kept, errors.New("threads kept appearing under SCHED_OTHER after 100 passes")
}

// threadPolicy reads a thread's scheduling policy (field 41 of
// /proc/self/task/TID/stat); false if the thread is gone.
func threadPolicy(tid int) (int, bool) {
	b, err := os.ReadFile("/proc/self/task/" + strconv.Itoa(tid) + "/stat")
	if err != nil {
		return 0, false
	}
	i := bytes.LastIndexByte(b, ')') // the name may hold spaces and parentheses
	if i < 0 {
		return 0, false
	}
	f := bytes.Fields(b[i+1:]) // fields 3 onwards
	if len(f) < 41-2 {
		return 0, false
	}
	p, err := strconv.Atoi(string(f[41-3]))
	return p, err == nil
}

// threadIDs lists the threads of this process.
func threadIDs() ([]int, error) {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, err
	}
	tids := make([]int, 0, len(ents))
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}

// applyScheduling carries out process.scheduling and logs what it did.
func (g *Gateway) applyScheduling(policy string) {
	if policy != "batch" {
		g.log.Info("cpu scheduling: the policy the process was started with (process.scheduling=" + policy + ")")
		return
	}
	switched, already, kept, err := schedBatch()
	switch {
	case err != nil:
		g.log.Warn("process.scheduling=batch not applied; the threads keep the policy they were started with", "err", err, "switched", switched)
	case kept > 0:
		g.log.Info("cpu scheduling: the policy the process was started with is kept (process.scheduling=batch switches only threads under the default policy)", "threads", kept, "switched", switched)
	case switched == 0:
		g.log.Info("cpu scheduling: SCHED_BATCH, as the process was started (process.scheduling=batch)", "threads", already)
	default:
		g.log.Info("cpu scheduling: SCHED_BATCH (process.scheduling=batch)", "threads", switched+already)
	}
}
