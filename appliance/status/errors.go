package status

import "errors"

// Sentinel errors of package status. A Source's Rollback wraps the first two so
// that the page and /rollback answer with the right status code.
var (
	// ErrUnknownSnapshot: the version to roll back to is not in the history (404).
	ErrUnknownSnapshot = errors.New("status: unknown snapshot version")
	// ErrRollbackRefused: the Source cannot roll back now, e.g. in standalone
	// mode or while a sync is applying a snapshot (409).
	ErrRollbackRefused = errors.New("status: rollback refused")
	// ErrNoSource: Config.Source is nil.
	ErrNoSource = errors.New("status: no Source")
	// ErrForbiddenHost: the Host header is not loopback, an IP literal, the
	// machine's name or an allowed name (DNS-rebinding guard).
	ErrForbiddenHost = errors.New("status: host not allowed")
	// ErrCrossSite: a state-changing request came from another site (CSRF guard).
	ErrCrossSite = errors.New("status: cross-site request refused")
)
