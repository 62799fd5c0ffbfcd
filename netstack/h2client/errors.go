package h2client

import (
	"errors"
	"fmt"

	"golang.org/x/net/http2"
)

// Errors a stream or connection ends with. Compare with errors.Is.
var (
	// ErrRefused: the backend did not process the stream (GOAWAY with a
	// lower last-stream id, or RST_STREAM REFUSED_STREAM): sending the
	// request again on another connection is safe for any method.
	ErrRefused = errors.New("h2client: stream refused by the backend (not processed)")
	// ErrConnClosed: the connection ended before the stream did.
	ErrConnClosed = errors.New("h2client: connection closed")
	// ErrGoingAway: NewStream on a connection that received or sent GOAWAY.
	ErrGoingAway = errors.New("h2client: connection is going away")
	// ErrStreamLimit: NewStream when the backend's
	// SETTINGS_MAX_CONCURRENT_STREAMS streams are open.
	ErrStreamLimit = errors.New("h2client: concurrent stream limit reached")
	// ErrProtocol: the backend broke RFC 9113; the connection is closed
	// with GOAWAY (wrapped with the detail).
	ErrProtocol = errors.New("h2client: protocol error from the backend")
	// ErrPingTimeout: a keepalive PING was not answered in time.
	ErrPingTimeout = errors.New("h2client: keepalive ping timed out")
	// ErrHeaderListTooLarge: the backend's response header list exceeds
	// Config.MaxHeaderListSize.
	ErrHeaderListTooLarge = errors.New("h2client: response header list too large")
	// ErrOutputFull: the connection's unsent output passed its bound (the
	// backend does not read, or floods frames that need answers).
	ErrOutputFull = errors.New("h2client: output buffer bound exceeded")
	// ErrCanceled: the stream was reset by this side (Stream.Cancel).
	ErrCanceled = errors.New("h2client: stream canceled")
)

// StreamError is a stream the backend reset with RST_STREAM (other than
// REFUSED_STREAM, which is ErrRefused).
type StreamError struct {
	Code http2.ErrCode
}

func (e *StreamError) Error() string {
	return fmt.Sprintf("h2client: stream reset by the backend: %v", e.Code)
}

// protoErr is a connection error of ours: the code sent in GOAWAY.
func protoErr(code http2.ErrCode, format string, args ...any) error {
	return &connError{code: code, msg: fmt.Sprintf(format, args...)}
}

type connError struct {
	code http2.ErrCode
	msg  string
}

func (e *connError) Error() string { return fmt.Sprintf("%v (%v): %s", ErrProtocol, e.code, e.msg) }
func (e *connError) Unwrap() error { return ErrProtocol }
