package netstack

import "errors"

// ErrStopped is returned by Start when the engine stopped before it booted.
var ErrStopped = errors.New("netstack: engine stopped")

// Why an exchange failed: Exchange.Err is nil or one of these, possibly
// wrapped around a cause (the dial error, the parser's reason). Compare with
// errors.Is, never by the message text: the texts are for logs and may change.
//
// The upstream errors say the backend failed; the client errors say the
// client did (a client that stops sending its body is not a backend timeout).
var (
	// ErrUpstreamUnreachable: the upstream could not be dialed (502).
	ErrUpstreamUnreachable = errors.New("netstack: upstream unreachable")
	// ErrUpstreamTLS: the TLS handshake with an https upstream failed (an
	// untrusted or mismatched certificate, no common protocol; 502).
	ErrUpstreamTLS = errors.New("netstack: upstream tls handshake failed")
	// ErrUpstreamConnectTimeout: dialing the upstream timed out (504).
	ErrUpstreamConnectTimeout = errors.New("netstack: upstream connect timeout")
	// ErrUpstreamTimeout: the upstream did not answer, or stopped sending its
	// body, within the response or body idle timeout (504 before the head).
	ErrUpstreamTimeout = errors.New("netstack: upstream timeout")
	// ErrUpstreamInvalid: the upstream's response head or body was not valid
	// HTTP/1.1, or it switched protocols unasked (502 before the head).
	ErrUpstreamInvalid = errors.New("netstack: invalid upstream response")
	// ErrUpstreamClosed: the upstream closed the connection before its
	// response was complete.
	ErrUpstreamClosed = errors.New("netstack: upstream closed the connection")
	// ErrUpstreamStalled: the upstream stopped taking the request body for a
	// whole body idle timeout.
	ErrUpstreamStalled = errors.New("netstack: upstream stopped reading the request body")
	// ErrCannotResend: the handler asked to send a request again whose body
	// was already streamed (502).
	ErrCannotResend = errors.New("netstack: cannot resend the request")
	// ErrFlowControl: a parked connection could not be enrolled again.
	ErrFlowControl = errors.New("netstack: resume after flow control failed")

	// ErrClientBodyTimeout: the client stopped sending its request body for a
	// whole body idle timeout (408 before the response).
	ErrClientBodyTimeout = errors.New("netstack: client body timeout")
	// ErrBadRequestBody: the client's request body framing was invalid
	// (wrapped around the parser's reason).
	ErrBadRequestBody = errors.New("netstack: bad request body")
	// ErrRequestBodyTooLarge: a request body to buffer (BufferRequestBody)
	// was larger than MaxBufferedBody (413).
	ErrRequestBodyTooLarge = errors.New("netstack: request body too large to buffer")
	// ErrResponseBodyTooLarge: an upstream response body buffered for the
	// handler (ReadResponseBody) was larger than its limit.
	ErrResponseBodyTooLarge = errors.New("netstack: upstream response body over the buffering limit")
	// ErrClientClosed: the client went away before the exchange ended.
	ErrClientClosed = errors.New("netstack: client closed the connection")
)

// causeError is a sentinel with the cause that explains it (a dial error, a
// parser's reason): errors.Is matches both.
type causeError struct {
	kind, cause error
}

func (e *causeError) Error() string   { return e.kind.Error() + ": " + e.cause.Error() }
func (e *causeError) Unwrap() []error { return []error{e.kind, e.cause} }

// withCause wraps cause in kind (error paths only: it allocates).
func withCause(kind, cause error) error { return &causeError{kind, cause} }

// Prebuilt causes for failures without a cause of their own (no allocation).
var (
	errSwitchedUnasked = withCause(ErrUpstreamInvalid, errors.New("it switched protocols unasked"))
	errMidBody         = withCause(ErrUpstreamClosed, errors.New("mid-body"))
)
