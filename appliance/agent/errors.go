package agent

import "errors"

// Sentinel errors of package agent. Errors the agent records (Status.LastError,
// the heartbeat's lastError) wrap one of these, so callers can tell them apart.
var (
	// ErrConfig: the agent's Config is unusable (no endpoint, no store, a CA
	// file without certificates …).
	ErrConfig = errors.New("agent: invalid configuration")
	// ErrNoToken: env.conf has no usable gateway token.
	ErrNoToken = errors.New("agent: no gateway token configured")
	// ErrUnreachable: the control plane could not be reached (DNS, connect,
	// TLS, timeout, connection reset).
	ErrUnreachable = errors.New("agent: control plane unreachable")
	// ErrRefused: the control plane answered with an error status (the
	// message carries its ARM error code and message).
	ErrRefused = errors.New("agent: control plane refused the request")
	// ErrTokenExpired: the control plane refused the token as expired, or it
	// expired by the local clock.
	ErrTokenExpired = errors.New("agent: gateway token expired")
	// ErrRejected: a config snapshot from the control plane was rejected
	// (checksum, validation or compile); the last good one keeps serving.
	ErrRejected = errors.New("agent: snapshot rejected")
	// ErrProtocol: the control plane's answer did not follow the protocol (an
	// ack for another batch, a body that is not JSON).
	ErrProtocol = errors.New("agent: protocol error")
)
