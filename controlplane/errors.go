package controlplane

import "errors"

// Sentinel errors of package controlplane. Errors returned by the Store wrap
// one of them inside an *APIError that also carries the ARM error code,
// message and details a client sees; test with errors.Is.
var (
	// ErrNotFound: the resource (or its parent) does not exist (HTTP 404).
	ErrNotFound = errors.New("controlplane: not found")
	// ErrValidation: the request is invalid input; nothing was changed (HTTP 400).
	ErrValidation = errors.New("controlplane: validation failed")
	// ErrConflict: the write would break a uniqueness rule or leave a
	// dangling reference; nothing was changed (HTTP 409).
	ErrConflict = errors.New("controlplane: conflict")
	// ErrPrecondition: If-Match did not match the resource's ETag (HTTP 412).
	ErrPrecondition = errors.New("controlplane: precondition failed")
	// ErrUnauthorized: missing or wrong credentials (HTTP 401).
	ErrUnauthorized = errors.New("controlplane: unauthorized")
	// ErrTooLarge: the request body is over the size limit (HTTP 413).
	ErrTooLarge = errors.New("controlplane: request too large")
	// ErrClosed: the Store was closed (HTTP 503: the control plane is
	// shutting down; a gateway should retry later, not forget anything).
	ErrClosed = errors.New("controlplane: closed")
	// ErrUnavailable: the database of a shared store (PostgreSQL) cannot be
	// reached or failed the transaction; nothing was changed (HTTP 503: retry).
	ErrUnavailable = errors.New("controlplane: store unavailable")
)
