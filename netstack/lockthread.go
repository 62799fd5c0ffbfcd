package netstack

import (
	"os"
	"strings"
)

// lockOSThread says whether the event loops run locked to their OS threads
// (gnet.WithLockOSThread): no unless APIMGW_LOCKOSTHREAD is 1, true or yes.
//
// A knob for performance work, like APIMGW_CPUPROFILE. gnet's poller calls
// runtime.Gosched whenever a non-blocking poll after a batch finds nothing;
// for a locked goroutine that is a P hand-off and a futex sleep and wake each
// time (golang/go#21827). Unlocked loops used less CPU per request in every
// same-minutes A/B so far — the gateway (median 0.84× of the locked CPU per
// request over 8 adjacent pairs), the bare engine (0.88×) and the lead's
// bench-hybrid A/B — hence the default (docs/benchmarks.md, "Hybrid mode").
// `APIMGW_LOCKOSTHREAD=1 make bench-hybrid` measures the other way.
func lockOSThread() bool {
	switch strings.ToLower(os.Getenv("APIMGW_LOCKOSTHREAD")) {
	case "1", "true", "yes":
		return true
	}
	return false
}
