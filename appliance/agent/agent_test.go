package agent_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/apimgw/apimgw/appliance/agent"
	"github.com/apimgw/apimgw/wire"
)

const goodPolicy = `<policies><inbound><base /><set-header name="X-Test" exists-action="override"><value>%s</value></set-header></inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>`

func policyWith(v string) string { return strings.Replace(goodPolicy, "%s", v, 1) }

// TestLongPollWakesAtOnceAndUsesETag: the first sync applies the snapshot;
// later requests carry its ETag; a change made while a long-poll waits
// reaches the gateway at once, not after the wait.
func TestLongPollWakesAtOnceAndUsesETag(t *testing.T) {
	cp := startControlPlane(t)
	tok := cp.setupGateway("gw1")
	g := newGateway(t, cp.URL, tok, "", func(c *agent.Config) { c.LongPollWait = 20 * time.Second })
	g.run()
	eventually(t, 5*time.Second, "first snapshot applied", func() bool { return g.applied.Load() == 1 })
	first := cp.requests(wire.PathConfig)
	if first[0].IfNoneMatch != "" {
		t.Fatalf("first config request carries If-None-Match %q", first[0].IfNoneMatch)
	}
	// The agent is now waiting on the control plane with the ETag.
	eventually(t, 5*time.Second, "a long-poll with If-None-Match", func() bool { return g.Agent.Status().ETag != "" })
	st := g.Agent.Status()
	if !st.Connected || st.SnapshotVersion == 0 || st.LastSync.IsZero() || st.Applied != 1 {
		t.Fatalf("status after first sync: %+v", st)
	}
	time.Sleep(100 * time.Millisecond) // the long-poll is parked
	start := time.Now()
	cp.setPolicy("echo", policyWith("v2"), 200)
	eventually(t, 2*time.Second, "change applied", func() bool { return g.applied.Load() == 2 })
	if took := time.Since(start); took > time.Second {
		t.Fatalf("change took %s to arrive (long-poll wait is 20s)", took)
	}
	v2 := g.Agent.Status()
	if v2.SnapshotVersion <= st.SnapshotVersion || v2.ETag == st.ETag {
		t.Fatalf("version %d→%d, etag %s→%s", st.SnapshotVersion, v2.SnapshotVersion, st.ETag, v2.ETag)
	}
	reqs := cp.requests(wire.PathConfig)
	if len(reqs) < 2 || reqs[1].IfNoneMatch != st.ETag {
		t.Fatalf("second config request If-None-Match %q, want the ETag %q", reqs[1].IfNoneMatch, st.ETag)
	}
	for _, r := range reqs {
		if r.Status != 200 && r.Status != 304 {
			t.Fatalf("config request answered %d", r.Status)
		}
	}
}

// TestNotModifiedDoesNotReapply: with a short wait the control plane answers
// 304 again and again; nothing is applied twice, the sync time moves.
func TestNotModifiedDoesNotReapply(t *testing.T) {
	cp := startControlPlane(t)
	tok := cp.setupGateway("gw1")
	g := newGateway(t, cp.URL, tok, "", func(c *agent.Config) { c.LongPollWait = 100 * time.Millisecond })
	g.run()
	eventually(t, 5*time.Second, "three 304s", func() bool {
		n := 0
		for _, r := range cp.requests(wire.PathConfig) {
			if r.Status == 304 {
				n++
			}
		}
		return n >= 3
	})
	if n := g.applied.Load(); n != 1 {
		t.Fatalf("applied %d times, want 1", n)
	}
}

// TestRestartDoesNotReapplyStoredSnapshot: a gateway restarted with the
// snapshot in its store gets the same snapshot from the control plane and
// does not apply it again.
func TestRestartDoesNotReapplyStoredSnapshot(t *testing.T) {
	cp := startControlPlane(t)
	tok := cp.setupGateway("gw1")
	g := newGateway(t, cp.URL, tok, "")
	g.run()
	eventually(t, 5*time.Second, "first snapshot applied", func() bool { return g.applied.Load() == 1 })
	path := g.path
	g.stop()
	g2 := newGateway(t, cp.URL, tok, path)
	if g2.applied.Load() != 1 {
		t.Fatal("the stored snapshot was not loaded at start")
	}
	g2.run()
	eventually(t, 5*time.Second, "synced", func() bool { return g2.Agent.Status().ETag != "" })
	if st := g2.Agent.Status(); st.Applied != 0 || g2.applied.Load() != 1 {
		t.Fatalf("the same snapshot was applied again: %+v", st)
	}
}

// TestRejectedSnapshotKeepsLastGood: a snapshot the gateway's compiler
// refuses is not applied, not stored, reported (status, log, heartbeat),
// and the long-poll does not spin on it; the next good one applies.
func TestRejectedSnapshotKeepsLastGood(t *testing.T) {
	cp := startControlPlane(t)
	tok := cp.setupGateway("gw1")
	g := newGateway(t, cp.URL, tok, "")
	g.run()
	eventually(t, 5*time.Second, "first snapshot applied", func() bool { return g.applied.Load() == 1 })
	good := g.Agent.Status()
	// Well-formed XML (the in-process control plane only checks that), but
	// not a policy the gateway can compile.
	cp.setPolicy("echo", `<policies><inbound><rate-limit calls="many" renewal-period="10" /></inbound><backend><forward-request /></backend><outbound /><on-error /></policies>`, 200)
	eventually(t, 5*time.Second, "rejection recorded", func() bool { return g.Agent.Status().Rejected != nil })
	st := g.Agent.Status()
	if st.SnapshotVersion != good.SnapshotVersion || g.applied.Load() != 1 {
		t.Fatalf("serving %d (applied %d), want still %d", st.SnapshotVersion, g.applied.Load(), good.SnapshotVersion)
	}
	if !strings.Contains(st.Rejected.Error, "rate-limit") || st.Rejected.Version <= good.SnapshotVersion {
		t.Fatalf("rejection %+v does not name the policy", st.Rejected)
	}
	if !errors.Is(errors.New(st.LastError), agent.ErrRejected) && !strings.Contains(st.LastError, "snapshot rejected") {
		t.Fatalf("last error %q", st.LastError)
	}
	if infos, _ := g.Store.Snapshots(); len(infos) != 1 {
		t.Fatalf("store has %d snapshots, want only the good one", len(infos))
	}
	if !strings.Contains(g.Logs.String(), "REJECTED") {
		t.Fatalf("no log line about the rejection:\n%s", g.Logs)
	}
	// The heartbeat after a rejection carries it to the control plane.
	eventually(t, 5*time.Second, "heartbeat with the error", func() bool {
		return strings.Contains(cp.gatewayStatus("gw1").LastError, "rate-limit")
	})
	cs := cp.gatewayStatus("gw1")
	if cs.InSync || cs.SnapshotVersion != good.SnapshotVersion {
		t.Fatalf("control plane sees %+v", cs)
	}
	// No spinning: the bad snapshot was fetched once.
	time.Sleep(300 * time.Millisecond)
	n200 := 0
	for _, r := range cp.requests(wire.PathConfig) {
		if r.Status == 200 {
			n200++
		}
	}
	if n200 != 2 {
		t.Fatalf("%d snapshots fetched, want 2 (good, rejected)", n200)
	}
	cp.setPolicy("echo", policyWith("fixed"), 200)
	eventually(t, 5*time.Second, "good snapshot applied", func() bool { return g.applied.Load() == 2 })
	if st := g.Agent.Status(); st.Rejected != nil {
		t.Fatalf("rejection still shown after a good snapshot: %+v", st.Rejected)
	}
	eventually(t, 5*time.Second, "control plane sees the gateway in sync", func() bool { return cp.gatewayStatus("gw1").InSync })
}

var _ = context.Background

// TestHeartbeatEveryInterval: heartbeats arrive every interval and carry the
// gateway's version, snapshot, host facts and backlog.
func TestHeartbeatEveryInterval(t *testing.T) {
	cp := startControlPlane(t)
	tok := cp.setupGateway("gw1")
	g := newGateway(t, cp.URL, tok, "", func(c *agent.Config) { c.HeartbeatInterval = 100 * time.Millisecond })
	g.run()
	g.record(20)
	eventually(t, 5*time.Second, "five heartbeats", func() bool { return len(cp.requests(wire.PathHeartbeat)) >= 5 })
	time.Sleep(100 * time.Millisecond)
	start, n0 := time.Now(), len(cp.requests(wire.PathHeartbeat))
	time.Sleep(time.Second)
	rate := float64(len(cp.requests(wire.PathHeartbeat))-n0) / time.Since(start).Seconds()
	if rate < 5 || rate > 15 {
		t.Fatalf("%.1f heartbeats/s with a 100 ms interval", rate)
	}
	cs := cp.gatewayStatus("gw1")
	ver, sum := g.current()
	if cs.State != "connected" || cs.GatewayVersion != "test" || cs.SnapshotVersion != ver || cs.SnapshotChecksum != sum ||
		!cs.InSync || cs.HeartbeatIntervalSeconds != 1 || cs.Host.CPUs == 0 || cs.Host.MemoryTotalBytes == 0 ||
		cs.Host.DiskFreeBytes == 0 || cs.Host.Hostname == "" || cs.TokenExpiry.IsZero() {
		t.Fatalf("control plane status %+v", cs)
	}
	if s := g.Agent.Status(); s.LastHeartbeat.IsZero() || s.ControlPlaneFacts().LastHeartbeat != s.LastHeartbeat || s.TokenFacts() == nil {
		t.Fatalf("agent status %+v", s)
	}
}

// TestReconnectWakesBackedOffLoops: the config sync backs off for an hour;
// when a heartbeat gets through, the sync does not sit out its backoff.
func TestReconnectWakesBackedOffLoops(t *testing.T) {
	cp := &controlPlane{t: t, dir: t.TempDir(), addr: freeAddr(t)}
	g := newGateway(t, "http://"+cp.addr, "", "", func(c *agent.Config) {
		c.BackoffMin, c.BackoffMax, c.HeartbeatInterval = time.Hour, time.Hour, 50*time.Millisecond
	})
	cp.start()
	t.Cleanup(cp.stop)
	tok := cp.setupGateway("gw1")
	cp.stop()
	g.setToken(tok)
	g.run()
	eventually(t, 5*time.Second, "sync backing off", func() bool { return g.Agent.Status().Failures == 1 })
	cp.start()
	eventually(t, 5*time.Second, "synced long before the backoff ends", func() bool { return g.applied.Load() == 1 })
}
