package wire

import "errors"

// Sentinel errors of package wire. Functions wrap them with detail (which
// field, which id), so test with errors.Is.
var (
	// ErrProtocolVersion: a message carries a protocol version this build does not speak.
	ErrProtocolVersion = errors.New("wire: unsupported protocol version")
	// ErrChecksum: a snapshot's checksum does not match its content.
	ErrChecksum = errors.New("wire: snapshot checksum mismatch")
	// ErrInvalidSnapshot: a snapshot is malformed or references something it does not contain.
	ErrInvalidSnapshot = errors.New("wire: invalid snapshot")
	// ErrInvalidTelemetry: a telemetry batch is malformed.
	ErrInvalidTelemetry = errors.New("wire: invalid telemetry batch")
	// ErrTelemetryTooLarge: a telemetry batch holds more than MaxTelemetryRecords
	// records (it also wraps ErrInvalidTelemetry).
	ErrTelemetryTooLarge = errors.New("wire: telemetry batch too large")
	// ErrInvalidHeartbeat: a heartbeat is malformed.
	ErrInvalidHeartbeat = errors.New("wire: invalid heartbeat")
	// ErrTokenMalformed: a gateway token is not <id>&<yyyyMMddHHmm>&<base64 signature>.
	ErrTokenMalformed = errors.New("wire: malformed gateway token")
	// ErrTokenExpired: a gateway token's expiry has passed.
	ErrTokenExpired = errors.New("wire: gateway token expired")
	// ErrTokenSignature: a gateway token's signature does not match the gateway key.
	ErrTokenSignature = errors.New("wire: gateway token signature invalid")
)
