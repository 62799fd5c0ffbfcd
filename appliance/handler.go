package appliance

import (
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/apimgw/apimgw/netstack"
	"github.com/apimgw/apimgw/netstack/http1"
	"github.com/apimgw/apimgw/policy"
	"github.com/apimgw/apimgw/wire/urltemplate"
)

// ProbePath is Azure's self-hosted gateway probe path: 200 once a config is
// loaded, 503 before.
const ProbePath = "/status-0123456789abcdef"

// APIM's answers for the gateway's own refusals (docs/interfaces.md §3).
const (
	msgNotFound   = "Resource not found"
	msgMissingKey = "Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API."
	msgInvalidKey = "Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription."
	msgNoConfig   = "The gateway has no configuration yet"
)

// Record describes one finished request, for telemetry and metrics. It is
// valid only during the OnDone call (its strings may point into reused buffers).
type Record struct {
	// Loop is the event loop the request ran on (for per-loop buffers).
	Loop          int
	Time          time.Time
	API           string
	Operation     string
	PathTemplate  string
	Product       string
	Subscription  string
	Method        string
	Status        int
	BackendStatus int
	Total         time.Duration
	Backend       time.Duration
	BytesIn       int64
	BytesOut      int64
	ClientIP      string
	Error         string
	// GRPC tells that the request was a gRPC call that ended with a status,
	// GRPCStatus (netstack.Exchange.GRPCStatus): the backend's grpc-status
	// or the code the gateway's own answer was mapped to.
	GRPC       bool
	GRPCStatus int
}

// Handler is the gateway's APIM request handler: route → subscription →
// policies → backend, on the netstack engine. It serves the Compiled config
// installed with Swap; each request keeps the config it started with.
//
// Concurrency: Serve, Response and Done run on event loops; Swap and Current
// are safe from any goroutine. OnDone runs on the loop: it must not block.
type Handler struct {
	cfg atomic.Pointer[Compiled]
	// OnDone, if set, receives every finished request.
	OnDone func(*Record)
	// Ready, if set, is consulted by the probe path in addition to having a config.
	Ready func() bool
	// forwardedProto: see SetForwardedProto.
	forwardedProto atomic.Bool
	// Tracer, if set, receives the trace policy's output with the request it
	// came from (nil: trace policies do nothing; the gateway always sets one,
	// a TraceLog). Set it before serving.
	Tracer Tracer
	// BodyLimit is the most body bytes buffered for a pipeline that reads a
	// request or response body (env.conf policy.body.max-bytes); 0 means
	// DefaultBodyLimit.
	BodyLimit int
	// BodyBudget bounds the body bytes buffered for policies, and the copies
	// policies make of them, by all requests together (env.conf
	// policy.body.max-total-bytes; 0 means DefaultBodyBudget): a request that
	// would exceed it is answered 503 with Retry-After (body.go).
	BodyBudget int64
	buffered   atomic.Int64
	// CallWorkers is the size of the worker pool that makes send-request
	// calls off the event loops (0: DefaultCallWorkers).
	CallWorkers int
	// Tokens fetches managed-identity tokens for
	// authentication-managed-identity (env.conf policy.managed-identity.*);
	// nil means Azure IMDS at its default address. Set it before serving.
	Tokens *TokenSource

	callPool callPool
}

// SetForwardedProto (env.conf net.server.http.forwarded.proto.enabled) makes
// the handler take the scheme an API's protocols are checked against from
// the request's X-Forwarded-Proto, as behind a TLS-terminating load
// balancer. Safe from any goroutine; later requests see the new value.
func (h *Handler) SetForwardedProto(on bool) { h.forwardedProto.Store(on) }

// Swap installs a new config (nil: none) and returns the old one.
func (h *Handler) Swap(c *Compiled) *Compiled { return h.cfg.Swap(c) }

// Current returns the config being served, or nil.
func (h *Handler) Current() *Compiled { return h.cfg.Load() }

// reqState is the handler's per-connection scratch state, reused for every
// request on the connection so that requests do not allocate.
type reqState struct {
	cfg   *Compiled
	pc    *policy.Context
	pl    *policy.Pipeline
	api   *apiRoute
	op    *opRoute
	sub   *subscription
	prod  *product
	sec   policy.Section
	err   string
	probe bool // the health probe: not recorded

	target   []byte
	reqID    []byte
	reqN     uint64
	lastURL  string // per-connection cache of a base URL parsed at run time
	lastBack *backendURL
	match    urltemplate.Match // the operation match's parameter offsets
	chosen   *backendEntity    // the backend entity this forward went to (backends.go)
	// follow-redirects (forward_options.go): hops so far, and where the
	// last one went (nil: the forward's own URL).
	redirects int
	current   *url.URL
	rec       Record
	ipBuf     [48]byte // rec.ClientIP's bytes (an IPv6 address with a zone fits)
	tracer    Tracer   // Handler.Tracer, for the trace policy (trace.go)
	trace     Trace
	// Body memory (body.go): what the request is charged, what of it is
	// held in Handler.buffered, and the request body copy netstack made.
	h        *Handler
	charged  int64
	reserved int64
	reqCopy  int64
	bodyHeld int64  // the reservation for the body being read
	readBody []byte // the request body the engine read (until Done)
	// Made once per connection (body.go): the ReadBody callbacks.
	reqBodyFn  netstack.BodyFunc
	respBodyFn netstack.BodyFunc
	lastErr    policy.RuntimeError // a failed forward's context.LastError
	errBody    []byte              // its JSON body

	// The last subscription key seen on this connection and its SHA-256:
	// a keep-alive client sends the same key request after request, so the
	// digest is computed once per connection, not once per request.
	lastKey    [maxCachedKey]byte
	lastKeyLen int // -1: nothing cached
	lastDigest [32]byte
}

// maxCachedKey is the longest subscription key whose digest a connection
// remembers (APIM's keys are 32 characters; longer ones are hashed each time).
const maxCachedKey = 128

// keyDigest returns the SHA-256 of key, from the connection's cache when
// key is the one the last request on this connection sent.
func (st *reqState) keyDigest(key string) [32]byte {
	if st.lastKeyLen == len(key) && string(st.lastKey[:len(key)]) == key {
		return st.lastDigest
	}
	d := keyDigest(unsafe.Slice(unsafe.StringData(key), len(key)))
	if len(key) <= maxCachedKey {
		st.lastKeyLen = copy(st.lastKey[:], key)
		st.lastDigest = d
	}
	return d
}

var connSeq atomic.Uint64

func (h *Handler) state(x *netstack.Exchange) *reqState {
	if st, ok := x.ConnValue.(*reqState); ok {
		return st
	}
	st := &reqState{pc: policy.NewContext(), reqN: connSeq.Add(1) << 24, lastKeyLen: -1, h: h}
	st.pc.Memory = st // body.go
	x.ConnValue = st
	return st
}

// str views bytes as a string without copying. The bytes must not change while
// the string is in use: the handler only does this for bytes of a head it owns
// (Head.Own), which stay put until the connection's next request.
func str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// Serve handles a request head (on the event loop).
func (h *Handler) Serve(x *netstack.Exchange) {
	st := h.state(x)
	st.cfg, st.pl, st.api, st.op, st.sub, st.prod, st.err, st.probe = nil, nil, nil, nil, nil, nil, "", false
	req := x.Req
	req.Own() // policies keep strings of the head until the request is done
	target := str(req.Bytes(req.Target))
	path, rawQuery, _ := strings.Cut(target, "?")
	cfg := h.cfg.Load()
	if path == ProbePath {
		st.probe = true
		if cfg == nil || (h.Ready != nil && !h.Ready()) {
			x.RespondError(503, msgNoConfig)
		} else {
			x.Respond(200, "", nil, nil)
		}
		return
	}
	if cfg == nil {
		st.err = "no-config"
		x.RespondError(503, msgNoConfig)
		return
	}
	st.cfg = cfg
	method := str(req.Bytes(req.Method))
	api, rel := cfg.route(path)
	if api == nil || !api.serves(h.secure(x)) {
		st.err = "not-found"
		x.RespondError(404, msgNotFound)
		return
	}
	st.api = api
	pc := st.pc
	pc.Reset()
	op := api.match(method, rel, rawQuery, &st.match, &pc.Request.MatchedParameters)
	if op == nil {
		st.err = "operation-not-found"
		x.RespondError(404, msgNotFound)
		return
	}
	st.op = op

	// The request headers for the policies, except the subscription key
	// header (it never reaches policies' forwarded headers or the backend):
	// the key is read from it, else from the query parameter.
	key, fromQuery := "", false
	for _, f := range req.Headers {
		name := str(req.Bytes(f.Name))
		if strings.EqualFold(name, api.keyHeader) {
			if key == "" {
				key = str(req.Bytes(f.Value))
			}
			continue
		}
		pc.Request.Headers.Add(name, str(req.Bytes(f.Value)))
	}
	policy.ParseQuery(rawQuery, &pc.Request.Query)
	if key == "" {
		if v, ok := pc.Request.Query.Get(api.keyQuery); ok {
			key, fromQuery = v, true
		}
	}
	if key != "" {
		sub, prod, ok := cfg.authorize(api, st.keyDigest(key))
		if !ok && api.subRequire {
			st.err = "subscription-key-invalid"
			x.RespondError(401, msgInvalidKey)
			return
		}
		if ok {
			st.sub, st.prod = sub, prod
		}
	} else if api.subRequire {
		st.err = "subscription-key-missing"
		x.RespondError(401, msgMissingKey)
		return
	}
	if fromQuery {
		pc.Request.Query.Del(api.keyQuery)
	}

	st.pl = op.pipelines[0]
	if st.prod != nil {
		for i, p := range api.products {
			if p == st.prod {
				st.pl = op.pipelines[i+1]
			}
		}
	}
	pc.Request.Method = method
	pc.Request.Path = rel
	pc.Request.ClientIP = x.Remote.Addr()
	if h.Tracer != nil {
		st.tracer, pc.Tracer = h.Tracer, st
	}
	pc.ID.APIName, pc.ID.APIPath = api.id, api.path
	pc.ID.OperationName, pc.ID.OperationMethod = op.op.ID, op.method
	if st.sub != nil {
		pc.ID.SubscriptionID, pc.ID.SubscriptionName, pc.ID.SubscriptionKey = st.sub.id, st.sub.name, key
	}
	if st.prod != nil {
		pc.ID.ProductName = st.prod.name
	}
	st.reqN++
	st.reqID = strconv.AppendUint(st.reqID[:0], st.reqN, 16)
	pc.RequestID = str(st.reqID)
	pc.Upstream.BaseURL = api.api.ServiceURL
	st.sec = policy.Inbound
	if st.pl.ReadsRequestBody() && req.Framing != http1.NoBody {
		h.readRequestBody(x, st) // then Run(Inbound)
		return
	}
	h.run(x, st, st.pl.Run(pc, policy.Inbound))
}

// run acts on a pipeline result in the request phase (before the upstream
// answered): it forwards, answers, waits off the loop, or moves to the next
// section.
func (h *Handler) run(x *netstack.Exchange, st *reqState, res policy.Result) {
	pc := st.pc
	for {
		switch res.Outcome {
		case policy.Continue:
			switch st.sec {
			case policy.Inbound:
				st.sec = policy.Backend
				res = st.pl.Run(pc, policy.Backend)
				continue
			default: // on-error finished: answer with what it left
				h.respond(x, st)
				return
			}
		case policy.Forward:
			h.forward(x, st)
			return
		case policy.Respond:
			h.respond(x, st)
			return
		case policy.Wait:
			h.wait(x, st, res.Delay)
			return
		case policy.Call:
			h.call(x, st, res, h.run)
			return
		case policy.Await:
			h.await(x, st, res.Await, h.run)
			return
		case policy.Fail:
			if st.sec == policy.OnError {
				h.respond(x, st) // on-error itself failed: its 500 goes out
				return
			}
			res = st.runOnError()
			continue
		}
		return
	}
}

// await suspends the exchange until a shared counter's lease request is
// answered (policy.Await: replicas sharing counters through Redis), then
// resumes the pipeline on the exchange's loop; the loop serves other
// requests meanwhile.
func (h *Handler) await(x *netstack.Exchange, st *reqState, w *policy.LeaseWait, next func(*netstack.Exchange, *reqState, policy.Result)) {
	x.Suspend()
	pc := st.pc
	w.OnDone(func() {
		x.Resume(func(x *netstack.Exchange) { next(x, st, st.pl.Resume(pc)) })
	})
}

// wait suspends the exchange for d off the event loop (a retry interval), then
// resumes the pipeline.
func (h *Handler) wait(x *netstack.Exchange, st *reqState, d time.Duration) {
	x.Suspend()
	time.AfterFunc(d, func() {
		x.Resume(func(x *netstack.Exchange) {
			h.run(x, st, st.pl.Resume(st.pc))
		})
	})
}

// runOnError starts the on-error section after a policy failed.
func (st *reqState) runOnError() policy.Result {
	st.err = "policy-error"
	st.sec = policy.OnError
	return st.pl.Run(st.pc, policy.OnError)
}

// respond sends the pipeline's response (return-response, a refusal, on-error).
func (h *Handler) respond(x *netstack.Exchange, st *reqState) {
	r := &st.pc.Response
	if st.err == "" && r.StatusCode >= 400 {
		st.err = refusal(r.StatusCode)
	}
	status := r.StatusCode
	if status == 0 {
		status = 200
	}
	if !h.charge(st, int64(len(r.Body))) { // the engine's copy (body.go)
		refuseMemory(x, st)
		return
	}
	x.Respond(status, r.Reason, nil, r.Body)
	for _, f := range r.Headers.List {
		x.AppendRespondHeader(f.Name, f.Value)
	}
}

func refusal(status int) string {
	switch status {
	case 429:
		return "rate-limit"
	case 403:
		return "forbidden"
	case 401:
		return "unauthorized"
	}
	return "policy-response"
}

// forward sends the request to the pipeline's upstream.
func (h *Handler) forward(x *netstack.Exchange, st *reqState) {
	pc := st.pc
	b := st.pickBackend() // backends.go
	if b == nil || b.errMsg != "" {
		if st.err == "" {
			st.err = "backend-config"
		}
		msg, status := "The API has no backend service URL", 502
		if b != nil {
			msg = b.errMsg
			if b.errStatus != 0 {
				status = b.errStatus
			}
		}
		x.RespondError(status, msg)
		return
	}
	t := append(st.target[:0], b.path...)
	if pc.Request.Path == "" {
		t = append(t, '/')
	} else {
		t = append(t, pc.Request.Path...)
	}
	if len(pc.Request.Query.List) > 0 {
		t = append(t, '?')
		t = policy.AppendQuery(t, &pc.Request.Query)
	}
	st.target = t
	x.SetTarget(t)
	x.ReplaceHeaders(nil) // (again, when a retry forwards once more)
	if pc.Request.Method != str(x.Req.Bytes(x.Req.Method)) {
		x.SetMethod([]byte(pc.Request.Method))
	}
	for _, f := range pc.Request.Headers.List {
		if strings.EqualFold(f.Name, "host") {
			continue
		}
		x.AppendReplaceHeader(f.Name, f.Value)
	}
	x.AppendReplaceHeader("Host", b.host)

	if pc.Request.Buffered {
		if !h.chargeRequestCopy(st) { // body.go
			refuseMemory(x, st)
			return
		}
		x.SetRequestBody(pc.Request.Body) // set-body replaced it
	}
	if pc.Upstream.Timeout > 0 {
		x.SetTimeout(pc.Upstream.Timeout)
	}
	if pc.Upstream.BufferRequestBody {
		x.BufferRequestBody() // kept for a retry (forward-request buffer-request-body)
	}
	if cert := pc.Upstream.ClientCert; cert != nil && b.https {
		// authentication-certificate (client_cert.go); on an http backend
		// a client certificate has nothing to do, as in APIM.
		x.ForwardTLS(st.cfg.clientCertTLS(b, cert))
		return
	}
	b.forwardTo(x)
}

// UpstreamFailed runs the on-error section when the backend could not be
// reached or did not answer in time (APIM does the same): the section sees
// context.LastError and may shape the response.
func (h *Handler) UpstreamFailed(x *netstack.Exchange, status int, msg string) {
	st, ok := x.ConnValue.(*reqState)
	if !ok || st.pl == nil {
		return
	}
	pc := st.pc
	st.backendFailed(x.Err) // backends.go
	if st.err == "" {
		st.err = failureKind(x.Err, status)
	}
	// The connection's own error and body buffer: a failing backend costs
	// no allocation here.
	st.lastErr = policy.RuntimeError{Source: "forward-request", File: "(backend)", Section: policy.Backend, Reason: msg, Err: x.Err,
		Code: "BackendConnectionFailure"}
	if status == 504 {
		st.lastErr.Code = "Timeout" // APIM's Reason for forward-request timeouts
	}
	pc.LastError = &st.lastErr
	pc.Response.StatusCode, pc.Response.Reason = status, ""
	pc.Response.Headers.Reset()
	pc.Response.Headers.Set("Content-Type", "application/json")
	st.errBody = appendErrorBody(st.errBody[:0], status, msg)
	pc.Response.Body = st.errBody
	pc.Response.BodySet = true
	st.sec = policy.OnError
	h.afterFailure(x, st, st.pl.Run(pc, policy.OnError))
}

// afterFailure acts on the on-error section's result after a failed
// forward: a send-request there is made off the loop (the exchange is
// suspended, netstack answers on Resume), a one-way call is started, and
// whatever else the section returned, the response it left is the answer.
func (h *Handler) afterFailure(x *netstack.Exchange, st *reqState, res policy.Result) {
	if res.Outcome == policy.Call {
		h.call(x, st, res, h.afterFailure)
		return
	}
	h.respond(x, st)
}

// backend returns the parsed base URL: from the compiled snapshot, or parsed
// now (and cached on the connection) when a policy computed it.
func (st *reqState) backend(raw string) *backendURL {
	if raw == "" {
		return nil
	}
	if b, ok := st.cfg.backends[raw]; ok {
		return b
	}
	if st.lastBack != nil && st.lastURL == raw {
		return st.lastBack
	}
	st.lastURL = strings.Clone(raw)
	st.lastBack = st.cfg.parseRuntime(st.lastURL)
	return st.lastBack
}

// Response runs the outbound section on the upstream's response head.
func (h *Handler) Response(x *netstack.Exchange) {
	st, ok := x.ConnValue.(*reqState)
	if !ok || st.pl == nil {
		return
	}
	pc := st.pc
	resp := x.Resp
	resp.Own()
	pc.Response.StatusCode = resp.Status
	pc.Response.Reason = str(resp.Bytes(resp.Reason))
	pc.Response.Headers.Reset()
	for _, f := range resp.Headers {
		pc.Response.Headers.Add(str(resp.Bytes(f.Name)), str(resp.Bytes(f.Value)))
	}
	if st.chosen != nil {
		ra, _ := pc.Response.Headers.Get("Retry-After")
		st.backendAnswered(resp.Status, ra)
	}
	if h.followRedirect(x, st, resp.Status) {
		return // forward_options.go
	}
	if st.failOnStatus(resp.Status) {
		h.responsePhase(x, st, st.runOnStatusError(resp.Status)) // forward_options.go
		return
	}
	if st.pl.ReadsResponseBody() && hasBody(x) {
		h.readResponseBody(x, st) // then outbound
		return
	}
	h.outbound(x, st)
}

// outbound runs the rest of the backend section and the outbound section on
// the response (its head, and its body if buffered).
func (h *Handler) outbound(x *netstack.Exchange, st *reqState) {
	pc := st.pc
	res := st.pl.Resume(pc) // the rest of the backend section
	if res.Outcome == policy.Continue {
		st.sec = policy.Outbound
		if !st.pl.Has(policy.Outbound) && !st.pl.Has(policy.Inbound) && !pc.Response.BodyBuffered {
			return // nothing can have changed the response
		}
		res = st.pl.Run(pc, policy.Outbound)
	}
	h.responsePhase(x, st, res)
}

// responsePhase acts on a pipeline result after the upstream answered.
func (h *Handler) responsePhase(x *netstack.Exchange, st *reqState, res policy.Result) {
	for {
		switch res.Outcome {
		case policy.Continue:
			h.applyResponse(x, st)
			return
		case policy.Respond:
			h.respond(x, st)
			return
		case policy.Fail:
			if st.sec == policy.OnError {
				h.respond(x, st) // on-error itself failed: its 500 goes out
				return
			}
			res = st.runOnError()
			continue
		case policy.Forward:
			// A retry around forward-request: send the request again.
			h.forward(x, st)
			return
		case policy.Wait:
			// A retry interval before forwarding again.
			h.wait(x, st, res.Delay)
			return
		case policy.Call:
			// The response is buffered (the pipeline reads it): hold it
			// while the call is made off the loop.
			h.call(x, st, res, h.responsePhase)
			return
		case policy.Await:
			h.await(x, st, res.Await, h.responsePhase)
			return
		default:
			return
		}
	}
}

// applyResponse sends the upstream's response as outbound left it.
func (h *Handler) applyResponse(x *netstack.Exchange, st *reqState) {
	r := &st.pc.Response
	if r.BodySet || r.BodyBuffered {
		h.respond(x, st)
		return
	}
	if r.StatusCode != x.Resp.Status || r.Reason != str(x.Resp.Bytes(x.Resp.Reason)) {
		x.SetResponseStatus(r.StatusCode, r.Reason)
	}
	x.ReplaceResponseHeaders(nil)
	for _, f := range r.Headers.List {
		x.AppendReplaceResponseHeader(f.Name, f.Value)
	}
}

// Done records the finished request and settles the pipeline's counters.
func (h *Handler) Done(x *netstack.Exchange) {
	st, ok := x.ConnValue.(*reqState)
	if !ok {
		return
	}
	pc := st.pc
	h.releaseBody(st)
	if st.pl != nil {
		pc.Transferred = x.BytesIn + x.BytesOut
		pc.Finish()
	}
	if h.OnDone == nil || st.probe {
		return
	}
	r := &st.rec
	*r = Record{Loop: x.Loop, Time: x.Start, Status: x.Status, BackendStatus: x.UpstreamStatus, Total: time.Since(x.Start),
		Backend: x.UpstreamTime, BytesIn: x.BytesIn, BytesOut: x.BytesOut, Error: st.err,
		ClientIP: str(x.Remote.Addr().Unmap().AppendTo(st.ipBuf[:0]))}
	if r.Error == "" && x.Err != nil {
		r.Error = failureKind(x.Err, 0)
	}
	r.GRPCStatus, r.GRPC = x.GRPCStatus()
	if st.api != nil {
		r.API = st.api.id
	}
	if st.op != nil {
		r.Operation, r.PathTemplate, r.Method = st.op.op.ID, st.op.op.URLTemplate, pc.Request.Method
	} else if x.Req.Owned() {
		// No operation matched: the raw path, as the telemetry schema says.
		r.Method = str(x.Req.Bytes(x.Req.Method))
		r.PathTemplate, _, _ = strings.Cut(str(x.Req.Bytes(x.Req.Target)), "?")
	}
	if st.sub != nil {
		r.Subscription = st.sub.id
	}
	if st.prod != nil {
		r.Product = st.prod.id
	}
	h.OnDone(r)
}

// authorize checks a subscription key for an API: an active subscription whose
// scope covers the API (all APIs, the API, or a published product holding it).
func (c *Compiled) authorize(api *apiRoute, digest [32]byte) (*subscription, *product, bool) {
	sub, ok := c.subs[digest]
	if !ok || !sub.active {
		return nil, nil, false
	}
	switch sub.kind {
	case "all":
		return sub, nil, true
	case "api":
		return sub, nil, sub.scopeID == api.id
	case "product":
		p := c.products[sub.scopeID]
		if p == nil || !p.published || !p.apis[api.id] {
			return nil, nil, false
		}
		return sub, p, true
	}
	return nil, nil, false
}
