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

// DefaultBodyBudget bounds the bytes all requests together may buffer for
// policies when Handler.BodyBudget is 0.
const DefaultBodyBudget = 256 << 20

const msgBodyBudget = "The gateway is buffering too many bodies for policies; try again later"

// reserveBody counts n bytes against the budget; false if they do not fit.
func (h *Handler) reserveBody(st *reqState, n int64) bool {
	budget := h.BodyBudget
	if budget <= 0 {
		budget = DefaultBodyBudget
	}
	if h.buffered.Add(n) > budget {
		h.buffered.Add(-n)
		return false
	}
	st.reserved += n
	return true
}

func (h *Handler) releaseBody(st *reqState) {
	if st.reserved != 0 {
		h.buffered.Add(-st.reserved)
		st.reserved = 0
	}
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
	if !h.reserveBody(st, h.bodySize(x.Req.Framing, x.Req.ContentLength)) {
		st.err = "body-budget"
		x.RespondError(503, msgBodyBudget)
		x.AppendRespondHeader("Retry-After", "1")
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
	body, ok := h.decode(&pc.Request.Headers, body)
	if !ok {
		st.err = "request-encoding"
		x.RespondError(400, msgBadEncoding)
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
	if !h.reserveBody(st, h.bodySize(x.Resp.Framing, x.Resp.ContentLength)) {
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
	body, ok := h.decode(&pc.Response.Headers, body)
	if !ok {
		st.err = "backend-encoding"
		h.UpstreamFailed(x, 502, msgBadEncoding)
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
