package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/apimgw/apimgw/wire"
)

// heartbeatLoop posts a heartbeat at start, every HeartbeatInterval, and
// soon after notable events (connected again, a snapshot applied or
// rejected, Kick).
func (a *Agent) heartbeatLoop(ctx context.Context) {
	for ctx.Err() == nil {
		a.checkToken()
		a.sendHeartbeat(ctx)
		select {
		case <-ctx.Done():
			return
		case <-a.hbNow:
		case <-a.cfg.Clock.After(a.cfg.HeartbeatInterval):
		}
	}
}

// Heartbeat builds the heartbeat the agent would send now.
func (a *Agent) Heartbeat(ctx context.Context) *wire.Heartbeat {
	// Host facts first: the first collection can take a while, and the
	// rest must be one consistent moment.
	host := a.cfg.Host(ctx)
	now := a.cfg.Clock.Now()
	ver, sum := a.cfg.Current()
	hb := &wire.Heartbeat{
		ProtocolVersion: wire.ProtocolVersion, Gateway: a.gatewayID(), Time: now.UTC(),
		IntervalSeconds: int(a.cfg.HeartbeatInterval / time.Second), GatewayVersion: a.cfg.Version,
		SnapshotVersion: ver, SnapshotChecksum: sum, UptimeSeconds: int64(now.Sub(a.started) / time.Second),
		Host: host, Backlog: a.backlog(now),
	}
	if hb.IntervalSeconds == 0 {
		hb.IntervalSeconds = 1
	}
	if t := a.cfg.Token(); t != nil {
		hb.TokenExpiry = t.Expiry
	}
	a.mu.Lock()
	hb.LastError, hb.LastErrorAt = a.st.lastErr, a.st.lastErrAt
	a.mu.Unlock()
	return hb
}

func (a *Agent) sendHeartbeat(ctx context.Context) {
	hb := a.Heartbeat(ctx)
	var ack wire.HeartbeatAck
	err := a.postJSON(ctx, "POST "+wire.PathHeartbeat, wire.PathHeartbeat, hb, &ack)
	if ctx.Err() != nil {
		return
	}
	if err == nil && ack.ProtocolVersion != wire.ProtocolVersion {
		err = fmt.Errorf("%w: heartbeat ack has protocol version %d", ErrProtocol, ack.ProtocolVersion)
	}
	if err != nil {
		a.failed(fmt.Errorf("heartbeat: %w", err), offline(err))
		return
	}
	a.mu.Lock()
	a.st.lastHeartbeat = a.cfg.Clock.Now()
	a.st.hbBacklog = hb.Backlog
	a.mu.Unlock()
	a.succeeded(true)
}
