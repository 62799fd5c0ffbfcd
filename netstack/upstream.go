package netstack

import (
	"errors"
	"net"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/apimgw/apimgw/netstack/http1"
)

type ustate uint8

const (
	usConnecting ustate = iota
	usHead              // waiting for the response head
	usBody              // streaming the response body to the client
	usTunnel            // after 101
	usIdle              // in the pool
	usBuffer            // reading the response body into a buffer (ReadResponseBody)
)

// upConn is one upstream connection. It lives on the loop of the client that
// dialed it and is pooled there, per address, between exchanges.
type upConn struct {
	timerNode
	parking
	lp       *loop
	c        gnet.Conn
	addr     string       // pool key: the address, or the address and TLS identity
	dialAddr string       // host:port
	tls      *UpstreamTLS // nil: plain TCP
	bridge   *tlsBridge   // TLS: what the bridge saw (upstream_tls.go)
	client   *clientConn
	state    ustate
	closed   bool
	pooled   bool
	reused   bool // it served an earlier exchange (a stale close is retried)
	gotData  bool // bytes arrived for the current exchange
	body     http1.Body
	sentAt   time.Time
}

func (uc *upConn) expire(now int64) {
	if uc.closed {
		return
	}
	cc := uc.client
	if uc.pooled || cc == nil {
		uc.closeNow()
		return
	}
	cc.x.Err = ErrUpstreamTimeout
	if cc.parked || cc.resuming {
		cc.closeParked()
		return
	}
	if (uc.state == usHead || uc.state == usBuffer) && !cc.respStarted {
		cc.upstreamFailed(504, "Backend did not respond in time")
		return
	}
	cc.abort()
}

// forward sends cc's request to its upstream: a pooled connection on this loop
// if there is one, else a new one dialed off the loop.
func (s *Server) forward(cc *clientConn) {
	lp := cc.lp
	key, t := cc.x.upAddr, cc.x.upTLS
	if t != nil {
		key = t.key
	} else if p := cc.x.upProxy; p != nil {
		key = p.key
	}
	if list := lp.idle[key]; len(list) > 0 {
		uc := list[len(list)-1]
		lp.idle[key] = list[:len(list)-1]
		uc.pooled = false
		uc.reused = true
		lp.wheel.stop(&uc.timerNode)
		uc.attach(cc)
		return
	}
	s.dial(cc, key, cc.x.upAddr, t)
}

// dial connects to addr (over TLS when t is set) for cc; key is the pool the
// connection goes back to.
func (s *Server) dial(cc *clientConn, key, addr string, t *UpstreamTLS) {
	lp := cc.lp
	uc := &upConn{lp: lp, addr: key, dialAddr: addr, tls: t, client: cc, state: usConnecting}
	uc.owner = uc
	cc.up = uc
	cc.state = csConnecting
	go s.enrollUpstream(uc, addr, t, s.cfg.ConnectTimeout) // upstream_tls.go
}

func (uc *upConn) dialFailed(err error) {
	uc.closed = true
	cc := uc.client
	if cc == nil || cc.closed || cc.up != uc {
		return
	}
	cc.up = nil
	var pe *proxyError
	if errors.As(err, &pe) {
		cc.x.Err = withCause(ErrUpstreamUnreachable, pe)
		cc.upstreamFailed(502, pe.msg)
		return
	}
	var he *tlsHandshakeError
	if errors.As(err, &he) {
		cc.x.Err = withCause(ErrUpstreamTLS, he.err)
		cc.upstreamFailed(502, tlsFailure(he.err))
		return
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		cc.x.Err = ErrUpstreamConnectTimeout
		cc.upstreamFailed(504, "Backend connection timed out")
		return
	}
	cc.x.Err = withCause(ErrUpstreamUnreachable, err)
	cc.upstreamFailed(502, "Backend service unreachable")
}

// opened runs on the loop when an enrolled connection is registered.
func (uc *upConn) opened(c gnet.Conn) {
	uc.c = c
	cc := uc.client
	if cc == nil || cc.closed || cc.up != uc {
		// The client went away while we dialed: keep the connection for others.
		uc.client = nil
		uc.release()
		return
	}
	uc.attach(cc)
}

// attach starts cc's exchange on uc: the head goes out, then the body.
func (uc *upConn) attach(cc *clientConn) {
	s := uc.lp.s
	uc.client = cc
	cc.up = uc
	uc.state = usHead
	uc.gotData = false
	uc.sentAt = time.Now()
	timeout := s.cfg.ResponseTimeout
	if cc.x.timeout > 0 {
		timeout = cc.x.timeout
	}
	uc.lp.wheel.arm(&uc.timerNode, uc.sentAt.UnixNano()+int64(timeout))
	uc.c.Write(cc.out)
	if uc.closed || cc.closed {
		return
	}
	if cc.req.Framing == http1.NoBody || cc.body.Done() {
		cc.reqDone = true
		cc.state = csWaitResp
		return
	}
	if cc.x.bodySet {
		cc.reqDone = true // the replacement went with the head
	}
	// The client's body follows (or, if the handler replaced it, is read and
	// dropped before the exchange waits for the response).
	cc.state = csBody
	if cc.c.InboundBuffered() > 0 {
		cc.pumpBody(false)
	}
}

func (uc *upConn) onTraffic() gnet.Action {
	cc := uc.client
	if cc == nil || cc.closed {
		// Bytes on an idle pooled connection: it is not usable any more.
		uc.c.Discard(-1)
		uc.closeNow()
		return gnet.None
	}
	if cc.parked || cc.resuming {
		// The client is parked (its upload is throttled): the response waits
		// in gnet's buffer until the client is back.
		cc.wantResume = true
		return gnet.None
	}
	buf, _ := uc.c.Peek(-1)
	if len(buf) > 0 {
		uc.gotData = true
	}
	consumed := uc.process(cc, buf)
	discardRead(uc.c, consumed)
	if uc.state == usBody && !uc.closed && uc.client == cc && !cc.closed && cc.reqDone &&
		cc.c.OutboundBuffered() > highWater && uc.c.InboundBuffered() == 0 && uc.c.OutboundBuffered() == 0 {
		if action, ok := uc.park(uc.lp, uc.c, uc); ok {
			uc.lp.wheel.stop(&uc.timerNode) // the client is slow, not the upstream
			return action
		}
	}
	return gnet.None
}

// armBodyIdle (re)starts the timeout between response body reads.
func (uc *upConn) armBodyIdle() {
	uc.lp.wheel.arm(&uc.timerNode, time.Now().UnixNano()+int64(uc.lp.s.cfg.BodyIdleTimeout))
}

// process handles upstream bytes for cc and returns how many it consumed.
func (uc *upConn) process(cc *clientConn, buf []byte) int {
	s := uc.lp.s
	consumed := 0
	w := uc.lp.wbuf[:0]
	defer func() {
		if len(w) > 0 && !cc.closed {
			cc.x.BytesOut += int64(len(w))
			cc.c.Write(w)
		}
		uc.lp.wbuf = w[:0]
	}()
	for consumed < len(buf) || uc.state == usBody || uc.state == usBuffer {
		switch uc.state {
		case usTunnel:
			cc.x.BytesOut += int64(len(buf) - consumed)
			w = append(w, buf[consumed:]...)
			return len(buf)
		case usHead:
			n, err := http1.ParseResponse(buf[consumed:], &cc.resp, nil, cc.method[:cc.methodLen])
			if err == http1.ErrNeedMore {
				return consumed
			}
			if err != nil {
				cc.x.Err = withCause(ErrUpstreamInvalid, err)
				w = w[:0]
				cc.upstreamFailed(502, "Backend returned an invalid response")
				return len(buf)
			}
			consumed += n
			if cc.resp.Status < 200 && cc.resp.Status != 101 {
				continue // interim responses: we sent our own 100 Continue
			}
			cc.x.UpstreamStatus = cc.resp.Status
			cc.x.UpstreamTime = time.Since(uc.sentAt)
			if cc.resp.Status == 101 {
				if !(cc.req.ConnUpgrade && cc.req.Upgrade.Len > 0) {
					cc.x.Err = errSwitchedUnasked
					cc.upstreamFailed(502, "Backend returned an invalid response")
					return len(buf)
				}
				w = cc.appendResponseHead(w)
				uc.state, cc.state = usTunnel, csTunnel
				uc.lp.wheel.stop(&uc.timerNode)
				cc.armTimer(s.cfg.IdleTimeout)
				continue
			}
			if s.rh != nil {
				cc.x.decided = undecided
				s.rh.Response(&cc.x)
				if cc.x.decided == decSuspend && cc.x.respBodyFn != nil {
					// The handler reads the body before deciding.
					uc.body.Reset(cc.resp.Framing, cc.resp.ContentLength)
					uc.state = usBuffer
					uc.armBodyIdle()
					continue
				}
				switch cc.x.decided {
				case decRespond:
					// The handler replaced the response: drop the upstream.
					w = w[:0]
					cc.dropUpstream()
					cc.writeResponse()
					cc.finishAfterBody()
					return len(buf)
				case decForward, decSuspend:
					// Send the request again (a retry policy around
					// forward-request), now or after the handler waited.
					w = w[:0]
					cc.dropUpstream()
					cc.again()
					return len(buf)
				}
			}
			w = cc.appendResponseHead(w)
			uc.body.Reset(cc.resp.Framing, cc.resp.ContentLength)
			// Trailers reach the client only if it asked and gets the body
			// chunked (upstream_h2.go: keepTrailer).
			uc.body.KeepTrailers = cc.chunkOut && cc.teTrailers && cc.resp.Framing == http1.Chunked
			uc.state = usBody
			uc.armBodyIdle()
		case usBody:
			n, ev, data, err := uc.body.Next(buf[consumed:])
			if err != nil {
				cc.x.Err = withCause(ErrUpstreamInvalid, err)
				uc.flushTo(cc, &w)
				cc.abort()
				return len(buf)
			}
			consumed += n
			switch ev {
			case http1.BodyData:
				if cc.chunkOut && cc.resp.Framing != http1.Chunked {
					w = http1.AppendChunkStart(w, int64(len(data)))
					w = uc.appendData(cc, w, data)
					w = append(w, "\r\n"...)
				} else {
					w = uc.appendData(cc, w, data)
				}
			case http1.BodyChunkStart:
				if cc.chunkOut {
					w = http1.AppendChunkStart(w, uc.body.Size)
				}
			case http1.BodyChunkEnd:
				if cc.chunkOut {
					w = append(w, "\r\n"...)
				}
			case http1.BodyTrailer:
				cc.keepTrailer(data)
			case http1.BodyEnd:
				if cc.chunkOut {
					w = cc.appendLastChunk(w)
				}
				uc.flushTo(cc, &w)
				uc.endResponse(cc)
				return consumed
			case http1.BodyNeedMore:
				if consumed < len(buf) && n > 0 {
					continue
				}
				uc.armBodyIdle()
				return consumed
			}
		case usBuffer:
			n, ev, data, err := uc.body.Next(buf[consumed:])
			if err != nil {
				cc.x.Err = withCause(ErrUpstreamInvalid, err)
				cc.upstreamFailed(502, "Backend returned an invalid response")
				return len(buf)
			}
			consumed += n
			switch ev {
			case http1.BodyData:
				x := &cc.x
				if len(x.upBody)+len(data) > x.respBodyLimit {
					x.Err = ErrResponseBodyTooLarge
					uc.bufferedBody(cc, true)
					return len(buf)
				}
				x.upBody = append(x.upBody, data...)
			case http1.BodyEnd:
				uc.bufferedBody(cc, false)
				return consumed
			case http1.BodyNeedMore:
				if consumed < len(buf) && n > 0 {
					continue
				}
				uc.armBodyIdle()
				return consumed
			}
		default:
			return consumed
		}
	}
	return consumed
}

// appendData adds body data to w, writing large pieces straight through.
func (uc *upConn) appendData(cc *clientConn, w, data []byte) []byte {
	if len(w)+len(data) <= 32<<10 {
		return append(w, data...)
	}
	uc.flushTo(cc, &w)
	if !cc.closed {
		cc.x.BytesOut += int64(len(data))
		cc.c.Write(data)
	}
	return w
}

func (uc *upConn) flushTo(cc *clientConn, w *[]byte) {
	if len(*w) > 0 && !cc.closed {
		cc.x.BytesOut += int64(len(*w))
		cc.c.Write(*w)
	}
	*w = (*w)[:0]
}

// endResponse completes the exchange after the last response byte.
func (uc *upConn) endResponse(cc *clientConn) {
	uc.lp.wheel.stop(&uc.timerNode)
	if !cc.reqDone {
		// The upstream answered before the request body was through: it
		// cannot be reused. The client's rest is drained before finishing.
		cc.up = nil
		uc.client = nil
		uc.closeNow()
	}
	cc.finishAfterBody()
}

// appendResponseHead serializes the upstream response head for the client.
func (cc *clientConn) appendResponseHead(w []byte) []byte {
	h, x := &cc.resp, &cc.x
	if x.respStatusSet {
		w = http1.AppendStatusLine(w, x.respStatusCode, []byte(x.respStatusReason))
	} else {
		w = http1.AppendStatusLine(w, h.Status, h.Bytes(h.Reason))
	}
	for _, f := range h.Headers {
		name := h.Bytes(f.Name)
		if len(name) == 14 && foldEq(name, "content-length") && h.Framing == http1.NoBody &&
			(cc.isHead() || h.Status == 304) {
			// A HEAD or 304 response tells the length it would have had.
			w = http1.AppendHeader(w, name, h.Bytes(f.Value))
			continue
		}
		if x.replaceRespHdrs || h.IsHopByHop(name) || deleted(x.delRespHdrs, name) {
			continue
		}
		w = http1.AppendHeader(w, name, h.Bytes(f.Value))
	}
	if x.replaceRespHdrs {
		for _, f := range x.respHdrs {
			name := bytesOf(f.Name)
			if h.IsHopByHop(name) || deleted(x.delRespHdrs, name) {
				continue
			}
			w = http1.AppendHeaderString(w, f.Name, f.Value)
		}
	}
	for _, f := range x.setRespHdrs {
		w = http1.AppendHeaderString(w, f.Name, f.Value)
	}
	if h.Status == 101 {
		w = append(w, "Connection: upgrade\r\n"...)
		if h.Upgrade.Len > 0 {
			w = http1.AppendHeader(w, []byte("Upgrade"), h.Bytes(h.Upgrade))
		}
		x.Status = 101
		cc.respStarted = true
		return append(w, "\r\n"...)
	}
	cc.chunkOut = false
	switch h.Framing {
	case http1.Length:
		w = http1.AppendFraming(w, http1.Length, h.ContentLength, false)
	case http1.Chunked, http1.CloseDelimited:
		if cc.req.Minor == 1 {
			cc.chunkOut = true
			w = append(w, "Transfer-Encoding: chunked\r\n"...)
		} else {
			cc.closeAfter = true // HTTP/1.0: the end of the body is the close
		}
	case http1.NoBody:
		if h.Status >= 200 && h.Status != 204 && h.Status != 304 && !cc.isHead() {
			w = append(w, "Content-Length: 0\r\n"...)
		}
	}
	w = cc.appendConnection(w)
	x.Status = h.Status
	cc.respStarted = true
	return append(w, "\r\n"...)
}

// release returns uc to its loop's pool if it can carry another request,
// else closes it.
func (uc *upConn) release() {
	cc := uc.client
	uc.client = nil
	reusable := !uc.closed && !uc.parked && !uc.resuming && uc.c != nil && (uc.state == usConnecting || ((uc.state == usBody || uc.state == usBuffer) && uc.body.Done())) &&
		!uc.lp.s.draining.Load()
	if cc != nil {
		reusable = reusable && cc.reqDone && cc.resp.KeepAlive
	}
	if !reusable {
		uc.closeNow()
		return
	}
	list := uc.lp.idle[uc.addr]
	if len(list) >= uc.lp.s.cfg.MaxIdlePerUpstream {
		uc.closeNow()
		return
	}
	uc.state = usIdle
	uc.pooled = true
	uc.lp.idle[uc.addr] = append(list, uc)
	uc.lp.wheel.arm(&uc.timerNode, time.Now().UnixNano()+int64(uc.lp.s.cfg.IdleTimeout))
}

func (uc *upConn) closeNow() {
	if uc.closed {
		return
	}
	uc.closed = true
	uc.lp.wheel.stop(&uc.timerNode)
	if uc.parked || uc.resuming {
		uc.dropParked() // a resuming one is closed when it arrives
		return
	}
	if uc.pooled {
		uc.unpool()
	}
	if uc.c != nil {
		uc.c.Close()
	}
}

func (uc *upConn) unpool() {
	uc.pooled = false
	list := uc.lp.idle[uc.addr]
	for i, p := range list {
		if p == uc {
			list[i] = list[len(list)-1]
			uc.lp.idle[uc.addr] = list[:len(list)-1]
			return
		}
	}
}

func (uc *upConn) onClose() {
	if uc.parked || uc.resuming {
		return // gnet closing its copy of a parked connection
	}
	wasClosed := uc.closed
	uc.closed = true
	uc.lp.wheel.stop(&uc.timerNode)
	if uc.pooled {
		uc.unpool()
	}
	cc := uc.client
	uc.client = nil
	if cc == nil || cc.closed || cc.up != uc || wasClosed {
		return
	}
	if cc.parked || cc.resuming {
		// Deal with it once the client is back on the loop.
		uc.client = cc
		cc.deferredUpClose = uc
		cc.wantResume = true
		return
	}
	uc.closedFor(cc)
}

// closedFor handles the upstream's close for cc's exchange.
func (uc *upConn) closedFor(cc *clientConn) {
	uc.client = nil
	cc.up = nil
	switch uc.state {
	case usHead:
		if !uc.gotData && uc.reused && !cc.retried && idempotent(cc.method[:cc.methodLen]) &&
			cc.req.Framing == http1.NoBody {
			// A pooled connection the upstream had closed: try once more on a
			// fresh one.
			cc.retried = true
			uc.lp.s.dial(cc, uc.addr, uc.dialAddr, uc.tls)
			return
		}
		if err := uc.bridge.failure(); err != nil && !uc.gotData {
			// The backend refused us after the handshake (a client
			// certificate it does not accept, under TLS 1.3).
			cc.x.Err = withCause(ErrUpstreamTLS, err)
			cc.upstreamFailed(502, tlsFailure(err))
			return
		}
		cc.x.Err = ErrUpstreamClosed
		cc.upstreamFailed(502, "Backend closed the connection")
	case usBody:
		if uc.body.Framing() == http1.CloseDelimited {
			// The close is the end of the body.
			if cc.chunkOut {
				cc.c.Write([]byte(http1.LastChunk))
			}
			uc.state = usIdle
			cc.finish()
			return
		}
		cc.x.Err = errMidBody
		cc.abort()
	case usBuffer:
		if uc.body.Framing() == http1.CloseDelimited {
			uc.state = usIdle
			uc.bufferedBody(cc, false)
			return
		}
		cc.x.Err = errMidBody
		cc.upstreamFailed(502, "Backend closed the connection")
	case usTunnel:
		cc.closeAfter = true
		cc.finish()
	}
}

func idempotent(m []byte) bool {
	switch string(m) {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return false
}
