package telemetry

import "errors"

// Sentinel errors of package telemetry.
var (
	// ErrRecordFormat: bytes in the queue are not a record this build can
	// decode (unknown version byte, truncated, a field out of range).
	ErrRecordFormat = errors.New("telemetry: malformed record")
	// ErrClosed: the pipeline was closed.
	ErrClosed = errors.New("telemetry: pipeline closed")
)
