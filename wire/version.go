package wire

// ProtocolVersion is the one version integer every message between control
// plane and gateway carries (field "protocolVersion"). Both ends reject a
// message with a different version (ErrProtocolVersion) instead of guessing.
//
// History:
//
//	1: first version: snapshot, heartbeat, telemetry batch/ack, GatewayKey token.
const ProtocolVersion = 1

// Paths of the gateway-facing endpoints of the control plane, relative to the
// control plane's base URL (env.conf config.service.endpoint). Every request
// carries "Authorization: GatewayKey <token>"; the gateway id comes from the token.
const (
	// PathConfig: GET the gateway's snapshot (long-poll with If-None-Match and ?wait=).
	PathConfig = "/gateway/v1/config"
	// PathHeartbeat: POST a Heartbeat, answered with a HeartbeatAck.
	PathHeartbeat = "/gateway/v1/heartbeat"
	// PathTelemetry: POST a TelemetryBatch, answered with a TelemetryAck.
	PathTelemetry = "/gateway/v1/telemetry"
)

// Header names used by the gateway-facing endpoints.
const (
	// HeaderSnapshotVersion carries the snapshot version on config responses (200 and 304).
	HeaderSnapshotVersion = "X-Apimgw-Snapshot-Version"
	// HeaderProtocolVersion carries ProtocolVersion on every request and response.
	HeaderProtocolVersion = "X-Apimgw-Protocol-Version"
)
