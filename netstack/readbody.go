package netstack

import "github.com/apimgw/apimgw/netstack/http1"

// Buffered bodies, for handlers whose policies read or rewrite a body. The
// engine streams bodies by default (no copy, nothing buffered); a handler asks
// for a whole body only when it needs one, with a byte limit.

// BodyFunc receives a buffered body on the connection's loop. body is valid
// until the exchange ends (it is the exchange's own buffer); tooLarge reports
// that the body exceeded the limit (body is then nil). It must decide, as a
// Resume function does (Respond, Forward, or Suspend again).
type BodyFunc func(x *Exchange, body []byte, tooLarge bool)

// ReadBody suspends the exchange until the whole request body is read into a
// buffer of at most limit bytes (bodies without framing give an empty body at
// once), then calls fn on the loop. Call it from Serve or a Resume function
// instead of deciding. A client that sent "Expect: 100-continue" gets its 100
// Continue. After fn, the client's body is consumed: forward with
// SetRequestBody (the buffered bytes or a replacement). A body over the limit
// stays unread; answering then drains it within the engine's usual bounds.
func (x *Exchange) ReadBody(limit int, fn BodyFunc) {
	x.decided = decSuspend
	x.bodyLimit, x.bodyFn = limit, fn
}

// readBody is the csReadBody state: it decodes body bytes into x.inBody.
func (cc *clientConn) readBody() {
	x := &cc.x
	if cc.req.Framing == http1.NoBody || cc.body.Done() {
		cc.bodyRead(false)
		return
	}
	if cc.req.ExpectContinue && !cc.continued {
		cc.continued = true
		cc.c.Write([]byte("HTTP/1.1 100 Continue\r\n\r\n"))
		if cc.closed {
			return
		}
	}
	if n := cc.req.ContentLength; len(x.inBody) == 0 && cc.req.Framing == http1.Length && n <= int64(x.bodyLimit) && int64(cap(x.inBody)) < n {
		x.inBody = make([]byte, 0, n) // one allocation of the announced size
	}
	buf, _ := cc.c.Peek(-1)
	if len(buf) == 0 {
		cc.armTimer(cc.lp.s.cfg.BodyIdleTimeout)
		return
	}
	consumed := 0
	for {
		n, ev, data, err := cc.body.Next(buf[consumed:])
		if err != nil {
			discardRead(cc.c, consumed)
			herr := err.(*http1.Error)
			x.Err = withCause(ErrBadRequestBody, herr)
			cc.closeAfter = true // the body's end is unknown: nothing after it is a request
			cc.state = csSuspended
			cc.failExchange(herr.Status, herr.Reason)
			return
		}
		consumed += n
		switch ev {
		case http1.BodyData:
			if len(x.inBody)+len(data) > x.bodyLimit {
				x.BytesIn += int64(consumed)
				discardRead(cc.c, consumed)
				cc.closeAfter = true // the rest is drained (bounded), then the connection closes
				cc.bodyRead(true)
				return
			}
			x.inBody = append(x.inBody, data...)
		case http1.BodyEnd:
			x.BytesIn += int64(consumed)
			discardRead(cc.c, consumed)
			cc.bodyRead(false)
			return
		case http1.BodyNeedMore:
			if n == 0 {
				x.BytesIn += int64(consumed)
				discardRead(cc.c, consumed)
				cc.armTimer(cc.lp.s.cfg.BodyIdleTimeout)
				return
			}
		}
	}
}

// bodyRead hands the buffered body to the handler.
func (cc *clientConn) bodyRead(tooLarge bool) {
	x := &cc.x
	cc.lp.wheel.stop(&cc.timerNode)
	cc.state = csSuspended
	fn := x.bodyFn
	x.bodyFn = nil
	x.decided = undecided
	body := x.inBody
	if tooLarge {
		body = nil
	}
	fn(x, body, tooLarge)
	cc.decide(0)
	if !cc.closed && cc.state != csSuspended && cc.state != csReadBody && cc.c.InboundBuffered() > 0 {
		cc.c.Wake(nil)
	}
}

// ReadResponseBody, called from Response instead of deciding, reads the
// upstream's whole response body into a buffer of at most limit bytes, then
// calls fn on the loop, which decides: Respond (send the body, changed or
// not), Suspend (work off the loop, then Resume and decide), or Forward to
// send the request again. Over the limit (or if
// the upstream fails meanwhile) the upstream connection is dropped and fn gets
// tooLarge; an upstream failure goes to the FailureHandler as before the head.
func (x *Exchange) ReadResponseBody(limit int, fn BodyFunc) {
	x.decided = decSuspend
	x.respBodyLimit, x.respBodyFn = limit, fn
	// A request sent again (retry) reads a new body: never appended to the
	// last one's, and never into the buffer the handler was given for it
	// (it may keep a view of it), so a used buffer is left to the handler.
	if len(x.upBody) > 0 {
		x.upBody = nil
	}
}

// bufferedBody hands the buffered response body to the handler and acts on
// its decision.
func (uc *upConn) bufferedBody(cc *clientConn, tooLarge bool) {
	uc.lp.wheel.stop(&uc.timerNode)
	x := &cc.x
	fn := x.respBodyFn
	x.respBodyFn = nil
	body := x.upBody
	if tooLarge {
		body = nil
		cc.dropUpstream()
	}
	x.decided = undecided
	fn(x, body, tooLarge)
	switch x.decided {
	case decSuspend:
		// The handler works off the loop (a policy's call) and resumes with
		// its answer; the upstream's body is read, so it can go back.
		if up := cc.up; up != nil {
			cc.up = nil
			up.release()
		}
		cc.state = csSuspended
		cc.lp.wheel.stop(&cc.timerNode)
		return
	case decForward:
		if up := cc.up; up != nil {
			cc.up = nil
			up.release()
		}
		cc.again()
		return
	case undecided:
		x.RespondError(500, "The gateway made no decision for this response")
	}
	cc.writeResponse()
	cc.finishAfterBody()
}
