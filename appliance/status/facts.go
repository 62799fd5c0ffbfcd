package status

import (
	"context"
	"time"
)

// Source is what the appliance implements for the status page. Both methods
// are called from HTTP handler goroutines, concurrently with each other and
// with the gateway's work, so they must be safe for concurrent use. Facts is
// called once per page view, /status.json and /metrics scrape: it must be
// quick (read counters and cached state; no network I/O).
type Source interface {
	// Facts returns a copy of the appliance's current state. The returned
	// value is owned by the caller: the Source must not change its slices
	// afterwards.
	Facts(ctx context.Context) Facts
	// Rollback makes the snapshot with this version current again (from the
	// history in the store). Wrap ErrUnknownSnapshot or ErrRollbackRefused
	// for the user errors; any other error is reported as a failure.
	Rollback(ctx context.Context, version string) error
}

// Mode is how the gateway gets its configuration.
type Mode string

// Modes.
const (
	ModeHybrid       Mode = "hybrid"       // from the control plane (config.service.endpoint)
	ModeStandalone   Mode = "standalone"   // from a snapshot file (config.local.path)
	ModeUnconfigured Mode = "unconfigured" // neither is set in env.conf
)

// Facts is the appliance's state as the Source reports it: plain values, no
// behaviour. Zero values mean "unknown" or "never" and are shown that way.
type Facts struct {
	Version     string    `json:"version"`
	GatewayName string    `json:"gatewayName,omitempty"`
	Mode        Mode      `json:"mode"`
	StartedAt   time.Time `json:"startedAt"`
	// Ready is what /readyz answers: listeners up and a configuration loaded.
	Ready bool `json:"ready"`
	// NotReadyReason says why not, for /readyz and the page.
	NotReadyReason string `json:"notReadyReason,omitempty"`
	// Activity is what the gateway is doing, the same words as the systemd
	// STATUS line ("serving snapshot 42", "draining").
	Activity     string       `json:"activity,omitempty"`
	ControlPlane ControlPlane `json:"controlPlane"`
	Snapshot     Snapshots    `json:"snapshot"`
	// Token is nil in standalone mode.
	Token     *Token     `json:"token,omitempty"`
	APIs      []API      `json:"apis"`
	Telemetry Backlog    `json:"telemetry"`
	Listeners []Listener `json:"listeners"`
	// StorePath is the bbolt file; the host facts report the disk it is on.
	StorePath string `json:"storePath,omitempty"`
	// Counters is the rate-limit and quota counter pool.
	Counters PolicyCounters `json:"policyCounters"`
	// SharedCounters is set when replicas share counters through Redis
	// (policy.rate-limit.redis.url); nil means local counters by design.
	SharedCounters *SharedCounters `json:"sharedCounters,omitempty"`
	// ExternalCache is set when the snapshot configures an external cache
	// (external_cache.go).
	ExternalCache *ExternalCache `json:"externalCache,omitempty"`
	// Traces counts the trace policy's output by severity and outcome
	// ("logged", "below-level", "rate-limited", "queue-full").
	Traces []TraceCount `json:"traces,omitempty"`
	// Settings are the gateway's settings and where each came from.
	Settings []Setting `json:"settings,omitempty"`
	// Policies are the counters of the policies' own state: the built-in
	// value cache and emit-metric's metrics.
	Policies PolicyFacts `json:"policies"`
}

// TraceCount is how many trace policy calls of one severity had one outcome.
type TraceCount struct {
	Severity string `json:"severity"`
	Outcome  string `json:"outcome"`
	Count    uint64 `json:"count"`
}

// PolicyCounters sizes the pool of rate-limit and quota counters, whose keys
// come from requests and are bounded per policy (policy.rate-limit.max-keys).
type PolicyCounters struct {
	RateKeys       int    `json:"rateKeys"`
	QuotaKeys      int    `json:"quotaKeys"`
	RateEvictions  uint64 `json:"rateEvictions"`
	QuotaEvictions uint64 `json:"quotaEvictions"`
	MaxKeys        int    `json:"maxKeysPerPolicy"`
}

// SharedCounters is the state of the Redis through which replicas share
// rate-limit and quota counters. While Sharing is false the gateway counts
// locally (each replica allows the whole limit) until Redis answers again.
type SharedCounters struct {
	Addr    string    `json:"redis"` // scheme://host:port/db, never the password
	Sharing bool      `json:"sharing"`
	Since   time.Time `json:"since"`
	// Updates sent to Redis; failed (lost in a failed round trip), dropped
	// (queue full) and local (Redis unreachable) were counted locally only.
	Sent    uint64 `json:"sent"`
	Failed  uint64 `json:"failed"`
	Dropped uint64 `json:"dropped"`
	Local   uint64 `json:"local"`
	// Fallbacks to local counters, and returns to sharing.
	Fallbacks   uint64    `json:"fallbacks"`
	Resumed     uint64    `json:"resumed"`
	LastError   string    `json:"lastError,omitempty"`
	LastErrorAt time.Time `json:"lastErrorAt,omitzero"`
}

// PolicyFacts are the built-in cache's counters and the emit-metric series.
type PolicyFacts struct {
	CacheEntries   int            `json:"cacheEntries"`
	CacheBytes     int64          `json:"cacheBytes"`
	CacheBudget    int64          `json:"cacheBudget"`
	CacheHits      int64          `json:"cacheHits"`
	CacheMisses    int64          `json:"cacheMisses"`
	CacheEvictions int64          `json:"cacheEvictions"`
	CacheExpired   int64          `json:"cacheExpired"`
	Metrics        []PolicyMetric `json:"metrics,omitempty"`
	// ExternalUnconfigured counts caching-type external operations with no
	// external cache configured (external_cache.go).
	ExternalUnconfigured int64 `json:"externalCacheUnconfigured"`
}

// PolicyMetric is one emit-metric series.
type PolicyMetric struct {
	Namespace  string      `json:"namespace"`
	Name       string      `json:"name"`
	Dimensions [][2]string `json:"dimensions,omitempty"`
	Sum        float64     `json:"sum"`
	Count      int64       `json:"count"`
}

// ControlPlane is the state of the connection to apimcp (hybrid mode).
type ControlPlane struct {
	Endpoint  string `json:"endpoint,omitempty"`
	Connected bool   `json:"connected"`
	// Since is when the current state (connected or offline) began.
	Since time.Time `json:"since"`
	// LastSync is the last successful configuration poll.
	LastSync      time.Time `json:"lastSync"`
	LastHeartbeat time.Time `json:"lastHeartbeat"`
	LastError     string    `json:"lastError,omitempty"`
	LastErrorAt   time.Time `json:"lastErrorAt"`
	// LastErrorActive is set by the server, not the Source (see
	// errorActive): true while LastError is a current problem, false once
	// it is history (the link came back, or a snapshot applied since).
	LastErrorActive bool `json:"lastErrorActive"`
}

// errorActive reports whether the last error is still a current problem. In
// hybrid mode an error is history once the gateway is connected again and
// the error is older than the connection, or older than the last applied
// snapshot; otherwise (standalone, unconfigured) once a snapshot was applied
// after it. An error with no time is current until the gateway is connected.
func errorActive(f *Facts) bool {
	cp := f.ControlPlane
	if cp.LastError == "" {
		return false
	}
	applied := f.Snapshot.AppliedAt
	if f.Mode == ModeHybrid {
		if !cp.Connected {
			return true
		}
		return cp.LastErrorAt.After(cp.Since) && cp.LastErrorAt.After(applied)
	}
	return cp.LastErrorAt.IsZero() || cp.LastErrorAt.After(applied)
}

// Snapshots is the configuration the gateway serves and the history it can
// roll back to.
type Snapshots struct {
	Current   string    `json:"current,omitempty"`
	AppliedAt time.Time `json:"appliedAt"`
	// History is newest first and includes the current snapshot.
	History []SnapshotEntry `json:"history"`
}

// SnapshotEntry is one stored snapshot.
type SnapshotEntry struct {
	Version    string    `json:"version"`
	ReceivedAt time.Time `json:"receivedAt"`
	// Origin is where it came from: "control-plane" or "file"; "" for rows
	// stored before the gateway recorded it (APIs is then unknown too).
	Origin  string `json:"origin,omitempty"`
	APIs    int    `json:"apis"`
	Current bool   `json:"current"`
}

// Token is the gateway token from env.conf (config.service.auth).
type Token struct {
	GatewayID string    `json:"gatewayId"`
	Expiry    time.Time `json:"expiry"`
}

// API is one API in the current snapshot.
type API struct {
	ID         string `json:"id"`
	Name       string `json:"name,omitempty"`
	Path       string `json:"path"`
	Operations int    `json:"operations"`
}

// Backlog is the telemetry queue waiting for the control plane.
type Backlog struct {
	Records  uint64 `json:"records"`
	Bytes    uint64 `json:"bytes"`
	MaxBytes uint64 `json:"maxBytes,omitempty"`
	// Oldest is the enqueue time of the oldest record still queued.
	Oldest time.Time `json:"oldest"`
	// Dropped counts records dropped (oldest first) to stay within MaxBytes
	// since the queue was created.
	Dropped    uint64    `json:"dropped"`
	LastUpload time.Time `json:"lastUpload"`
}

// Listener is one socket the gateway listens on.
type Listener struct {
	Name     string `json:"name"` // "http", "https", "status"
	Addr     string `json:"addr"`
	Protocol string `json:"protocol,omitempty"`
}
