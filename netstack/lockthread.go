package netstack

import (
	"os"
	"strings"
)

// lockOSThread says whether the event loops run locked to their OS threads
// (gnet.WithLockOSThread): yes unless APIMGW_LOCKOSTHREAD is 0, false or no.
//
// A knob for performance work, like APIMGW_CPUPROFILE: a locked loop that
// finds nothing in a non-blocking poll calls runtime.Gosched, which for a
// locked goroutine is a P hand-off and a futex sleep and wake each time; in
// the hybrid gateway's profile on a loaded machine that was a quarter of its
// CPU (docs/benchmarks.md, "Hybrid mode"). Which default is better is for a
// quiet-machine A/B to decide: `APIMGW_LOCKOSTHREAD=0 make bench-hybrid`.
func lockOSThread() bool {
	switch strings.ToLower(os.Getenv("APIMGW_LOCKOSTHREAD")) {
	case "0", "false", "no":
		return false
	}
	return true
}
