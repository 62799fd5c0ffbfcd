package http1

import (
	"errors"
	"strconv"
)

// ErrNeedMore is returned by the parsers when the input holds no complete head (or
// body piece) yet: call again with more bytes. It is not a protocol error.
var ErrNeedMore = errors.New("http1: need more data")

// Error is a protocol error: the message was rejected. Status is the HTTP status
// a server answers with (400, 413, 414, 417, 431, 501, 505) before closing the
// connection; Reason is a short, specific text safe to show the client.
type Error struct {
	Status int
	Reason string
}

func (e *Error) Error() string {
	return "http1: " + strconv.Itoa(e.Status) + " " + e.Reason
}

func errf(status int, reason string) *Error { return &Error{Status: status, Reason: reason} }

// The rejections, one value each so tests and callers can compare them.
var (
	ErrBareLF             = errf(400, "bare LF in message head")
	ErrBareCR             = errf(400, "bare CR in message head")
	ErrRequestLine        = errf(400, "malformed request line")
	ErrMethod             = errf(400, "invalid method")
	ErrTarget             = errf(400, "invalid request target")
	ErrVersion            = errf(400, "malformed HTTP version")
	ErrVersionUnsupported = errf(505, "HTTP version not supported")
	ErrStatusLine         = errf(400, "malformed status line")
	ErrHeaderName         = errf(400, "invalid header field name")
	ErrHeaderValue        = errf(400, "invalid character in header field value")
	ErrSpaceBeforeColon   = errf(400, "whitespace before colon in header field")
	ErrObsFold            = errf(400, "obsolete line folding in header field")
	ErrNoColon            = errf(400, "header field without colon")
	ErrNoHost             = errf(400, "missing Host header")
	ErrDupHost            = errf(400, "duplicate Host header")
	ErrContentLength      = errf(400, "invalid Content-Length")
	ErrDupContentLength   = errf(400, "differing Content-Length values")
	ErrCLAndTE            = errf(400, "both Content-Length and Transfer-Encoding")
	ErrTENotChunkedLast   = errf(400, "Transfer-Encoding does not end with chunked")
	ErrTEUnsupported      = errf(501, "unsupported transfer coding")
	ErrTEOnHTTP10         = errf(400, "Transfer-Encoding in an HTTP/1.0 message")
	ErrExpectation        = errf(417, "unsupported expectation")
	ErrRequestLineTooLong = errf(414, "request line too long")
	ErrHeadTooLarge       = errf(431, "request header fields too large")
	ErrTooManyHeaders     = errf(431, "too many header fields")
	ErrBodyTooLarge       = errf(413, "request body too large")
	ErrChunkSize          = errf(400, "invalid chunk size")
	ErrChunkSizeTooLong   = errf(400, "chunk size over 16 hex digits")
	ErrChunkExtension     = errf(400, "invalid chunk extension")
	ErrChunkLineTooLong   = errf(400, "chunk size line too long")
	ErrChunkData          = errf(400, "chunk data not followed by CRLF")
	ErrTrailer            = errf(400, "invalid trailer section")
	ErrTrailerTooLarge    = errf(431, "trailer section too large")
)
