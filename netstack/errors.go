package netstack

import "errors"

// ErrStopped is returned by Start when the engine stopped before it booted.
var ErrStopped = errors.New("netstack: engine stopped")
