package http2

import (
	"errors"
	"fmt"

	"golang.org/x/net/http2"
)

// Sentinel errors. Feed returns a *ConnError wrapping one of them when the
// connection must end; compare with errors.Is.
var (
	// ErrPreface: the client did not start with the HTTP/2 connection preface.
	ErrPreface = errors.New("http2: bad connection preface")
	// ErrProtocol: the client broke RFC 9113 in a way that ends the connection.
	ErrProtocol = errors.New("http2: protocol error")
	// ErrCalm: the client exceeded a budget (rapid reset, floods): the
	// connection ends with ENHANCE_YOUR_CALM.
	ErrCalm = errors.New("http2: client exceeded a budget")
	// ErrClosed: Feed was called after the connection ended.
	ErrClosed = errors.New("http2: connection closed")
	// ErrNoStream: a write named a stream that is not open (reset, finished
	// or never opened).
	ErrNoStream = errors.New("http2: no such stream")
)

// ErrCode is an HTTP/2 error code (RFC 9113 §7).
type ErrCode = http2.ErrCode

// ConnError says why the connection ended: the GOAWAY code sent, a reason
// for logs, and the sentinel it wraps.
type ConnError struct {
	Code   ErrCode
	Reason string
	Err    error
}

func (e *ConnError) Error() string {
	return fmt.Sprintf("http2: connection error %v: %s", e.Code, e.Reason)
}

func (e *ConnError) Unwrap() error { return e.Err }

// The error codes callers use (RFC 9113 §7).
const (
	ErrCodeNo       = http2.ErrCodeNo
	ErrCodeProtocol = http2.ErrCodeProtocol
	ErrCodeInternal = http2.ErrCodeInternal
	ErrCodeCancel   = http2.ErrCodeCancel
	ErrCodeRefused  = http2.ErrCodeRefusedStream
	ErrCodeCalm     = http2.ErrCodeEnhanceYourCalm
)
