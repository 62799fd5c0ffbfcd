package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/apimgw/apimgw/appliance/status"
	"github.com/apimgw/apimgw/wire"
)

// TokenState is the gateway token's standing by the local clock.
type TokenState string

// Token states.
const (
	TokenMissing  TokenState = "missing"  // env.conf has no token
	TokenValid    TokenState = "valid"    // more than TokenWarning left
	TokenExpiring TokenState = "expiring" // expires within TokenWarning
	TokenExpired  TokenState = "expired"  // past its expiry
)

// TokenStatus describes the gateway token.
type TokenStatus struct {
	GatewayID string
	Expiry    time.Time
	State     TokenState
	// Message is a sentence for people (status page, logs): empty while
	// the token is valid, a warning when it expires within 7 days, and a
	// plain statement when it has expired.
	Message string
}

// Rejection is a candidate snapshot the agent did not apply.
type Rejection struct {
	// Version is the control plane's version of the candidate (from its
	// X-Apimgw-Snapshot-Version header; 0 if unknown).
	Version uint64
	// Error says what failed (checksum, validation, compile; naming the
	// element).
	Error string
	At    time.Time
}

// Status is the agent's state for the status page, logs and tests.
type Status struct {
	Endpoint  string
	GatewayID string
	// Connected is true while the last request to the control plane got an
	// answer that lets the gateway work (a token refused means not
	// connected). Since is when the current state began: when it went
	// offline, or came back. NeverConnected: not once since start.
	Connected      bool
	NeverConnected bool
	Since          time.Time
	// LastSync is the last successful config request (a new snapshot or
	// "not modified"); it survives restarts (store metadata).
	LastSync      time.Time
	LastHeartbeat time.Time
	LastUpload    time.Time
	// LastError is the last error of any kind (sync, apply, heartbeat,
	// upload), with its time; it stays after recovery (see Connected).
	LastError   string
	LastErrorAt time.Time
	// SnapshotVersion and SnapshotChecksum are what the gateway serves.
	SnapshotVersion  uint64
	SnapshotChecksum string
	// ETag is the snapshot ETag the long-poll waits on.
	ETag string
	// Rejected is the newest candidate that was refused, while the
	// gateway serves an older one (nil once a newer snapshot applied).
	Rejected *Rejection
	// Applied counts snapshots applied since start.
	Applied uint64
	Token   TokenStatus
	// Failures is the number of consecutive failed config requests;
	// NextRetry when the next one is due (zero while healthy).
	Failures  int
	NextRetry time.Time
	// Telemetry upload counters since start: records the control plane
	// acknowledged as new, as already stored (resent), as too old, records
	// that could not be decoded (skipped), and batches.
	Uploaded, Duplicates, ExpiredRecords, Malformed, Batches uint64
	// Backlog is the telemetry queue (as in the heartbeat).
	Backlog wire.Backlog
}

// Status returns a copy of the agent's state. It does one short read of the
// store (queue statistics) and no network I/O.
func (a *Agent) Status() Status {
	now := a.cfg.Clock.Now()
	ver, sum := a.cfg.Current()
	a.mu.Lock()
	s := Status{
		Endpoint: a.base, Connected: a.st.connected, NeverConnected: !a.st.everConnected, Since: a.st.since,
		LastSync: a.st.lastSync, LastHeartbeat: a.st.lastHeartbeat, LastUpload: a.st.lastUpload,
		LastError: a.st.lastErr, LastErrorAt: a.st.lastErrAt, SnapshotVersion: ver, SnapshotChecksum: sum,
		ETag: a.st.etag, Applied: a.st.applied, Failures: a.st.failures, NextRetry: a.st.nextRetry,
		Uploaded: a.st.uploaded, Duplicates: a.st.duplicates, ExpiredRecords: a.st.expired,
		Malformed: a.st.malformed, Batches: a.st.batches,
	}
	if a.st.rejected != nil {
		r := *a.st.rejected
		s.Rejected = &r
	}
	a.mu.Unlock()
	s.Token = a.tokenStatus(now, ver)
	s.GatewayID = s.Token.GatewayID
	if s.GatewayID == "" {
		s.GatewayID = a.cfg.GatewayID
	}
	s.Backlog = a.backlog(now)
	return s
}

// tokenStatus judges the current token at now.
func (a *Agent) tokenStatus(now time.Time, serving uint64) TokenStatus {
	t := a.cfg.Token()
	if t == nil {
		return TokenStatus{State: TokenMissing, Message: "no gateway token in env.conf (config.service.auth): the gateway cannot reach its control plane"}
	}
	ts := TokenStatus{GatewayID: t.GatewayID, Expiry: t.Expiry, State: TokenValid}
	exp := t.Expiry.UTC().Format(time.RFC3339)
	switch {
	case t.Expired(now):
		ts.State = TokenExpired
		ts.Message = fmt.Sprintf("gateway token EXPIRED at %s (%s ago): the control plane refuses it; the gateway keeps serving its last configuration (snapshot %d) and keeps queueing telemetry; put a new token in env.conf config.service.auth",
			exp, now.Sub(t.Expiry).Truncate(time.Minute), serving)
	case t.ExpiresWithin(now, TokenWarning):
		ts.State = TokenExpiring
		ts.Message = fmt.Sprintf("gateway token expires at %s (in %s); generate a new one and put it in env.conf config.service.auth",
			exp, t.Expiry.Sub(now).Truncate(time.Minute))
	}
	return ts
}

// checkToken logs the token's standing when it changed (a new token, or the
// same token crossing into its last 7 days or expiring).
func (a *Agent) checkToken() {
	now := a.cfg.Clock.Now()
	ver, _ := a.cfg.Current()
	ts := a.tokenStatus(now, ver)
	raw := ""
	if t := a.cfg.Token(); t != nil {
		raw = t.Value()
	}
	a.mu.Lock()
	changed := ts.State != a.st.tokenState || raw != a.st.tokenRaw
	newToken := raw != a.st.tokenRaw && a.st.tokenRaw != ""
	a.st.tokenState, a.st.tokenRaw = ts.State, raw
	a.mu.Unlock()
	if !changed {
		return
	}
	if newToken {
		a.log.Info("agent: using a new gateway token", "gateway", ts.GatewayID, "expiry", ts.Expiry)
	}
	switch ts.State {
	case TokenExpired:
		a.log.Error("agent: " + ts.Message)
	case TokenExpiring, TokenMissing:
		a.log.Warn("agent: " + ts.Message)
	}
}

// backlog reads the telemetry queue's statistics.
func (a *Agent) backlog(now time.Time) wire.Backlog {
	var b wire.Backlog
	qs, err := a.cfg.Store.QueueStats()
	if err != nil {
		return b
	}
	b.Records, b.Bytes, b.Dropped = qs.Records, qs.Bytes, int64(qs.Dropped)
	if !qs.Oldest.IsZero() {
		b.OldestAgeSeconds = max(0, now.Sub(qs.Oldest).Seconds())
	}
	if a.cfg.Pipeline != nil {
		ps := a.cfg.Pipeline.Stats()
		b.Dropped += int64(ps.DroppedBuffer + ps.DroppedClosed + ps.Refused)
	}
	a.mu.Lock()
	b.Dropped += int64(a.st.malformed)
	a.mu.Unlock()
	return b
}

// HostFromCollector turns a status.HostCollector (shared with the status
// page) into the agent's Host function. With c nil it makes one for the disk
// that holds storePath.
func HostFromCollector(c *status.HostCollector, storePath string) func(context.Context) wire.HostFacts {
	if c == nil {
		c = status.NewHostCollector(storePath, 0)
	}
	return func(ctx context.Context) wire.HostFacts {
		f := c.Collect(ctx)
		used := uint64(0)
		if f.MemTotal > f.MemAvailable {
			used = f.MemTotal - f.MemAvailable
		}
		return wire.HostFacts{Hostname: f.Hostname, OS: f.OS, Arch: f.Arch, CPUs: f.CPUs, CPUPercent: f.CPUPercent,
			MemoryTotalBytes: f.MemTotal, MemoryUsedBytes: used, DiskFreeBytes: f.DiskFree,
			Load1: f.Load1, Load5: f.Load5, Load15: f.Load15}
	}
}

// ControlPlaneFacts is the status page's view of the connection
// (status.Facts.ControlPlane).
func (s Status) ControlPlaneFacts() status.ControlPlane {
	return status.ControlPlane{Endpoint: s.Endpoint, Connected: s.Connected, Since: s.Since, LastSync: s.LastSync,
		LastHeartbeat: s.LastHeartbeat, LastError: s.LastError, LastErrorAt: s.LastErrorAt}
}

// TokenFacts is the status page's view of the token (status.Facts.Token);
// nil when there is none.
func (s Status) TokenFacts() *status.Token {
	if s.Token.State == TokenMissing {
		return nil
	}
	return &status.Token{GatewayID: s.Token.GatewayID, Expiry: s.Token.Expiry}
}

// BacklogFacts is the status page's view of the telemetry queue
// (status.Facts.Telemetry); maxBytes is the store's queue budget.
func (s Status) BacklogFacts(oldest time.Time, maxBytes int64) status.Backlog {
	return status.Backlog{Records: uint64(max(0, s.Backlog.Records)), Bytes: uint64(max(0, s.Backlog.Bytes)),
		MaxBytes: uint64(max(0, maxBytes)), Oldest: oldest, Dropped: uint64(max(0, s.Backlog.Dropped)), LastUpload: s.LastUpload}
}
