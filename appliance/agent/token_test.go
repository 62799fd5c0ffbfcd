package agent_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/apimgw/apimgw/appliance/agent"
	"github.com/apimgw/apimgw/wire"
)

// TestTokenRotationWithoutRestart: a new token (signed with the secondary
// key) is used from the next request on; the old key is then regenerated,
// so only the new token can work.
func TestTokenRotationWithoutRestart(t *testing.T) {
	cp := startControlPlane(t)
	tokA := cp.setupGateway("gw1")
	g := newGateway(t, cp.URL, tokA, "")
	g.run()
	eventually(t, 5*time.Second, "synced", func() bool { return g.applied.Load() == 1 && g.Agent.Status().ETag != "" })

	expB := time.Now().Add(48 * time.Hour).Truncate(time.Minute)
	tokB := cp.token("gw1", "secondary", expB)
	g.setToken(tokB)
	cp.admin("POST", "/gateways/gw1/regenerateKey", props{"keyType": "primary"}, 0) // token A is dead
	g.Agent.Kick()
	// The long-poll in flight was authorized with A before; the change wakes
	// it, and every later request carries B.
	cp.setPolicy("echo", policyWith("rotated"), 0)
	eventually(t, 5*time.Second, "change applied", func() bool { return g.applied.Load() == 2 })
	cp.setPolicy("echo", policyWith("rotated-again"), 0)
	eventually(t, 5*time.Second, "second change applied with the new token", func() bool { return g.applied.Load() == 3 })
	reqs := cp.requests(wire.PathConfig)
	if last := reqs[len(reqs)-1]; !strings.HasSuffix(last.Auth, tokB) || !strings.HasPrefix(last.Auth, "GatewayKey ") {
		t.Fatalf("last config request authorized with %q, want the new token", last.Auth)
	}
	eventually(t, 5*time.Second, "heartbeat with the new token's expiry", func() bool {
		return cp.gatewayStatus("gw1").TokenExpiry.Equal(expB)
	})
	for _, r := range reqs {
		if r.Status == 401 {
			t.Fatalf("a config request was refused: %+v", r)
		}
	}
	if st := g.Agent.Status(); !st.Token.Expiry.Equal(expB) || !st.Connected {
		t.Fatalf("status %+v", st)
	}
}

// TestExpiredTokenKeepsServing: a gateway restarted with an expired token
// serves its stored snapshot, keeps queueing telemetry, and says plainly
// that the token expired; a new token brings it back without restart and
// the queued telemetry arrives.
func TestExpiredTokenKeepsServing(t *testing.T) {
	cp := startControlPlane(t)
	key := cp.setupGatewayKey("gw1")
	good := wire.SignToken(key, "gw1", time.Now().Add(24*time.Hour))
	g := newGateway(t, cp.URL, good, "")
	g.run()
	eventually(t, 5*time.Second, "synced", func() bool { return g.applied.Load() == 1 })
	serving, _ := g.current()
	path := g.path
	g.stop()

	expiredAt := time.Now().Add(-2 * time.Hour).Truncate(time.Minute)
	g = newGateway(t, cp.URL, wire.SignToken(key, "gw1", expiredAt), path)
	g.run()
	g.record(50)
	eventually(t, 5*time.Second, "token refusal recorded", func() bool {
		return strings.Contains(g.Agent.Status().LastError, "TokenExpired")
	})
	st := g.Agent.Status()
	if st.Connected || st.SnapshotVersion != serving || st.Token.State != agent.TokenExpired ||
		!strings.Contains(st.Token.Message, "EXPIRED") || !strings.Contains(st.Token.Message, "keeps serving") {
		t.Fatalf("status with an expired token: %+v", st)
	}
	if v, _ := g.current(); v != serving {
		t.Fatalf("serving %d, want the stored %d", v, serving)
	}
	eventually(t, 5*time.Second, "telemetry queued", func() bool { return g.Agent.Status().Backlog.Records == 50 })
	if !strings.Contains(g.Logs.String(), "EXPIRED") {
		t.Fatalf("log does not say the token expired:\n%s", g.Logs)
	}
	for _, r := range cp.requests(wire.PathTelemetry) {
		if r.Status == 200 && strings.Contains(r.Auth, expiredAt.Format(wire.TokenTimeLayout)) {
			t.Fatal("the control plane accepted telemetry with an expired token")
		}
	}

	g.setToken(wire.SignToken(key, "gw1", time.Now().Add(24*time.Hour)))
	g.Agent.Kick()
	eventually(t, 5*time.Second, "back with the new token", func() bool {
		s := g.Agent.Status()
		return s.Connected && s.Token.State != agent.TokenExpired && s.Backlog.Records == 0
	})
	if n := cp.calls("gw1"); n != 50 {
		t.Fatalf("control plane counts %d, want 50", n)
	}
}

// TestTokenExpiringWarns: within 7 days of its expiry the token is warned
// about in the status and the log.
func TestTokenExpiringWarns(t *testing.T) {
	cp := startControlPlane(t)
	cp.setupGateway("gw1")
	g := newGateway(t, cp.URL, cp.token("gw1", "primary", time.Now().Add(3*24*time.Hour)), "")
	g.run()
	eventually(t, 5*time.Second, "synced", func() bool { return g.applied.Load() == 1 })
	st := g.Agent.Status()
	if st.Token.State != agent.TokenExpiring || !strings.Contains(st.Token.Message, "expires at") || !st.Connected {
		t.Fatalf("status %+v", st)
	}
	if !strings.Contains(g.Logs.String(), "level=WARN msg=\"agent: gateway token expires at") {
		t.Fatalf("no warning in the log:\n%s", g.Logs)
	}
	g2 := newGateway(t, cp.URL, cp.token("gw1", "primary", time.Now().Add(20*24*time.Hour)), "")
	if st := g2.Agent.Status(); st.Token.State != agent.TokenValid || st.Token.Message != "" {
		t.Fatalf("a 20-day token: %+v", st.Token)
	}
}

// TestUnresolvableEndpoint: a control plane whose name does not resolve
// (.invalid never does) leaves the gateway offline, retrying, saying why.
func TestUnresolvableEndpoint(t *testing.T) {
	g := newGateway(t, "http://apimcp.invalid:8443", wire.SignToken("k", "gw1", time.Now().Add(24*time.Hour)), "")
	g.run()
	g.record(10)
	eventually(t, 5*time.Second, "several retries", func() bool { return g.Agent.Status().Failures >= 3 })
	st := g.Agent.Status()
	if st.Connected || !st.NeverConnected || !strings.Contains(st.LastError, "apimcp.invalid") ||
		!strings.Contains(st.LastError, "unreachable") || st.NextRetry.IsZero() || st.Backlog.Records != 10 {
		t.Fatalf("status %+v", st)
	}
	if !strings.Contains(g.Logs.String(), "no such host") {
		t.Fatalf("log does not name the DNS failure:\n%s", g.Logs)
	}
	_ = context.Background
}
