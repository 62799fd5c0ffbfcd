package gateway

import (
	"runtime/debug"
	"testing"
)

// TestCompileGCPaceRestored: an apply lowers the GC target to
// compileGCPercent and the last of overlapping applies restores the
// operator's; a lower target or GOGC=off is left as it is.
func TestCompileGCPaceRestored(t *testing.T) {
	t.Setenv("APIMGW_COMPILE_GOGC", "")
	orig := debug.SetGCPercent(100)
	defer debug.SetGCPercent(orig)

	outer := tightenGC()
	if v := gcPercent(); v != compileGCPercent {
		t.Fatalf("during an apply GOGC is %d, want %d", v, compileGCPercent)
	}
	inner := tightenGC()
	inner()
	if v := gcPercent(); v != compileGCPercent {
		t.Fatalf("after the inner of two applies GOGC is %d, want still %d", v, compileGCPercent)
	}
	outer()
	if v := gcPercent(); v != 100 {
		t.Fatalf("after the applies GOGC is %d, want 100 back", v)
	}

	for _, keep := range []int{10, -1} {
		debug.SetGCPercent(keep)
		r := tightenGC()
		if v := gcPercent(); v != keep {
			t.Fatalf("GOGC %d became %d during an apply", keep, v)
		}
		r()
		if v := gcPercent(); v != keep {
			t.Fatalf("GOGC %d became %d after an apply", keep, v)
		}
	}

	debug.SetGCPercent(100)
	t.Setenv("APIMGW_COMPILE_GOGC", "keep")
	r := tightenGC()
	if v := gcPercent(); v != 100 {
		t.Fatalf("APIMGW_COMPILE_GOGC=keep: GOGC %d during an apply", v)
	}
	r()
}
