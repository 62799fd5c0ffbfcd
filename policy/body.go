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
	"unsafe"
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

// MemoryBudget is the gateway-wide account of body memory (Context.Memory):
// the appliance charges the bodies it buffers to it, and the pipeline charges
// the copies policies make of them (Body.As<T>() results, the strings, JSON
// and XML trees expressions build, set-body's and find-and-replace's new
// bodies, json-to-xml/xml-to-json output) for the rest of the request. The
// appliance releases a request's charges when the request ends. Methods are
// called by the goroutine running the pipeline (the event loop, or a worker
// during send-request).
type MemoryBudget interface {
	// Reserve counts n more bytes for the current request; false (nothing
	// counted) if the gateway has no room for them.
	Reserve(n int) bool
}

// ErrMemory: the gateway-wide budget for buffered bodies and their copies
// (MemoryBudget, env.conf policy.body.max-total-bytes) has no room for a copy
// a policy needs. The request fails through on-error with a 503 (Retry-After:
// 1) and context.LastError.Reason "GatewayBodyMemoryExhausted"; try/catch in
// an expression does not catch it (it is a budget, like the step budget).
var ErrMemory = errors.New("policy: the gateway's memory budget for bodies is exhausted")

// MsgMemory is the message of the 503 a request gets when the body memory
// budget is exhausted (the appliance uses it for bodies it cannot buffer).
const MsgMemory = "The gateway is holding too many request and response bodies for policies; try again later"

// memoryReason is context.LastError.Reason for ErrMemory. APIM has no such
// budget and no reason for it; the name is ours (docs/policies.md).
const memoryReason = "GatewayBodyMemoryExhausted"

// memoryError is ErrMemory as a pipeline failure: a 503 refusal, and a budget
// (errors.Is ErrBudget) so that try/catch does not swallow it.
type memoryError struct{}

var errMemory error = memoryError{}

var memoryBody = []byte(`{"statusCode":503,"message":"` + MsgMemory + `"}`)

func (memoryError) Error() string   { return ErrMemory.Error() }
func (memoryError) Unwrap() []error { return []error{ErrMemory, ErrBudget} }
func (memoryError) refusal() (int, string, []byte) {
	return 503, "Service Unavailable", memoryBody
}

// chargeBody counts n bytes a policy keeps for the rest of the request against
// the gateway-wide budget (Context.Memory); errMemory when it has no room.
func (c *Context) chargeBody(n int) error {
	if c.Memory != nil && n > 0 && !c.Memory.Reserve(n) {
		return errMemory
	}
	return nil
}

// bodyViewMin is the smallest body that Body.As<string>() views in place
// instead of copying. Bodies are read-only by contract (policies replace
// Request.Body / Response.Body, never write into them), and a buffer the
// appliance's engine filled is reused for a later request only when its
// capacity is at most 64 KiB (netstack's keepSmall): above that, the string
// stays valid for as long as anything holds it (a variable, the value cache).
// Small bodies are copied: the copy is cheap and the buffer may be reused.
const bodyViewMin = 64<<10 + 1

// bodyString is raw as a string: a view of the bytes when raw is large (see
// bodyViewMin), else a copy.
func bodyString(raw []byte) string {
	if len(raw) >= bodyViewMin {
		return unsafe.String(unsafe.SliceData(raw), len(raw))
	}
	return string(raw)
}

// stringBytes is s's bytes without a copy, for a body made from a string
// (set-body): bodies are read-only, so the bytes are never written.
func stringBytes(s string) []byte {
	if s == "" {
		return []byte{}
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
