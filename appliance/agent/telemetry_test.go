package agent_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/apimgw/apimgw/appliance/agent"
	"github.com/apimgw/apimgw/store"
	"github.com/apimgw/apimgw/wire"
)

// TestTelemetryOutageNothingLostNothingTwice: telemetry recorded while the
// control plane is up, while it is down (including a gateway restart while
// down), and answers lost after the control plane stored a batch: in the
// end its reports count every request exactly once and the queue is empty.
func TestTelemetryOutageNothingLostNothingTwice(t *testing.T) {
	cp := startControlPlane(t)
	tok := cp.setupGateway("gw1")
	g := newGateway(t, cp.URL, tok, "", withSmallBatches)
	g.run()
	eventually(t, 5*time.Second, "synced", func() bool { return g.applied.Load() == 1 })

	total := int64(0)
	g.record(1000)
	total += 1000
	eventually(t, 10*time.Second, "first 1000 counted", func() bool { return cp.calls("gw1") == total })

	// Answers lost on the way back: the control plane stored the batches,
	// the gateway resends them, the control plane counts them once.
	cp.loseAnswers.Store(3)
	g.record(1000)
	total += 1000
	eventually(t, 10*time.Second, "resends counted once", func() bool {
		return cp.calls("gw1") == total && g.Agent.Status().Backlog.Records == 0
	})
	if st := g.Agent.Status(); st.Duplicates == 0 {
		t.Fatalf("no duplicates acknowledged after lost answers: %+v", st)
	}

	// Control plane down.
	cp.stop()
	g.record(700)
	total += 700
	eventually(t, 10*time.Second, "offline", func() bool { return !g.Agent.Status().Connected })
	if bl := g.Agent.Status().Backlog; bl.Records != 700 {
		t.Fatalf("backlog %+v, want 700 records", bl)
	}
	// The gateway restarts while the control plane is still down.
	path := g.path
	g.stop()
	g = newGateway(t, cp.URL, tok, path, withSmallBatches)
	if g.applied.Load() != 1 {
		t.Fatal("did not start from the stored snapshot")
	}
	g.run()
	g.record(300)
	total += 300
	eventually(t, 5*time.Second, "backlog of 1000", func() bool { return g.Agent.Status().Backlog.Records == 1000 })
	st := g.Agent.Status()
	if st.Connected || !st.NeverConnected || st.LastError == "" || st.Backlog.OldestAgeSeconds <= 0 {
		t.Fatalf("status while offline: %+v", st)
	}

	cp.start()
	eventually(t, 10*time.Second, "everything counted after reconnect", func() bool {
		return cp.calls("gw1") == total && g.Agent.Status().Backlog.Records == 0
	})
	time.Sleep(200 * time.Millisecond)
	if n := cp.calls("gw1"); n != total {
		t.Fatalf("control plane counts %d, want %d", n, total)
	}
	st = g.Agent.Status()
	if !st.Connected || st.Backlog.Dropped != 0 || st.Malformed != 0 {
		t.Fatalf("status after reconnect: %+v", st)
	}
	// A fresh heartbeat shows the gateway connected again.
	eventually(t, 5*time.Second, "connected at the control plane", func() bool {
		cs := cp.gatewayStatus("gw1")
		return cs.State == "connected" && cs.Backlog.Records == 0 && cs.InSync
	}, func() string { return fmt.Sprintf("%+v\n%+v\n%s", cp.gatewayStatus("gw1"), g.Agent.Status(), g.Logs) })
	// 10% of the records had no status (client gone): counted, as 499.
	for _, r := range cp.requests(wire.PathTelemetry) {
		if r.Status != 200 && r.Status != 502 {
			t.Fatalf("telemetry request answered %d", r.Status)
		}
	}
}

// TestTelemetryEvictedInFlightCountedOnce: the queue is full while batches
// are on the wire — stored by the control plane, their answers slow — and
// new records push those very records out of the budget. When the answers
// come (one of them lost, so that batch is sent again from the agent's copy)
// every request is counted once: by the control plane, or as dropped by the
// gateway, never both (before, the evicted records in flight were counted
// dropped and then counted by the control plane as well).
func TestTelemetryEvictedInFlightCountedOnce(t *testing.T) {
	cp := startControlPlane(t)
	tok := cp.setupGateway("gw1")
	g := newGatewayStore(t, cp.URL, tok, "", store.Options{QueueMaxBytes: 32 << 10}, withSmallBatches)
	g.run()
	eventually(t, 5*time.Second, "synced", func() bool { return g.applied.Load() == 1 })

	hold := make(chan struct{})
	cp.hold.Store(&hold)
	total := int64(200)
	g.record(200)
	// Two batches of 97 stored by the control plane, their answers waiting.
	eventually(t, 10*time.Second, "two batches held", func() bool { return cp.held.Load() == 2 && cp.calls("gw1") == 194 })
	for g.Store.QueueStats(); ; {
		st, _ := g.Store.QueueStats()
		if st.EvictedInFlight >= 194 {
			break
		}
		g.record(100)
		total += 100
		if total > 10000 {
			t.Fatalf("the records in flight were never evicted: %+v", st)
		}
	}
	cp.loseAnswers.Store(1)
	cp.hold.Store(nil)
	close(hold)
	var st store.QueueStats
	eventually(t, 10*time.Second, "every request counted once", func() bool {
		st, _ = g.Store.QueueStats()
		return st.Records == 0 && cp.calls("gw1")+int64(st.Dropped) == total
	}, func() string {
		return fmt.Sprintf("control plane %d + dropped %d, want %d: %+v", cp.calls("gw1"), st.Dropped, total, st)
	})
	time.Sleep(200 * time.Millisecond)
	st, _ = g.Store.QueueStats()
	if n := cp.calls("gw1"); n+int64(st.Dropped) != total || st.EvictedInFlight != 0 || st.Dropped == 0 {
		t.Fatalf("control plane %d + dropped %d, want %d: %+v", n, st.Dropped, total, st)
	}
	if n := cp.calls("gw1"); n < 194 {
		t.Fatalf("control plane counts %d, fewer than the batches it stored", n)
	}
}

// TestTelemetryFullBatchLeavesAtOnce: a batch leaves as soon as it is full,
// not when the partial batch the uploader saw first is due. Before, the
// uploader slept until then (UploadInterval after its oldest record), so
// under load a second's worth of batches went out in one burst after each
// sleep, and with a long interval a full batch waited for it.
func TestTelemetryFullBatchLeavesAtOnce(t *testing.T) {
	cp := startControlPlane(t)
	tok := cp.setupGateway("gw1")
	g := newGateway(t, cp.URL, tok, "", func(c *agent.Config) {
		c.UploadInterval, c.BatchRecords, c.UploadsInFlight = 20*time.Second, 97, 1
	})
	g.record(10) // a partial batch, due in 20 s
	g.run()
	eventually(t, 5*time.Second, "synced", func() bool { return g.applied.Load() == 1 })
	time.Sleep(300 * time.Millisecond) // the uploader has seen the partial batch
	if n := cp.calls("gw1"); n != 0 {
		t.Fatalf("control plane counts %d before the batch is full or due", n)
	}
	g.record(90)
	eventually(t, 5*time.Second, "the full batch delivered well before it was due", func() bool { return cp.calls("gw1") == 97 })
	time.Sleep(300 * time.Millisecond)
	if n := cp.calls("gw1"); n != 97 {
		t.Fatalf("control plane counts %d, want 97 (the 3 left are not due)", n)
	}
}
