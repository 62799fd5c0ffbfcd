package agent_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestRealBinaryOutage runs the agent against the real bin/apimcp (make test
// sets APIMGW_BIN): sync, telemetry, apimcp SIGKILLed while requests go on,
// then started again on the same address and data: its reports count every
// request exactly once.
func TestRealBinaryOutage(t *testing.T) {
	bin := os.Getenv("APIMGW_BIN")
	if bin == "" {
		t.Skip("APIMGW_BIN is not set (make test sets it to bin/)")
	}
	if _, err := os.Stat(filepath.Join(bin, "apimcp")); err != nil {
		t.Skipf("no apimcp in APIMGW_BIN: %v", err)
	}
	cp := startBinaryControlPlane(t, bin)
	tok := cp.setupGateway("gw1")
	g := newGateway(t, cp.URL, tok, "")
	g.run()
	eventually(t, 10*time.Second, "synced", func() bool { return g.applied.Load() == 1 })
	g.record(500)
	eventually(t, 10*time.Second, "500 counted", func() bool { return cp.calls("gw1") == 500 })

	cp.kill(syscall.SIGKILL)
	g.record(800)
	eventually(t, 10*time.Second, "offline", func() bool { return !g.Agent.Status().Connected })
	cp.start()
	eventually(t, 20*time.Second, "everything counted once", func() bool {
		return cp.calls("gw1") == 1300 && g.Agent.Status().Backlog.Records == 0
	})
	cp.setPolicy("echo", policyWith("after-restart"), 0)
	eventually(t, 10*time.Second, "change after restart applied", func() bool { return g.applied.Load() == 2 })
	eventually(t, 10*time.Second, "connected and in sync at the control plane", func() bool {
		cs := cp.gatewayStatus("gw1")
		return cs.State == "connected" && cs.InSync
	})
	if n := cp.calls("gw1"); n != 1300 {
		t.Fatalf("control plane counts %d, want 1300", n)
	}
}
