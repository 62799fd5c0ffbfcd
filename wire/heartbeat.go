package wire

import (
	"fmt"
	"time"
)

// DefaultHeartbeatInterval is how often a gateway sends a Heartbeat unless
// configured otherwise. The control plane shows a gateway as disconnected
// after MissedHeartbeats intervals without one.
const (
	DefaultHeartbeatInterval = 60 * time.Second
	MissedHeartbeats         = 3
)

// Heartbeat is what a gateway POSTs to PathHeartbeat. The control plane keeps
// the latest one per gateway under properties.status of GET /gateways/{id}.
type Heartbeat struct {
	ProtocolVersion int `json:"protocolVersion"`
	// Gateway must equal the token's gateway id (the control plane checks).
	Gateway string `json:"gateway"`
	// Time is the gateway's clock when it sent the heartbeat.
	Time time.Time `json:"time"`
	// IntervalSeconds is the gateway's heartbeat interval; 0 means
	// DefaultHeartbeatInterval. Disconnection is judged against it.
	IntervalSeconds int `json:"intervalSeconds,omitempty"`
	// GatewayVersion is the apimgw build ("1.2.3+abc1234").
	GatewayVersion string `json:"gatewayVersion"`
	// SnapshotVersion and SnapshotChecksum identify the config it serves
	// (0 and "" when it serves none).
	SnapshotVersion  uint64 `json:"snapshotVersion"`
	SnapshotChecksum string `json:"snapshotChecksum,omitempty"`
	// UptimeSeconds since the gateway process started.
	UptimeSeconds int64 `json:"uptimeSeconds"`
	// TokenExpiry is the expiry of the token the gateway uses.
	TokenExpiry time.Time `json:"tokenExpiry,omitzero"`
	Host        HostFacts `json:"host"`
	Backlog     Backlog   `json:"backlog"`
	// LastError is the most recent sync/compile/upload failure, "" if none
	// since the last success. It must not contain secrets.
	LastError string `json:"lastError,omitempty"`
	// LastErrorAt is when LastError happened.
	LastErrorAt time.Time `json:"lastErrorAt,omitzero"`
}

// HostFacts describe the edge box (from gopsutil on the gateway).
type HostFacts struct {
	Hostname         string  `json:"hostname,omitempty"`
	OS               string  `json:"os,omitempty"`
	Arch             string  `json:"arch,omitempty"`
	CPUs             int     `json:"cpus,omitempty"`
	CPUPercent       float64 `json:"cpuPercent"`
	MemoryTotalBytes uint64  `json:"memoryTotalBytes"`
	MemoryUsedBytes  uint64  `json:"memoryUsedBytes"`
	DiskFreeBytes    uint64  `json:"diskFreeBytes"`
	Load1            float64 `json:"load1"`
	Load5            float64 `json:"load5"`
	Load15           float64 `json:"load15"`
}

// Backlog describes the gateway's telemetry queue.
type Backlog struct {
	Records          int64   `json:"records"`
	Bytes            int64   `json:"bytes"`
	OldestAgeSeconds float64 `json:"oldestAgeSeconds"`
	// Dropped counts records dropped because the queue was full, since the
	// queue was created.
	Dropped int64 `json:"dropped"`
}

// HeartbeatAck is the control plane's answer to a Heartbeat.
type HeartbeatAck struct {
	ProtocolVersion int       `json:"protocolVersion"`
	ServerTime      time.Time `json:"serverTime"`
	// SnapshotVersion is the current version of this gateway's snapshot on the
	// control plane: a gateway whose own is older should fetch (it normally
	// already is, through the long-poll).
	SnapshotVersion uint64 `json:"snapshotVersion"`
}

// Validate checks protocol version and required fields.
func (h *Heartbeat) Validate() error {
	if h.ProtocolVersion != ProtocolVersion {
		return fmt.Errorf("%w: heartbeat has %d, this build speaks %d", ErrProtocolVersion, h.ProtocolVersion, ProtocolVersion)
	}
	if h.Gateway == "" {
		return fmt.Errorf("%w: gateway is empty", ErrInvalidHeartbeat)
	}
	if h.IntervalSeconds < 0 {
		return fmt.Errorf("%w: intervalSeconds %d is negative", ErrInvalidHeartbeat, h.IntervalSeconds)
	}
	return nil
}

// Interval is IntervalSeconds as a duration, DefaultHeartbeatInterval when 0.
func (h *Heartbeat) Interval() time.Duration {
	if h.IntervalSeconds <= 0 {
		return DefaultHeartbeatInterval
	}
	return time.Duration(h.IntervalSeconds) * time.Second
}
