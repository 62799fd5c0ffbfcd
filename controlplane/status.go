package controlplane

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/apimgw/apimgw/wire"
)

// GatewayStatus is properties.status of GET /gateways/{id}: what the gateway
// last reported in a heartbeat, plus the control plane's judgement of it.
type GatewayStatus struct {
	// State is "connected", "disconnected" (no heartbeat for
	// wire.MissedHeartbeats intervals) or "neverConnected". Computed on read.
	State                    string    `json:"state"`
	LastHeartbeat            time.Time `json:"lastHeartbeat,omitzero"`
	HeartbeatIntervalSeconds int       `json:"heartbeatIntervalSeconds,omitempty"`
	GatewayVersion           string    `json:"gatewayVersion,omitempty"`
	SnapshotVersion          uint64    `json:"snapshotVersion"`
	SnapshotChecksum         string    `json:"snapshotChecksum,omitempty"`
	// LatestSnapshotVersion is the control plane's current version for the
	// gateway (computed on read); InSync says the gateway serves it.
	LatestSnapshotVersion uint64         `json:"latestSnapshotVersion"`
	InSync                bool           `json:"inSync"`
	UptimeSeconds         int64          `json:"uptimeSeconds,omitempty"`
	TokenExpiry           time.Time      `json:"tokenExpiry,omitzero"`
	Host                  wire.HostFacts `json:"host"`
	Backlog               wire.Backlog   `json:"backlog"`
	LastError             string         `json:"lastError,omitempty"`
	LastErrorAt           time.Time      `json:"lastErrorAt,omitzero"`
	// LastConfigRequest is when the gateway last asked for its snapshot.
	LastConfigRequest time.Time `json:"lastConfigRequest,omitzero"`
}

// statusBook holds the latest status per gateway (persisted in bucket
// gatewayStatus). Safe for concurrent use.
type statusBook struct {
	mu        sync.Mutex
	byGateway map[string]*GatewayStatus
}

func (b *statusBook) get(gw string) GatewayStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	if st, ok := b.byGateway[gw]; ok {
		return *st
	}
	return GatewayStatus{}
}

// Status returns the gateway's status as GET /gateways/{id} shows it.
//
// On a shared backend the stored status is read (the gateway may send its
// heartbeats to another apimcp process; sharedStatus), and
// LastConfigRequest is the later of the stored one and this process's.
func (s *Store) Status(gw string) GatewayStatus {
	st := s.status.get(gw)
	if s.be.shared() {
		if stored, ok := s.shared.get(s, gw); ok {
			if st.LastConfigRequest.After(stored.LastConfigRequest) {
				stored.LastConfigRequest = st.LastConfigRequest
			}
			st = stored
		}
	}
	now := s.opts.Now()
	interval := wire.DefaultHeartbeatInterval
	if st.HeartbeatIntervalSeconds > 0 {
		interval = time.Duration(st.HeartbeatIntervalSeconds) * time.Second
	}
	switch {
	case st.LastHeartbeat.IsZero():
		st.State = "neverConnected"
	case now.Sub(st.LastHeartbeat) > wire.MissedHeartbeats*interval:
		st.State = "disconnected"
	default:
		st.State = "connected"
	}
	if pub, _, ok := s.hub.current(gw); ok {
		st.LatestSnapshotVersion = pub.version
		st.InSync = st.SnapshotVersion == pub.version && st.SnapshotChecksum == pub.snap.Checksum
	}
	return st
}

// Heartbeat records hb for gateway gw (already authenticated) and returns
// the ack. The status is persisted, so it survives a restart.
func (s *Store) Heartbeat(gw string, hb *wire.Heartbeat) (*wire.HeartbeatAck, error) {
	if s.closed.Load() {
		return nil, errShuttingDown
	}
	now := s.opts.Now()
	s.status.mu.Lock()
	prev := s.status.byGateway[gw]
	st := &GatewayStatus{
		LastHeartbeat: now.UTC(), HeartbeatIntervalSeconds: int(hb.Interval() / time.Second),
		GatewayVersion: hb.GatewayVersion, SnapshotVersion: hb.SnapshotVersion, SnapshotChecksum: hb.SnapshotChecksum,
		UptimeSeconds: hb.UptimeSeconds, TokenExpiry: hb.TokenExpiry, Host: hb.Host, Backlog: hb.Backlog,
		LastError: hb.LastError, LastErrorAt: hb.LastErrorAt,
	}
	if prev != nil {
		st.LastConfigRequest = prev.LastConfigRequest
	}
	s.status.byGateway[gw] = st
	data, _ := json.Marshal(st)
	stored := *st
	s.status.mu.Unlock()
	if err := s.be.putStatus(gw, data); err != nil {
		return nil, s.unavailable(err)
	}
	s.shared.set(gw, &stored)
	ack := &wire.HeartbeatAck{ProtocolVersion: wire.ProtocolVersion, ServerTime: now.UTC()}
	if pub, _, ok := s.hub.current(gw); ok {
		ack.SnapshotVersion = pub.version
	}
	return ack, nil
}

// noteConfigRequest records when gw last asked for its snapshot (memory only).
func (s *Store) noteConfigRequest(gw string) {
	now := s.opts.Now().UTC()
	s.status.mu.Lock()
	defer s.status.mu.Unlock()
	st := s.status.byGateway[gw]
	if st == nil {
		st = &GatewayStatus{}
		s.status.byGateway[gw] = st
	}
	st.LastConfigRequest = now
}

func (s *Store) forgetStatus(gw string) {
	s.status.mu.Lock()
	delete(s.status.byGateway, gw)
	s.status.mu.Unlock()
	_ = s.be.deleteStatus(gw)
	s.shared.set(gw, nil)
}

// sharedStatusTTL is how long the statuses read from a shared backend are
// used before they are read again: listing 1,000 gateways (or the systemd
// watchdog's check) makes one query, not 1,000. A heartbeat received by
// another process shows after at most this long.
const sharedStatusTTL = time.Second

// sharedStatus caches every gateway's stored status on a shared backend.
type sharedStatus struct {
	mu  sync.Mutex
	at  time.Time // wall clock of the last read
	all map[string]GatewayStatus
}

func (c *sharedStatus) get(s *Store, gw string) (GatewayStatus, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.all == nil || time.Since(c.at) > sharedStatusTTL {
		raw, err := s.be.allStatuses()
		if err != nil {
			s.opts.Logger.Warn("controlplane: gateway statuses unreadable; showing the last read", "err", err)
		} else {
			all := make(map[string]GatewayStatus, len(raw))
			for k, v := range raw {
				var st GatewayStatus
				if json.Unmarshal(v, &st) == nil {
					all[k] = st
				}
			}
			c.all, c.at = all, time.Now()
		}
	}
	st, ok := c.all[gw]
	return st, ok
}

// set records a status this process stored (st nil: deleted), so it shows
// its own writes at once.
func (c *sharedStatus) set(gw string, st *GatewayStatus) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.all == nil {
		return
	}
	if st == nil {
		delete(c.all, gw)
		return
	}
	c.all[gw] = *st
}
