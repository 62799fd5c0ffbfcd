package policy

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Bodies. The appliance streams bodies unless the pipeline reads one: a
// Pipeline says which bodies it needs buffered (ReadsRequestBody,
// ReadsResponseBody), the appliance buffers them up to its byte limit into
// Request.Body / Response.Body (Buffered / BodyBuffered set), and expressions
// and policies read them from there.

// bodyNeeds says which bodies a compiled document reads.
type bodyNeeds uint8

const (
	readsRequest bodyNeeds = 1 << iota
	readsResponse
)

// noteBodyReads marks the bodies an expression's source refers to. The check
// is on the source text, so it is conservative: any mention of
// context.Request.Body (or context.Response.Body) buffers that body.
func (b *builder) noteBodyReads(src string) {
	if !strings.Contains(src, "Body") {
		return
	}
	if strings.Contains(src, "Request.Body") {
		b.reads |= readsRequest
	}
	if strings.Contains(src, "Response.Body") {
		b.reads |= readsResponse
	}
}

// readsBody marks that a policy reads the body of its target.
func (b *builder) readsBody(t target) {
	if t == toRequest {
		b.reads |= readsRequest
	} else {
		b.reads |= readsResponse
	}
}

// ReadsRequestBody reports whether a policy or expression of the pipeline reads
// the request body: the caller must buffer it (Request.Body, Buffered) before
// Run(Inbound).
func (p *Pipeline) ReadsRequestBody() bool { return p.reads&readsRequest != 0 }

// ReadsResponseBody reports whether a policy or expression of the pipeline
// reads the backend's response body: the caller must buffer it
// (Response.Body, Response.BodyBuffered) before Resume after a Forward.
func (p *Pipeline) ReadsResponseBody() bool { return p.reads&readsResponse != 0 }

// ErrBodyEncoding is returned by DecodeBody for a body it cannot decode.
var ErrBodyEncoding = errors.New("policy: body content encoding")

// ErrBodyTooLarge is returned by DecodeBody when the decoded body exceeds the
// limit.
var ErrBodyTooLarge = errors.New("policy: body too large")

// DecodeBody decodes a body of the given Content-Encoding (gzip, deflate, or
// identity/empty) into at most limit bytes. ok is false when the encoding is
// not one it knows (the body is then returned as is and policies see the
// encoded bytes).
func DecodeBody(encoding string, body []byte, limit int) (out []byte, ok bool, err error) {
	var r io.Reader
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "", "identity":
		return body, true, nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, true, fmt.Errorf("%w: gzip: %v", ErrBodyEncoding, err)
		}
		r = zr
	case "deflate":
		// RFC 9110's deflate is zlib; some senders use raw deflate.
		if zr, err := newZlib(body); err == nil {
			r = zr
		} else {
			r = flate.NewReader(bytes.NewReader(body))
		}
	default:
		return body, false, nil
	}
	out, err = io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, true, fmt.Errorf("%w: %s: %v", ErrBodyEncoding, encoding, err)
	}
	if len(out) > limit {
		return nil, true, ErrBodyTooLarge
	}
	return out, true, nil
}

func newZlib(b []byte) (io.Reader, error) { return zlib.NewReader(bytes.NewReader(b)) }
