package netstack

import (
	"context"
	"net/netip"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/apimgw/apimgw/netstack/http1"
)

type cstate uint8

const (
	csIdle       cstate = iota // waiting for a request head
	csSuspended                // the handler is working off the loop
	csConnecting               // waiting for an upstream connection
	csBody                     // streaming the request body upstream
	csWaitResp                 // request sent; the upstream side drives the response
	csDiscard                  // answered early; reading and dropping the request body
	csTunnel                   // after 101: bytes both ways
	csClosing                  // closing once the output is flushed
	csBuffer                   // reading the whole request body before forwarding (bufferbody.go)
	csReadBody                 // buffering the request body for the handler (ReadBody)
)

// clientConn is the state of one client connection. It lives on one loop and is
// touched only there.
type clientConn struct {
	timerNode
	parking
	wantResume      bool    // parked: resume at the next tick (the upstream has news)
	deferredUpClose *upConn // the upstream closed while the client was parked
	lp              *loop
	c               gnet.Conn
	remote          netip.AddrPort
	tls             bool // bridged from a TLS connection (ServeTLS)
	h2              bool // an HTTP/2 stream's exchange (h2.go): not a connection of its own
	state           cstate
	closed          bool
	gen             uint32 // bumped per exchange, so stale Resume calls are ignored

	// *exchState holds what only an exchange needs (heads, Exchange, body
	// decoder, buffers). It comes from the loop's pool when a request starts
	// and goes back after the connection has been idle for a tick, so an idle
	// keep-alive connection costs little. Its fields are promoted: cc.req,
	// cc.x, ... are valid only while it is set (from readHead to release).
	*exchState
	releasing        bool // queued on the loop's release list
	suspendedAtClose bool // closed while the handler worked off the loop

	up          *upConn
	inExchange  bool
	closeAfter  bool // close the connection once this response is out
	retried     bool
	continued   bool  // 100 Continue was sent for this request
	drained     int   // body bytes dropped after the response (csDiscard)
	reqDone     bool  // the whole request (head and body) went upstream
	closeBy     int64 // csClosing: give up waiting for the flush at this time
	chunkOut    bool  // the response body goes to the client chunked
	respStarted bool  // a response head was sent to the client
	teTrailers  bool  // the request said "TE: trailers" (set by buildRequestHead)
}

// exchState is the per-exchange part of a client connection, pooled per loop.
type exchState struct {
	req       http1.Head
	resp      http1.Head
	x         Exchange
	body      http1.Body // request body decoder
	out       []byte     // the serialized request head, kept for one retry
	xff       []byte     // scratch: X-Forwarded-For values
	method    [16]byte
	methodLen int
}

// acquire gives cc exchange state from the loop's pool (if it has none).
func (cc *clientConn) acquire() {
	if cc.exchState != nil {
		return
	}
	lp := cc.lp
	var ex *exchState
	if n := len(lp.freeEx); n > 0 {
		ex = lp.freeEx[n-1]
		lp.freeEx[n-1] = nil
		lp.freeEx = lp.freeEx[:n-1]
	} else {
		ex = &exchState{}
	}
	ex.x.conn = cc
	ex.x.Req = &ex.req
	ex.x.Resp = &ex.resp
	ex.x.Loop = lp.idx
	ex.body.Max = lp.s.cfg.Limits.MaxBodyBytes
	cc.exchState = ex
}

// queueRelease asks the next tick to take cc's exchange state back, unless a
// request starts meanwhile. Releasing is never done inside a callback, where
// callers up the stack may still use the state.
func (cc *clientConn) queueRelease() {
	if !cc.releasing && cc.exchState != nil {
		cc.releasing = true
		cc.lp.release = append(cc.lp.release, cc)
		cc.lp.tickSoon()
	}
}

// releaseIdle runs on the loop's tick: connections idle (or gone) since the
// last tick give their exchange state back to the pool.
func (lp *loop) releaseIdle() {
	for i, cc := range lp.release {
		lp.release[i] = nil
		cc.releasing = false
		ex := cc.exchState
		if ex == nil || !cc.closed && (cc.state != csIdle || cc.inExchange || cc.c.InboundBuffered() > 0) {
			continue
		}
		cc.exchState = nil
		if cc.suspendedAtClose {
			// A handler goroutine may still call Resume on this Exchange:
			// leave it to that goroutine and the GC, never reuse it.
			continue
		}
		ex.x.Value = nil
		ex.req.Buf, ex.resp.Buf = nil, nil
		lp.freeEx = append(lp.freeEx, ex)
	}
	lp.release = lp.release[:0]
}

// armTimer (re)arms the connection's single timer d from now.
func (cc *clientConn) armTimer(d time.Duration) {
	cc.lp.wheel.arm(&cc.timerNode, time.Now().UnixNano()+int64(d))
}

func (cc *clientConn) expire(now int64) {
	if cc.closed {
		return
	}
	if cc.parked || cc.resuming {
		// The upstream has not taken the body for a whole body timeout.
		cc.x.Err = ErrUpstreamStalled
		cc.closeParked()
		return
	}
	switch cc.state {
	case csIdle:
		if cc.c.InboundBuffered() > 0 {
			cc.reject(errf408)
			return
		}
		cc.closeNow()
	case csClosing:
		if cc.c.OutboundBuffered() == 0 || now >= cc.closeBy {
			cc.closeNow()
			return
		}
		cc.armTimer(tickInterval)
	case csBody, csDiscard, csBuffer, csReadBody:
		// The client stopped sending its body.
		cc.x.Err = ErrClientBodyTimeout
		if !cc.respStarted {
			cc.failExchange(408, "Request body timeout")
			return
		}
		cc.abort()
	case csTunnel:
		cc.abort()
	}
}

var errf408 = &http1.Error{Status: 408, Reason: "request head timeout"}

func (cc *clientConn) onTraffic() gnet.Action {
	for !cc.closed {
		switch cc.state {
		case csIdle:
			if !cc.readHead() {
				return gnet.None
			}
		case csBody:
			if cc.up == nil || cc.up.c == nil {
				return gnet.None
			}
			cc.pumpBody(false)
			if cc.state == csBody && !cc.closed && cc.up != nil && !cc.up.closed &&
				cc.up.c.OutboundBuffered() > highWater && cc.c.InboundBuffered() == 0 && cc.c.OutboundBuffered() == 0 {
				if action, ok := cc.park(cc.lp, cc.c, cc); ok {
					return action
				}
			}
			return gnet.None
		case csDiscard:
			cc.pumpBody(true)
			return gnet.None
		case csBuffer:
			return cc.bufferTraffic()
		case csReadBody:
			cc.readBody()
			return gnet.None
		case csTunnel:
			buf, _ := cc.c.Next(-1)
			if len(buf) > 0 && cc.up != nil && !cc.up.closed {
				cc.x.BytesIn += int64(len(buf))
				cc.up.c.Write(buf)
			}
			cc.armTimer(cc.lp.s.cfg.IdleTimeout)
			return gnet.None
		case csClosing:
			cc.c.Discard(-1)
			return gnet.None
		case csWaitResp:
			// The request is through: what arrives now is pipelined and waits,
			// within a bound.
			if cc.c.InboundBuffered() > cc.lp.s.cfg.MaxPipelined {
				cc.closeAfter = true
				cc.c.Discard(-1)
			}
			return gnet.None
		default: // csSuspended, csConnecting: the body waits in gnet's buffer
			return gnet.None
		}
	}
	return gnet.None
}

// readHead parses the next request head and runs the handler. It reports
// whether the state machine should go on with the same input.
func (cc *clientConn) readHead() bool {
	buf, _ := cc.c.Peek(-1)
	if len(buf) == 0 {
		return false
	}
	s := cc.lp.s
	cc.acquire()
	n, err := http1.ParseRequest(buf, &cc.req, &s.cfg.Limits)
	if err == http1.ErrNeedMore {
		if cc.timerNode.when == 0 || cc.x.Start.IsZero() {
			// First bytes of a head: the header timeout runs from here.
			cc.x.Start = time.Now()
			cc.armTimer(s.cfg.HeaderTimeout)
		}
		return false
	}
	if err != nil {
		cc.reject(err.(*http1.Error))
		return false
	}
	if cc.req.ConnUpgrade && http1.EqualFold(cc.req.Bytes(cc.req.Upgrade), "h2c") {
		// Upgrade: h2c is not honoured (RFC 9113 §3.1; h2.go): the request
		// is served as HTTP/1.1 and the upgrade not forwarded, so no backend
		// can switch the connection to an HTTP/2 tunnel past the policies.
		cc.req.ConnUpgrade, cc.req.Upgrade = false, http1.Span{}
	}
	cc.gen++
	cc.x.reset()
	cc.x.Remote = cc.remote
	cc.x.TLS = cc.tls
	cc.x.Start = time.Now()
	cc.x.BytesIn = int64(n)
	cc.inExchange = true
	cc.closeAfter = s.draining.Load()
	cc.retried, cc.reqDone, cc.respStarted, cc.chunkOut, cc.continued = false, false, false, false, false
	cc.methodLen = copy(cc.method[:], cc.req.Bytes(cc.req.Method))
	cc.body.Reset(cc.req.Framing, cc.req.ContentLength)
	s.active.Add(1)
	s.h.Serve(&cc.x)
	cc.decide(n)
	return cc.state == csIdle && !cc.closed
}

// decide acts on the handler's decision. headLen bytes of the client's input
// are the head, not yet discarded (0 after a resume).
func (cc *clientConn) decide(headLen int) {
	x := &cc.x
	switch x.decided {
	case decSuspend:
		if headLen > 0 {
			cc.req.Own()
			discardRead(cc.c, headLen)
		}
		cc.state = csSuspended
		cc.lp.wheel.stop(&cc.timerNode)
		if x.bodyFn != nil {
			cc.state = csReadBody
			cc.readBody()
		}
		return
	case decForward:
		cc.buildRequestHead()
		if headLen > 0 {
			discardRead(cc.c, headLen)
		}
		if cc.req.ExpectContinue && cc.req.Framing != http1.NoBody && !cc.continued {
			cc.continued = true
			cc.c.Write([]byte("HTTP/1.1 100 Continue\r\n\r\n"))
			if cc.closed {
				return
			}
		}
		if cc.startBuffering() {
			return
		}
		cc.lp.s.forward(cc)
		return
	case undecided:
		x.RespondError(500, "The gateway made no decision for this request")
	}
	// decRespond
	if headLen > 0 {
		discardRead(cc.c, headLen)
	}
	cc.writeResponse()
	if cc.closed {
		return
	}
	cc.finishAfterBody()
}

// maxDrain bounds the request body bytes read and dropped after the response
// was sent; beyond it the connection is closed.
const maxDrain = 4 << 20

// finishAfterBody ends the exchange once the rest of the client's request
// body is read and dropped (bounded by maxDrain and the body timeout). Closing
// a socket with unread input makes the kernel send a reset, which can destroy
// the response before the client read it; draining avoids that, and keeps the
// connection for the next request. An HTTP/2 stream has nothing to keep
// and no such reset to fear: it ends with its response, and closing it
// resets it with NO_ERROR, which tells the client to stop sending (RFC 9113
// §8.1). Waiting there would wait for good on a client that dropped its
// unsent body on seeing the answer, as grpc-go does.
func (cc *clientConn) finishAfterBody() {
	if cc.closed || cc.h2 || cc.req.Framing == http1.NoBody || cc.body.Done() {
		cc.finish()
		return
	}
	if cc.body.Err() != nil {
		// A body that could not be framed cannot be drained either.
		cc.closeAfter = true
		cc.finish()
		return
	}
	if cc.req.ExpectContinue && !cc.continued {
		// The client waits for a 100 Continue that will not come: no body follows.
		cc.closeAfter = true
		cc.finish()
		return
	}
	cc.state = csDiscard
	cc.drained = 0
	cc.armTimer(cc.lp.s.cfg.BodyIdleTimeout)
	if cc.c.InboundBuffered() > 0 {
		cc.pumpBody(true)
	}
}

// again sends the request upstream once more after the handler, looking at a
// response head, decided to forward again or to suspend before doing so.
// Only a request whose whole body the engine still has (none, or a body the
// handler set) and whose head the handler owns (Head.Own) can be sent again.
func (cc *clientConn) again() {
	x := &cc.x
	if !cc.req.Owned() || cc.req.Framing != http1.NoBody && !x.bodySet {
		x.Err = ErrCannotResend
		x.RespondError(502, "The request cannot be sent to the backend again (its body was streamed)")
		cc.writeResponse()
		cc.finishAfterBody()
		return
	}
	cc.respStarted, cc.retried = false, false
	if x.decided == decSuspend {
		cc.state = csSuspended
		cc.lp.wheel.stop(&cc.timerNode)
		return
	}
	cc.decide(0)
}

// resume runs fn on the loop for a suspended exchange.
func (cc *clientConn) resume(x *Exchange, fn func(*Exchange)) {
	gen := cc.gen
	cc.c.EventLoop().Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		if cc.closed || cc.gen != gen || cc.state != csSuspended {
			return nil
		}
		x.decided = undecided
		fn(x)
		cc.decide(0)
		if !cc.closed && cc.state != csSuspended && cc.c.InboundBuffered() > 0 {
			cc.c.Wake(nil)
		}
		return nil
	}))
}

// pumpBody moves request body bytes from the client's input to the upstream
// (or drops them when discard is set).
func (cc *clientConn) pumpBody(discard bool) {
	discard = discard || cc.x.bodySet // a replaced body: the client's is dropped
	buf, _ := cc.c.Peek(-1)
	if len(buf) == 0 {
		return
	}
	cc.armTimer(cc.lp.s.cfg.BodyIdleTimeout)
	consumed := 0
	w := cc.lp.hbuf[:0]
	var up gnet.Conn
	if !discard {
		up = cc.up.c
	}
	done := false
	for !done {
		n, ev, data, err := cc.body.Next(buf[consumed:])
		if err != nil {
			// The body's end is unknown, so nothing after it can be read as
			// a request: answer (unless an answer is already out) and close
			// the connection (RFC 9112 §6.3). The rest of the input is junk.
			cc.c.Discard(-1)
			herr := err.(*http1.Error)
			cc.x.Err = withCause(ErrBadRequestBody, herr)
			cc.closeAfter = true
			switch {
			case cc.state == csDiscard:
				cc.finish() // the answer went out: close once it is flushed
			case !cc.respStarted:
				cc.failExchange(herr.Status, herr.Reason)
			default:
				cc.abort()
			}
			return
		}
		consumed += n
		if discard {
			if cc.state == csDiscard {
				if cc.drained += n; cc.drained > maxDrain {
					discardRead(cc.c, consumed)
					cc.closeAfter = true
					cc.finish()
					return
				}
			}
			if ev == http1.BodyEnd {
				done = true
			} else if ev == http1.BodyNeedMore && n == 0 {
				// (n > 0: a step without an event, e.g. the last chunk's
				// size line before its trailer section: go on.)
				break
			}
			continue
		}
		switch ev {
		case http1.BodyData:
			if len(w)+len(data) > 32<<10 {
				if len(w) > 0 {
					up.Write(w)
					w = w[:0]
				}
				up.Write(data)
			} else {
				w = append(w, data...)
			}
		case http1.BodyChunkStart:
			w = http1.AppendChunkStart(w, cc.body.Size)
		case http1.BodyChunkEnd:
			w = append(w, "\r\n"...)
		case http1.BodyEnd:
			if cc.req.Framing == http1.Chunked {
				w = append(w, http1.LastChunk...)
			}
			done = true
		case http1.BodyNeedMore:
			if n == 0 {
				goto out
			}
		}
		if cc.closed || (cc.up != nil && cc.up.closed) {
			break
		}
	}
out:
	cc.x.BytesIn += int64(consumed)
	discardRead(cc.c, consumed)
	if !discard && len(w) > 0 && cc.up != nil && !cc.up.closed {
		up.Write(w)
	}
	cc.lp.hbuf = w[:0]
	if cc.closed {
		return
	}
	if done {
		if cc.state == csDiscard {
			cc.finish()
			return
		}
		cc.reqDone = true
		cc.state = csWaitResp
		cc.lp.wheel.stop(&cc.timerNode)
	}
}

// buildRequestHead serializes the head sent upstream into cc.out: hop-by-hop
// fields dropped first, the handler's edits applied, X-Forwarded-* set, and the
// framing written from the parsed framing.
func (cc *clientConn) buildRequestHead() {
	h, x := &cc.req, &cc.x
	out := cc.out[:0]
	if need := len(x.reqBody) + 4<<10; x.bodySet && cap(out) < need {
		out = make([]byte, 0, need) // the head and the replaced body, in one allocation
	}
	method, target := h.Bytes(h.Method), h.Bytes(h.Target)
	if len(x.method) > 0 {
		method = x.method
	}
	if len(x.target) > 0 {
		target = x.target
	}
	if x.upProxy != nil {
		out = appendProxyRequestLine(out, method, x.proxyOrigin, target) // upstream_proxy.go
		if x.upProxy.auth != "" {
			out = append(out, "Proxy-Authorization: "...)
			out = append(out, x.upProxy.auth...)
			out = append(out, "\r\n"...)
		}
	} else {
		out = http1.AppendRequestLine(out, method, target)
	}
	xff := cc.xff[:0]
	hadCL := false
	cc.teTrailers = false
	if x.replaceHdrs {
		for _, f := range h.Headers {
			if name := h.Bytes(f.Name); len(name) == 14 && foldEq(name, "content-length") {
				hadCL = true
			} else if len(name) == 15 && foldEq(name, "x-forwarded-for") {
				xff = appendXFF(xff, h.Bytes(f.Value))
			} else if len(name) == 2 && foldEq(name, "te") && hasToken(h.Bytes(f.Value), "trailers") {
				cc.teTrailers = true
			}
		}
		for _, f := range x.reqHdrs {
			name := bytesOf(f.Name)
			if h.IsHopByHop(name) || foldEq(name, "expect") || foldEq(name, "x-forwarded-for") ||
				foldEq(name, "x-forwarded-proto") || foldEq(name, "x-forwarded-host") || deleted(x.delHeaders, name) {
				continue
			}
			out = http1.AppendHeaderString(out, f.Name, f.Value)
		}
	} else {
		for _, f := range h.Headers {
			name := h.Bytes(f.Name)
			if len(name) == 14 && foldEq(name, "content-length") {
				hadCL = true
			}
			if h.IsHopByHop(name) || foldEq(name, "expect") {
				if len(name) == 2 && foldEq(name, "te") && hasToken(h.Bytes(f.Value), "trailers") {
					cc.teTrailers = true
				}
				continue
			}
			if len(name) == 15 && foldEq(name, "x-forwarded-for") {
				xff = appendXFF(xff, h.Bytes(f.Value))
				continue
			}
			if foldEq(name, "x-forwarded-proto") || foldEq(name, "x-forwarded-host") {
				continue
			}
			if deleted(x.delHeaders, name) {
				continue
			}
			out = http1.AppendHeader(out, name, h.Bytes(f.Value))
		}
	}
	cc.xff = xff
	for _, f := range x.setHeaders {
		out = http1.AppendHeaderString(out, f.Name, f.Value)
	}
	out = append(out, "X-Forwarded-For: "...)
	if len(xff) > 0 {
		out = append(out, xff...)
		out = append(out, ", "...)
	}
	out = cc.remote.Addr().AppendTo(out)
	out = append(out, "\r\nX-Forwarded-Proto: "...)
	if x.TLS {
		out = append(out, "https\r\n"...)
	} else {
		out = append(out, "http\r\n"...)
	}
	if h.Host.Len > 0 {
		out = http1.AppendHeader(out, []byte("X-Forwarded-Host"), h.Bytes(h.Host))
	}
	if h.ConnUpgrade && h.Upgrade.Len > 0 {
		out = append(out, "Connection: upgrade\r\n"...)
		out = http1.AppendHeader(out, []byte("Upgrade"), h.Bytes(h.Upgrade))
	}
	if x.bodySet {
		if len(x.reqBody) > 0 {
			out = http1.AppendFraming(out, http1.Length, int64(len(x.reqBody)), false)
		} else if hadCL || h.Framing != http1.NoBody {
			out = append(out, "Content-Length: 0\r\n"...)
		}
		out = append(out, "\r\n"...)
		out = append(out, x.reqBody...)
	} else {
		out = http1.AppendFraming(out, h.Framing, h.ContentLength, hadCL)
		out = append(out, "\r\n"...)
	}
	cc.out = out
}

func appendXFF(xff, v []byte) []byte {
	if len(xff) > 0 {
		xff = append(xff, ", "...)
	}
	return append(xff, v...)
}

func deleted(list []string, name []byte) bool {
	for _, d := range list {
		if len(d) == len(name) && foldEqFold(name, d) {
			return true
		}
	}
	return false
}

// writeResponse sends the handler's own response (Respond) to the client.
func (cc *clientConn) writeResponse() {
	if cc.h2 && cc.writeGRPCAnswer() {
		return // a gRPC client's trailers-only answer (grpc.go)
	}
	x := &cc.x
	w := cc.lp.wbuf[:0]
	w = http1.AppendStatusLine(w, x.respStatus, []byte(x.respReason))
	for _, f := range x.respHeaders {
		if http1.IsHopByHopName(bytesOf(f.Name)) {
			continue
		}
		w = http1.AppendHeaderString(w, f.Name, f.Value)
	}
	noBody := x.respStatus < 200 || x.respStatus == 204 || x.respStatus == 304
	if !noBody {
		w = append(w, "Content-Length: "...)
		w = appendInt(w, int64(len(x.respBody)))
		w = append(w, "\r\n"...)
	}
	w = cc.appendConnection(w)
	w = append(w, "\r\n"...)
	if !noBody && !cc.isHead() {
		w = append(w, x.respBody...)
	}
	x.Status = x.respStatus
	x.BytesOut += int64(len(w))
	cc.respStarted = true
	cc.c.Write(w)
	cc.lp.wbuf = w[:0]
}

func (cc *clientConn) isHead() bool {
	return cc.methodLen == 4 && string(cc.method[:4]) == "HEAD"
}

// appendConnection writes the Connection field the client needs to know
// whether the connection stays open.
func (cc *clientConn) appendConnection(w []byte) []byte {
	if cc.closeAfter || !cc.req.KeepAlive || cc.lp.s.draining.Load() {
		cc.closeAfter = true
		return append(w, "Connection: close\r\n"...)
	}
	if cc.req.Minor == 0 {
		return append(w, "Connection: keep-alive\r\n"...)
	}
	return w
}

// reject answers a malformed request and closes the connection.
func (cc *clientConn) reject(e *http1.Error) {
	w := http1.AppendJSONError(cc.lp.wbuf[:0], e.Status, e.Reason, true)
	cc.c.Discard(-1)
	cc.c.Write(w)
	cc.lp.wbuf = w[:0]
	cc.closeWhenFlushed()
}

// failExchange answers the current exchange with an error (before any
// response head went out) and ends it.
func (cc *clientConn) failExchange(status int, msg string) {
	cc.dropUpstream()
	cc.x.RespondError(status, msg)
	cc.writeResponse()
	cc.finishAfterBody()
}

// upstreamFailed ends the exchange after the upstream failed before a response
// head reached the client: the handler may shape the answer (FailureHandler),
// else the client gets status with a JSON body.
func (cc *clientConn) upstreamFailed(status int, msg string) {
	fh := cc.lp.s.fh
	if fh == nil {
		cc.failExchange(status, msg)
		return
	}
	cc.dropUpstream()
	x := &cc.x
	x.decided = undecided
	fh.UpstreamFailed(x, status, msg)
	if x.decided == decSuspend {
		// The handler works off the loop (an on-error send-request) and
		// answers on Resume.
		cc.state = csSuspended
		cc.lp.wheel.stop(&cc.timerNode)
		return
	}
	if x.decided != decRespond {
		x.RespondError(status, msg)
	}
	cc.writeResponse()
	cc.finishAfterBody()
}

// dropUpstream closes the exchange's upstream connection, if any.
func (cc *clientConn) dropUpstream() {
	if up := cc.up; up != nil {
		cc.up = nil
		up.client = nil
		up.closeNow()
	}
}

// abort ends the exchange and the connection at once: used when a response
// was already started and cannot be completed.
func (cc *clientConn) abort() {
	cc.dropUpstream()
	cc.closeAfter = true
	cc.finish()
	cc.closeNow()
}

// finish ends the current exchange: telemetry, upstream release, and either
// the next request or closing.
func (cc *clientConn) finish() {
	if !cc.inExchange {
		return
	}
	cc.inExchange = false
	s := cc.lp.s
	if s.dh != nil {
		s.dh.Done(&cc.x)
	}
	s.active.Add(-1)
	// Let go of large body buffers now, not at the next request: an idle
	// keep-alive connection must not hold a body's memory.
	cc.out = keepSmall(cc.out) // a replaced body went with the head
	cc.x.dropBodies()
	if up := cc.up; up != nil {
		cc.up = nil
		up.release()
	}
	if cc.closed {
		return
	}
	if cc.closeAfter || !cc.req.KeepAlive || s.draining.Load() {
		cc.closeWhenFlushed()
		return
	}
	cc.state = csIdle
	cc.x.Start = time.Time{}
	cc.armTimer(s.cfg.IdleTimeout)
	cc.queueRelease()
	if cc.c.InboundBuffered() > 0 {
		cc.c.Wake(nil)
	}
}

// closeWhenFlushed closes the connection once its output is written (gnet
// drops queued output on close), or after a bounded wait.
func (cc *clientConn) closeWhenFlushed() {
	if cc.closed {
		return
	}
	if cc.c.OutboundBuffered() == 0 {
		cc.closeNow()
		return
	}
	cc.state = csClosing
	cc.closeBy = time.Now().Add(cc.lp.s.cfg.BodyIdleTimeout).UnixNano()
	cc.armTimer(tickInterval)
}

func (cc *clientConn) closeNow() {
	if cc.closed {
		return
	}
	cc.state = csClosing
	cc.c.Close()
}

func (cc *clientConn) onClose() {
	if cc.parked || cc.resuming {
		return // gnet closing its copy of a parked connection
	}
	cc.onCloseState()
}

// onCloseState tears down the state of a connection that is gone.
func (cc *clientConn) onCloseState() {
	if cc.closed {
		return
	}
	cc.closed = true
	cc.suspendedAtClose = cc.state == csSuspended
	cc.lp.wheel.stop(&cc.timerNode)
	delete(cc.lp.clients, cc)
	cc.queueRelease()
	if !cc.h2 {
		cc.lp.s.conns.Add(-1)
	}
	if cc.inExchange {
		if cc.x.Err == nil && cc.x.Status == 0 {
			cc.x.Err = ErrClientClosed
		}
		cc.dropUpstream()
		cc.finish()
	}
	if cc.state == csTunnel && cc.up != nil {
		cc.dropUpstream()
	}
}
