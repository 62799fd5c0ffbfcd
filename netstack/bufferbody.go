package netstack

import (
	"github.com/panjf2000/gnet/v2"

	"github.com/apimgw/apimgw/netstack/http1"
)

// MaxBufferedBody bounds a request body read whole before forwarding
// (BufferRequestBody); a longer one is answered 413.
const MaxBufferedBody = 16 << 20

// BufferRequestBody asks the engine to read the client's whole request body
// before the request goes upstream (then it is sent with a Content-Length),
// and to keep it for this exchange, so that Forward after a response (a
// retry) sends it again. It applies to the next Forward; a body longer than
// MaxBufferedBody is answered 413.
func (x *Exchange) BufferRequestBody() { x.bufferBody = true }

// startBuffering is decide's step for a Forward with BufferRequestBody: the
// body is gathered first (csBuffer), then the request goes upstream as with
// SetRequestBody. It reports false when there is nothing to gather.
func (cc *clientConn) startBuffering() bool {
	x := &cc.x
	if !x.bufferBody || x.bodySet || cc.req.Framing == http1.NoBody || cc.body.Done() {
		return false
	}
	x.reqBody = x.reqBody[:0]
	cc.state = csBuffer
	cc.armTimer(cc.lp.s.cfg.BodyIdleTimeout)
	if cc.c.InboundBuffered() > 0 {
		cc.gatherBody()
	}
	return true
}

// gatherBody reads request body bytes into the exchange's body buffer; at
// the end the request is sent upstream with it.
func (cc *clientConn) gatherBody() {
	x := &cc.x
	buf, _ := cc.c.Peek(-1)
	consumed := 0
	for {
		n, ev, data, err := cc.body.Next(buf[consumed:])
		if err != nil {
			discardRead(cc.c, consumed)
			herr := err.(*http1.Error)
			x.Err = withCause(ErrBadRequestBody, herr)
			cc.closeAfter = true // the body's end is unknown: nothing after it is a request
			cc.failExchange(herr.Status, herr.Reason)
			return
		}
		consumed += n
		switch ev {
		case http1.BodyData:
			if len(x.reqBody)+len(data) > MaxBufferedBody {
				discardRead(cc.c, consumed)
				x.BytesIn += int64(consumed)
				x.Err = ErrRequestBodyTooLarge
				cc.closeAfter = true
				cc.failExchange(413, "The request body is too large to buffer (buffer-request-body)")
				return
			}
			x.reqBody = append(x.reqBody, data...)
		case http1.BodyEnd:
			discardRead(cc.c, consumed)
			x.BytesIn += int64(consumed)
			x.bodySet = true
			cc.lp.wheel.stop(&cc.timerNode)
			cc.buildRequestHead()
			cc.lp.s.forward(cc)
			return
		case http1.BodyNeedMore:
			if n == 0 || consumed >= len(buf) {
				discardRead(cc.c, consumed)
				x.BytesIn += int64(consumed)
				cc.armTimer(cc.lp.s.cfg.BodyIdleTimeout)
				return
			}
		}
	}
}

// bufferTraffic is onTraffic in csBuffer.
func (cc *clientConn) bufferTraffic() gnet.Action {
	cc.gatherBody()
	return gnet.None
}
