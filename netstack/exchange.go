package netstack

import (
	"net/netip"
	"time"

	"github.com/apimgw/apimgw/netstack/http1"
)

// Handler decides what happens to each request. Serve runs on the connection's
// event loop and must not block: it answers (Respond), forwards (Forward), or
// suspends the exchange (Suspend) to do work off the loop and decide later.
// Returning without any of these answers 500.
type Handler interface {
	Serve(x *Exchange)
}

// ResponseHandler is implemented by handlers that look at upstream response
// heads before they are sent on (outbound policies). Response runs on the loop;
// it may edit the response headers through x.SetResponseHeader and
// x.DelResponseHeader, or replace the whole response with x.Respond (the
// upstream body is then discarded).
type ResponseHandler interface {
	Response(x *Exchange)
}

// DoneHandler is implemented by handlers that want to know when an exchange
// ends (telemetry). Done runs on the loop once per exchange that reached Serve.
type DoneHandler interface {
	Done(x *Exchange)
}

// FailureHandler is implemented by handlers that shape the answer when the
// upstream fails before its response head (unreachable 502, timeout 504,
// invalid response 502): UpstreamFailed runs on the loop with the status and
// message the engine would send, and may answer with x.Respond (an on-error
// section), or Suspend and answer on Resume (work off the loop); if it does
// neither, the engine's JSON error goes out.
type FailureHandler interface {
	UpstreamFailed(x *Exchange, status int, msg string)
}

// Field is one header field to add.
type Field struct {
	Name, Value string
}

// Exchange is one request and its response on a client connection. It is owned
// by the connection and reused for the next request: a handler must not keep it
// after Done (or, without a DoneHandler, after deciding), except between Suspend
// and Resume.
type Exchange struct {
	// Req is the request head. Its spans point into gnet's buffer and are valid
	// only during Serve, unless the exchange is suspended (Suspend copies them).
	Req *http1.Head
	// Resp is the upstream response head, valid during Response.
	Resp *http1.Head
	// Remote is the client's address.
	Remote netip.AddrPort
	// Start is when the request head was complete.
	Start time.Time
	// TLS tells that the request came over TLS (X-Forwarded-Proto).
	TLS bool
	// Loop is the index of the event loop the connection lives on (0 to
	// Server.Loops()-1): per-loop state can be indexed by it without locks.
	Loop int

	// Value is free for the handler: per-exchange state kept between Serve,
	// Response and Done. It is cleared before each request.
	Value any
	// ConnValue is free for the handler too, and kept for the connection's
	// life (per-connection scratch state that makes requests allocation-free).
	ConnValue any

	// Results, filled in as the exchange runs; final in Done.
	Status         int           // status sent to the client (0: none was sent); for a gRPC client's answer of the gateway's own, its HTTP status (the client got 200 and GRPCStatus)
	UpstreamStatus int           // status the upstream answered (0: not forwarded or no answer)
	BytesIn        int64         // request bytes received (head and body)
	BytesOut       int64         // response bytes sent (head and body)
	UpstreamTime   time.Duration // from the request sent upstream to its response head
	Err            error         // why the exchange failed (nil: it did not): one of the Err* sentinels of errors.go, maybe wrapping a cause; compare with errors.Is
	// RespTrailers are the upstream response's trailer fields (a chunked
	// HTTP/1.1 trailer section, or HTTP/2 trailers through the h2 bridge),
	// complete in Done. The engine keeps them only when the client can take
	// them — an HTTP/1.1 client that sent "TE: trailers" and gets the
	// response chunked; otherwise they are dropped (RFC 9110 §6.5.1 lets an
	// intermediary discard them) and this is empty.
	RespTrailers []Field

	conn *clientConn

	decided     decision
	respStatus  int
	respReason  string
	respHeaders []Field
	respBody    []byte

	upAddr      string
	upTLS       *UpstreamTLS   // ForwardTLS
	upProxy     *UpstreamProxy // ForwardProxy: absolute-form requests to this proxy
	proxyOrigin string         // ForwardProxy: the upstream's host[:port]
	bufferBody  bool           // BufferRequestBody
	target      []byte         // rewritten request target; empty keeps the original
	method      []byte         // rewritten method; empty keeps the original
	setHeaders  []Field
	delHeaders  []string
	setRespHdrs []Field
	delRespHdrs []string
	timeout     time.Duration

	replaceHdrs      bool
	reqHdrs          []Field
	replaceRespHdrs  bool
	respHdrs         []Field
	bodySet          bool
	reqBody          []byte
	respStatusSet    bool
	respStatusCode   int
	respStatusReason string

	bodyLimit int      // ReadBody
	bodyFn    BodyFunc // ReadBody: called once the body is buffered
	inBody    []byte   // ReadBody's buffer, reused by the connection

	reqBodyAliased bool // reqBody is inBody (SetRequestBody of the buffered body)

	respBodyLimit int      // ReadResponseBody
	respBodyFn    BodyFunc // ReadResponseBody: called once the body is buffered
	upBody        []byte   // ReadResponseBody's buffer

	grpcCode int  // GRPCStatus: the code of the gateway's own answer to a gRPC client
	grpcSet  bool // grpcCode is set
}

type decision uint8

const (
	undecided decision = iota
	decRespond
	decForward
	decSuspend
)

func (x *Exchange) reset() {
	*x = Exchange{Req: x.Req, Resp: x.Resp, conn: x.conn,
		respHeaders: x.respHeaders[:0], respBody: keepSmall(x.respBody),
		target: x.target[:0], method: x.method[:0],
		setHeaders: x.setHeaders[:0], delHeaders: x.delHeaders[:0],
		setRespHdrs: x.setRespHdrs[:0], delRespHdrs: x.delRespHdrs[:0],
		reqHdrs: x.reqHdrs[:0], respHdrs: x.respHdrs[:0], RespTrailers: x.RespTrailers[:0], reqBody: reqBodyFor(x), inBody: keepSmall(x.inBody), upBody: keepSmall(x.upBody), ConnValue: x.ConnValue, Loop: x.Loop}
}

// Respond answers the request now with status, headers and body. The body is
// copied. Content-Length is set by the engine; headers must not carry framing.
func (x *Exchange) Respond(status int, reason string, headers []Field, body []byte) {
	x.decided = decRespond
	x.respStatus = status
	x.respReason = reason
	x.respHeaders = append(x.respHeaders[:0], headers...)
	x.respBody = append(x.respBody[:0], body...)
}

// AppendRespondHeader adds a header field to the answer set by Respond.
// Framing and hop-by-hop fields are dropped: the engine writes its own.
func (x *Exchange) AppendRespondHeader(name, value string) {
	x.respHeaders = append(x.respHeaders, Field{name, value})
}

// RespondError answers with status and the JSON body {"statusCode":N,"message":msg}
// (msg escaped by http1.AppendJSONString: any text is safe).
func (x *Exchange) RespondError(status int, msg string) {
	x.decided = decRespond
	x.respStatus = status
	x.respReason = ""
	x.respHeaders = append(x.respHeaders[:0], Field{"Content-Type", "application/json"})
	x.respBody = http1.AppendErrorBody(x.respBody[:0], status, msg)
}

// Forward sends the request to the upstream at addr ("host:port"), with the
// edits made through SetTarget, SetMethod, SetHeader and DelHeader.
func (x *Exchange) Forward(addr string) {
	x.decided = decForward
	x.upAddr = addr
}

// SetTarget replaces the request target (path and query) sent upstream.
func (x *Exchange) SetTarget(t []byte) { x.target = append(x.target[:0], t...) }

// SetMethod replaces the method sent upstream.
func (x *Exchange) SetMethod(m []byte) { x.method = append(x.method[:0], m...) }

// SetHeader replaces every field named name in the request sent upstream.
func (x *Exchange) SetHeader(name, value string) {
	x.delHeaders = append(x.delHeaders, name)
	x.setHeaders = append(x.setHeaders, Field{name, value})
}

// AddHeader adds a field to the request sent upstream.
func (x *Exchange) AddHeader(name, value string) {
	x.setHeaders = append(x.setHeaders, Field{name, value})
}

// DelHeader removes every field named name from the request sent upstream.
func (x *Exchange) DelHeader(name string) { x.delHeaders = append(x.delHeaders, name) }

// SetResponseHeader replaces every field named name in the response sent to the client.
func (x *Exchange) SetResponseHeader(name, value string) {
	x.delRespHdrs = append(x.delRespHdrs, name)
	x.setRespHdrs = append(x.setRespHdrs, Field{name, value})
}

// DelResponseHeader removes every field named name from the response sent to the client.
func (x *Exchange) DelResponseHeader(name string) { x.delRespHdrs = append(x.delRespHdrs, name) }

// ReplaceHeaders makes the request sent upstream carry these header fields
// instead of the client's (a policy engine's view of the request). The engine
// still drops hop-by-hop fields, writes the framing and X-Forwarded-* itself,
// and applies DelHeader and SetHeader on top. The strings must stay valid
// until the request head is sent (Forward).
func (x *Exchange) ReplaceHeaders(fields []Field) {
	x.replaceHdrs = true
	x.reqHdrs = append(x.reqHdrs[:0], fields...)
}

// AppendReplaceHeader adds one field to the ReplaceHeaders list (starting it
// empty), so a caller can fill it without building a slice of its own.
func (x *Exchange) AppendReplaceHeader(name, value string) {
	if !x.replaceHdrs {
		x.replaceHdrs = true
		x.reqHdrs = x.reqHdrs[:0]
	}
	x.reqHdrs = append(x.reqHdrs, Field{name, value})
}

// ReplaceResponseHeaders makes the response sent to the client carry these
// fields instead of the upstream's (valid during Response; the strings must
// stay valid until Response returns). Framing and Connection are the engine's.
func (x *Exchange) ReplaceResponseHeaders(fields []Field) {
	x.replaceRespHdrs = true
	x.respHdrs = append(x.respHdrs[:0], fields...)
}

// AppendReplaceResponseHeader adds one field to the ReplaceResponseHeaders list.
func (x *Exchange) AppendReplaceResponseHeader(name, value string) {
	if !x.replaceRespHdrs {
		x.replaceRespHdrs = true
		x.respHdrs = x.respHdrs[:0]
	}
	x.respHdrs = append(x.respHdrs, Field{name, value})
}

// SetResponseStatus changes the status line sent to the client (during
// Response); the upstream body still follows.
func (x *Exchange) SetResponseStatus(code int, reason string) {
	x.respStatusSet, x.respStatusCode, x.respStatusReason = true, code, reason
}

// SetRequestBody replaces the request body sent upstream (a policy's
// set-body): it goes with a Content-Length, and the client's own body is read
// and dropped. The bytes are copied.
func (x *Exchange) SetRequestBody(b []byte) {
	x.bodySet = true
	if len(b) > 0 && len(x.inBody) >= len(b) && &b[0] == &x.inBody[0] {
		// The body ReadBody buffered (unchanged, or cut): no second copy.
		x.reqBody, x.reqBodyAliased = b, true
		return
	}
	if x.reqBodyAliased {
		x.reqBody, x.reqBodyAliased = nil, false
	}
	x.reqBody = append(x.reqBody[:0], b...)
}

// SetTimeout overrides the upstream response timeout for this request.
func (x *Exchange) SetTimeout(d time.Duration) { x.timeout = d }

// Suspend parks the exchange: the request head is copied so that it outlives
// the loop's buffer, and the connection waits. Call Resume from any goroutine
// to continue. Reading the request body waits until then.
func (x *Exchange) Suspend() {
	x.decided = decSuspend
}

// Resume continues a suspended exchange: fn runs on the connection's loop and
// must decide (Respond or Forward, or Suspend again). Safe from any goroutine.
// If the client has gone away meanwhile, fn is not called.
func (x *Exchange) Resume(fn func(*Exchange)) {
	x.conn.resume(x, fn)
}

// reqBodyFor is the request body buffer the next exchange starts with: not
// one that aliases inBody.
func reqBodyFor(x *Exchange) []byte {
	if x.reqBodyAliased {
		return nil
	}
	return keepSmall(x.reqBody)
}

// dropBodies empties the exchange's body buffers when it ends (keepSmall:
// large ones are dropped), so that they are not held until the connection's
// next request.
func (x *Exchange) dropBodies() {
	x.reqBody, x.reqBodyAliased = reqBodyFor(x), false
	x.inBody, x.upBody, x.respBody = keepSmall(x.inBody), keepSmall(x.upBody), keepSmall(x.respBody)
}

// keepSmall empties a body buffer for reuse, dropping one that grew large so
// that an idle connection does not hold a big body's memory.
func keepSmall(b []byte) []byte {
	if cap(b) > 64<<10 {
		return nil
	}
	return b[:0]
}

func appendInt(dst []byte, n int64) []byte {
	if n < 0 {
		dst = append(dst, '-')
		n = -n
	}
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return append(dst, b[i:]...)
}
