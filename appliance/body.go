package appliance

import (
	"strconv"

	"github.com/apimgw/apimgw/netstack"
	"github.com/apimgw/apimgw/netstack/http1"
	"github.com/apimgw/apimgw/policy"
)

// Bodies for policies. A pipeline that reads a body (policy.Pipeline's
// ReadsRequestBody / ReadsResponseBody) gets it buffered, up to BodyLimit
// bytes, and decoded when it is gzip or deflate; every other request streams
// its bodies without copying.

// DefaultBodyLimit is the buffering limit when Handler.BodyLimit is 0
// (env.conf policy.body.max-bytes, 4 MiB).
const DefaultBodyLimit = 4 << 20

// DefaultBodyBudget bounds the body memory of all requests together when
// Handler.BodyBudget is 0 (env.conf policy.body.max-total-bytes' default):
// a quarter of the 512 MiB box the systemd unit is sized for (GOMEMLIMIT
// 256 MiB leaves the Go heap's headroom above it).
const DefaultBodyBudget = 128 << 20

// Body memory. Every request is charged, for as long as it runs, what it
// keeps of bodies: the request or response body buffered for its policies
// (charged when buffering starts: the Content-Length, else the limit, trimmed
// to the real size once read), a decoded gzip/deflate body, the copies and
// results policies make (policy.MemoryBudget: Body.As<T>() results,
// expression strings and trees, set-body, find-and-replace, conversions,
// send-request responses), the request body copy the engine sends upstream
// when a policy replaced it, and the response body the engine copies out.
// All requests together may hold BodyBudget; the first bodySlack bytes of a
// request are not counted (headers-sized strings, small bodies: the
// connection's fixed overhead), so the fast path stays arithmetic.
//
// Over the budget the request is answered 503 with Retry-After: 1 and
// MsgMemory at once (a response body: 503 through on-error): the client's
// body is not buffered (the engine drains it, bounded, without keeping it),
// the loop is never blocked, and a client or load balancer retries
// elsewhere or later. Parking
// the request until memory frees up was not chosen: a burst that exceeds the
// budget would then hold its connections and their kernel buffers for the
// wait, and a backend that is slow to answer (the usual cause of many bodies
// at once) would turn the wait into timeouts anyway.
//
// The charges end in Done, which the engine calls once for every exchange
// that reached Serve: after the answer, a client that went away, a timeout,
// a failed backend (on-error), an HTTP/2 stream reset.
const bodySlack = 16 << 10

const msgBodyBudget = policy.MsgMemory

func (h *Handler) bodyBudget() int64 {
	if h.BodyBudget > 0 {
		return h.BodyBudget
	}
	return DefaultBodyBudget
}

// Reserve charges n more bytes to the request (policy.MemoryBudget, called
// by the pipeline on the request's loop); false, nothing charged, if they do
// not fit in the budget.
func (st *reqState) Reserve(n int) bool { return st.h.charge(st, int64(n)) }

// charge adds n bytes (negative: gives them back) to what st is charged; the
// part above bodySlack is held in the gateway-wide count. False, nothing
// changed, if that would exceed the budget.
func (h *Handler) charge(st *reqState, n int64) bool {
	want := max(0, st.charged+n-bodySlack)
	if d := want - st.reserved; d > 0 {
		if h.buffered.Add(d) > h.bodyBudget() {
			h.buffered.Add(-d)
			return false
		}
	} else if d < 0 {
		h.buffered.Add(d)
	}
	st.charged += n
	st.reserved = want
	return true
}

// releaseBody ends the request's charges (Done).
func (h *Handler) releaseBody(st *reqState) {
	if st.reserved != 0 {
		h.buffered.Add(-st.reserved)
	}
	st.charged, st.reserved, st.reqCopy, st.bodyHeld, st.readBody = 0, 0, 0, 0, nil
}

// BodyMemory reports the body bytes all requests hold against the budget
// now, and the budget.
func (h *Handler) BodyMemory() (held, budget int64) { return h.buffered.Load(), h.bodyBudget() }

// refuseMemory answers 503 because the body memory budget is spent.
func refuseMemory(x *netstack.Exchange, st *reqState) {
	st.err = "body-budget"
	x.RespondError(503, msgBodyBudget)
	x.AppendRespondHeader("Retry-After", "1")
}

// chargeRequestCopy charges the copies of a replaced request body the engine
// makes to send it: SetRequestBody's (unless the body is the buffer it read)
// and the head buffer the body goes out with (kept for a retry), once per
// request however often a retry forwards.
func (h *Handler) chargeRequestCopy(st *reqState) bool {
	n := int64(len(st.pc.Request.Body))
	if !st.aliasesRead(st.pc.Request.Body) {
		n *= 2
	}
	if n <= st.reqCopy {
		return true
	}
	if !h.charge(st, n-st.reqCopy) {
		return false
	}
	st.reqCopy = n
	return true
}

// bodySize is what a body may take: its Content-Length, else the limit.
func (h *Handler) bodySize(framing http1.Framing, length int64) int64 {
	if framing == http1.Length && length < int64(h.bodyLimit()) {
		return length
	}
	return int64(h.bodyLimit())
}

const (
	msgRequestTooLarge  = "The request body is larger than this gateway buffers for policies ("
	msgResponseTooLarge = "The backend's response body is larger than this gateway buffers for policies ("
	msgBadEncoding      = "The body's Content-Encoding could not be decoded"
)

func (h *Handler) bodyLimit() int {
	if h.BodyLimit > 0 {
		return h.BodyLimit
	}
	return DefaultBodyLimit
}

// readRequestBody buffers the request body, then runs the inbound section.
func (h *Handler) readRequestBody(x *netstack.Exchange, st *reqState) {
	if st.reqBodyFn == nil {
		st.reqBodyFn = func(x *netstack.Exchange, body []byte, tooLarge bool) { h.requestBody(x, st, body, tooLarge) }
	}
	st.bodyHeld = h.bodySize(x.Req.Framing, x.Req.ContentLength)
	if !h.charge(st, st.bodyHeld) {
		st.bodyHeld = 0
		refuseMemory(x, st)
		return
	}
	x.ReadBody(h.bodyLimit(), st.reqBodyFn)
}

func (h *Handler) requestBody(x *netstack.Exchange, st *reqState, body []byte, tooLarge bool) {
	pc := st.pc
	if tooLarge {
		st.err = "request-too-large"
		x.RespondError(413, msgRequestTooLarge+strconv.Itoa(h.bodyLimit())+" bytes)")
		return
	}
	h.trimHeld(st, body)
	st.readBody = body
	body, ok := h.decode(&pc.Request.Headers, body)
	if !ok {
		st.err = "request-encoding"
		x.RespondError(400, msgBadEncoding)
		return
	}
	if !h.chargeDecoded(st, st.readBody, body) {
		refuseMemory(x, st)
		return
	}
	pc.Request.Body, pc.Request.Buffered = body, true
	h.run(x, st, st.pl.Run(pc, policy.Inbound))
}

// hasBody reports whether the upstream response in x carries a body.
func hasBody(x *netstack.Exchange) bool {
	if x.Resp.Framing == http1.NoBody || x.Resp.Status == 204 || x.Resp.Status == 304 {
		return false
	}
	m := x.Req.Bytes(x.Req.Method)
	return !(len(m) == 4 && string(m) == "HEAD")
}

// readResponseBody buffers the backend's response body, then runs outbound.
func (h *Handler) readResponseBody(x *netstack.Exchange, st *reqState) {
	if st.respBodyFn == nil {
		st.respBodyFn = func(x *netstack.Exchange, body []byte, tooLarge bool) { h.responseBody(x, st, body, tooLarge) }
	}
	st.bodyHeld = h.bodySize(x.Resp.Framing, x.Resp.ContentLength)
	if !h.charge(st, st.bodyHeld) {
		st.bodyHeld = 0
		st.err = "body-budget"
		h.UpstreamFailed(x, 503, msgBodyBudget)
		return
	}
	x.ReadResponseBody(h.bodyLimit(), st.respBodyFn)
}

func (h *Handler) responseBody(x *netstack.Exchange, st *reqState, body []byte, tooLarge bool) {
	pc := st.pc
	if tooLarge {
		st.err = "backend-body-too-large"
		h.UpstreamFailed(x, 502, msgResponseTooLarge+strconv.Itoa(h.bodyLimit())+" bytes)")
		return
	}
	h.trimHeld(st, body)
	raw := body
	body, ok := h.decode(&pc.Response.Headers, body)
	if !ok {
		st.err = "backend-encoding"
		h.UpstreamFailed(x, 502, msgBadEncoding)
		return
	}
	if !h.chargeDecoded(st, raw, body) {
		st.err = "body-budget"
		h.UpstreamFailed(x, 503, msgBodyBudget)
		return
	}
	pc.Response.Body, pc.Response.BodyBuffered = body, true
	h.outbound(x, st)
}

// decode undoes a gzip or deflate Content-Encoding (removing the header, as
// the body now goes on decoded). An unknown encoding is left as it is; a body
// that does not decode, or decodes to more than the limit, is not ok.
func (h *Handler) decode(hdrs *policy.Headers, body []byte) ([]byte, bool) {
	enc, ok := hdrs.Get("Content-Encoding")
	if !ok {
		return body, true
	}
	out, known, err := policy.DecodeBody(enc, body, h.bodyLimit())
	if err != nil {
		return nil, false
	}
	if known {
		hdrs.Del("Content-Encoding")
	}
	return out, true
}

// trimHeld gives back what the body's reservation (its Content-Length, or
// the limit for a body without one) held beyond the body read.
func (h *Handler) trimHeld(st *reqState, body []byte) {
	if extra := st.bodyHeld - int64(len(body)); extra > 0 {
		h.charge(st, -extra)
	}
	st.bodyHeld = 0
}

// chargeDecoded charges a decoded body (a new buffer beside the encoded one).
func (h *Handler) chargeDecoded(st *reqState, raw, body []byte) bool {
	if len(body) == 0 || (len(raw) > 0 && &raw[0] == &body[0]) {
		return true
	}
	return h.charge(st, int64(len(body)))
}

// aliasesRead reports whether b starts at the request body buffer the engine
// read (SetRequestBody sends that buffer without a copy).
func (st *reqState) aliasesRead(b []byte) bool {
	r := st.readBody
	return len(b) > 0 && len(r) >= len(b) && &b[0] == &r[0]
}
