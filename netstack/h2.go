package netstack

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"strings"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/apimgw/apimgw/netstack/http1"
	"github.com/apimgw/apimgw/netstack/http2"
)

// HTTP/2 from clients. A connection that negotiated "h2" by ALPN, or whose
// first bytes are the HTTP/2 preface (h2c with prior knowledge), is served
// by an h2conn: the sans-IO netstack/http2.Conn turns its bytes into
// requests, and each stream gets a clientConn of its own whose gnet.Conn is
// an h2stream. The stream presents the request as HTTP/1.1 bytes (head, and
// the body chunked when no content-length was given) and takes the HTTP/1.1
// response bytes the engine writes, parsing them back into HEADERS and DATA
// frames. So the handler, the policies and the upstream path see the one
// request model they see for HTTP/1.1, with no h2-specific code and no
// goroutine per stream; all of it runs on the connection's event loop.
//
// Flow control: request body credit (WINDOW_UPDATE) goes back only as the
// stream's clientConn consumes the bytes, and is held while the upstream has
// more than highWater queued (the stream joins the loop's parked list until
// it drains below lowWater), so a slow upstream stops the client instead of
// growing memory. Toward the client, an h2stream reports the bytes waiting
// for window (times h2Scale) as its OutboundBuffered, so the upstream is
// parked at highWater/h2Scale per stream exactly as for a slow HTTP/1.1
// client; a stream that makes no progress for BodyIdleTimeout is reset.

// h2Scale makes the per-stream buffer toward a client h2Scale times smaller
// than an HTTP/1.1 connection's (a connection carries up to 100 streams).
const h2Scale = 4

var errNoDup = errors.New("netstack: an HTTP/2 stream has no socket of its own")

// h2conn is one client connection speaking HTTP/2.
type h2conn struct {
	timerNode
	lp      *loop
	c       gnet.Conn
	remote  netip.AddrPort
	tls     bool
	h       *http2.Conn
	streams map[uint32]*h2stream
	closed  bool
	closing bool  // close once the output is flushed
	closeBy int64 // closing: give up waiting at this time
	idleAt  int64 // when the last stream ended (for IdleTimeout)
	busy    bool  // streams were open since idleAt
	served  bool  // a request arrived (before: HeaderTimeout applies)
	fn      func(*http2.Event)
}

// h2Limits are the HTTP/2 limits the engine uses.
func (s *Server) h2Limits() http2.Limits {
	return http2.Limits{MaxHeaderListSize: uint32(s.cfg.Limits.MaxHeadBytes)}
}

// startH2 turns the client connection cc (no request served yet) into an
// HTTP/2 connection on the same gnet.Conn.
func (cc *clientConn) startH2() *h2conn {
	lp := cc.lp
	hc := &h2conn{lp: lp, c: cc.c, remote: cc.remote, tls: cc.tls,
		h: http2.NewConn(lp.s.h2Limits()), streams: map[uint32]*h2stream{}}
	hc.owner = hc
	hc.fn = hc.event
	// The clientConn is dropped before it served anything.
	lp.wheel.stop(&cc.timerNode)
	delete(lp.clients, cc)
	cc.closed = true
	cc.queueRelease()
	hc.c.SetContext(hc)
	lp.h2[hc] = struct{}{}
	hc.idleAt = time.Now().UnixNano()
	hc.armTimer(lp.s.cfg.HeaderTimeout)
	if lp.s.draining.Load() {
		hc.h.Shutdown()
	}
	hc.flushOut()
	return hc
}

func (hc *h2conn) armTimer(d time.Duration) {
	hc.lp.wheel.arm(&hc.timerNode, time.Now().UnixNano()+int64(d))
}

// h2Tick is how often a connection with streams checks them for stalls.
const h2Tick = time.Second

func (hc *h2conn) onTraffic() gnet.Action {
	if hc.closed {
		return gnet.None
	}
	buf, _ := hc.c.Peek(-1)
	if hc.closing {
		hc.c.Discard(-1)
		return gnet.None
	}
	n, err := hc.h.Feed(buf, hc.c.OutboundBuffered(), hc.fn)
	if n > 0 && !hc.closed {
		hc.c.Discard(n) // not 0: gnet's Discard(0) drops everything
	}
	if err != nil {
		hc.lp.s.cfg.Logger.Debug("netstack: http2 connection ended", "remote", hc.remote.String(), "err", err)
	}
	hc.after()
	return gnet.None
}

// after flushes the output and closes the connection when it is over.
func (hc *h2conn) after() {
	if hc.closed {
		return
	}
	hc.flushOut()
	if hc.closed {
		return
	}
	if hc.h.Done() {
		hc.closeWhenFlushed()
		return
	}
	if len(hc.streams) == 0 {
		if hc.busy {
			hc.busy = false
			hc.idleAt = time.Now().UnixNano()
		}
		if hc.timerNode.when == 0 {
			hc.armTimer(hc.lp.s.cfg.IdleTimeout)
		}
	} else if hc.timerNode.when == 0 {
		hc.armTimer(h2Tick)
	}
}

// flushOut writes the connection's pending output to the socket.
func (hc *h2conn) flushOut() {
	if out := hc.h.Output(); len(out) > 0 && !hc.closed {
		hc.c.Write(out)
		hc.h.TakeOutput()
	}
}

func (hc *h2conn) closeWhenFlushed() {
	if hc.closed || hc.closing {
		return
	}
	hc.closing = true
	if hc.c.OutboundBuffered() == 0 {
		hc.c.Close()
		return
	}
	hc.closeBy = time.Now().Add(hc.lp.s.cfg.BodyIdleTimeout).UnixNano()
	hc.armTimer(tickInterval)
}

func (hc *h2conn) expire(now int64) {
	if hc.closed {
		return
	}
	if hc.closing {
		if hc.c.OutboundBuffered() == 0 || now >= hc.closeBy {
			hc.c.Close()
			return
		}
		hc.armTimer(tickInterval)
		return
	}
	if len(hc.streams) == 0 {
		// Idle for IdleTimeout (or no request within HeaderTimeout of
		// connecting): a graceful GOAWAY, then close.
		if hc.busy {
			hc.busy, hc.idleAt = false, now
		}
		limit := int64(hc.lp.s.cfg.IdleTimeout)
		if !hc.served {
			limit = int64(hc.lp.s.cfg.HeaderTimeout)
		}
		if now-hc.idleAt >= limit {
			hc.h.Shutdown()
			hc.flushOut()
			hc.closeWhenFlushed()
			return
		}
		hc.lp.wheel.arm(&hc.timerNode, hc.idleAt+limit)
		return
	}
	// Streams that wait for window and made no progress for a body
	// timeout are reset (zero-window stall).
	limit := int64(hc.lp.s.cfg.BodyIdleTimeout)
	for id, st := range hc.streams {
		b := hc.h.Buffered(id)
		if b == 0 || b != st.lastBuffered {
			st.lastBuffered, st.stallSince = b, now
			continue
		}
		if now-st.stallSince >= limit {
			if st.cc.exchState != nil {
				st.cc.x.Err = ErrFlowControl
			}
			hc.h.ResetStream(id, http2.ErrCodeCancel)
			st.gone()
		}
	}
	hc.after()
	if !hc.closed && len(hc.streams) > 0 {
		hc.armTimer(h2Tick)
	}
}

// event handles what the HTTP/2 state machine reports.
func (hc *h2conn) event(ev *http2.Event) {
	switch ev.Kind {
	case http2.EventRequest:
		hc.openStream(ev)
	case http2.EventData:
		if st := hc.streams[ev.Stream]; st != nil {
			st.addBody(ev.Data, ev.End)
			if st.cc != nil && !st.cc.closed {
				st.cc.onTraffic()
			}
		} else {
			hc.h.Consumed(ev.Stream, len(ev.Data))
		}
	case http2.EventReset:
		if st := hc.streams[ev.Stream]; st != nil {
			if st.cc.inExchange && st.cc.exchState != nil && st.cc.x.Err == nil {
				st.cc.x.Err = ErrClientClosed
			}
			st.gone()
		}
	}
}

// openStream starts the exchange of a new stream.
func (hc *h2conn) openStream(ev *http2.Event) {
	lp := hc.lp
	hc.busy, hc.served = true, true
	if hc.timerNode.when == 0 || len(hc.streams) == 0 {
		hc.armTimer(h2Tick)
	}
	st := &h2stream{Conn: hc.c, hc: hc, id: ev.Stream}
	cc := &clientConn{lp: lp, c: st, remote: hc.remote, tls: hc.tls, h2: true}
	cc.owner = cc
	st.cc = cc
	hc.streams[ev.Stream] = st
	req := ev.Req
	if req.Method == "CONNECT" {
		// No tunnels over HTTP/2 streams (RFC 9113 §8.5, RFC 8441).
		hc.h.WriteHeaders(ev.Stream, 501, []http2.Field{{Name: "content-length", Value: "0"}}, true)
		delete(hc.streams, ev.Stream)
		return
	}
	st.method = append(st.method[:0], req.Method...)
	st.grpc = isGRPCRequest(req)
	st.addHead(req, ev.End)
	cc.armTimer(lp.s.cfg.HeaderTimeout)
	cc.onTraffic()
}

// onClose tears the connection and all its streams down.
func (hc *h2conn) onClose() {
	if hc.closed {
		return
	}
	hc.closed = true
	hc.lp.wheel.stop(&hc.timerNode)
	delete(hc.lp.h2, hc)
	hc.lp.s.conns.Add(-1)
	for _, st := range hc.streams {
		if st.cc.inExchange && st.cc.exchState != nil && st.cc.x.Err == nil && st.cc.x.Status == 0 {
			st.cc.x.Err = ErrClientClosed
		}
		st.gone()
	}
}

// shutdown (Server.Shutdown, on the loop): GOAWAY, streams in flight finish.
func (hc *h2conn) shutdown() {
	if hc.closed {
		return
	}
	hc.h.Shutdown()
	hc.after()
}

// h2stream is the gnet.Conn of one stream's clientConn. Methods it does not
// override act on the connection's socket (EventLoop, addresses).
type h2stream struct {
	gnet.Conn
	hc      *h2conn
	cc      *clientConn
	id      uint32
	ctx     any
	method  []byte
	grpc    bool // a gRPC call: the gateway's own answers go out as gRPC (grpc.go)
	grpcEnd bool // the response is a gRPC trailers-only answer: no content-length
	// grpcOwn: the response is the handler's own gRPC answer with a body:
	// its grpc-status, grpc-message and grpc-status-details-bin go out as
	// trailers after it (grpc-status 0 if it set none), as gRPC requires.
	grpcOwn bool
	closed  bool // the clientConn closed it, or the stream is gone
	closing bool // Close was called; it takes effect on the loop

	// Request side: HTTP/1.1 bytes for the clientConn to read.
	in      []byte
	inOff   int
	chunked bool
	inEnd   bool
	total   int64    // bytes ever appended to in
	read    int64    // bytes ever consumed from in
	marks   []h2mark // body payload bytes to credit once read
	owed    int      // credit held back while the upstream is full
	waiting bool     // on the loop's parked list for owed credit

	// Response side: HTTP/1.1 bytes written by the engine, parsed back.
	out      []byte // unparsed response bytes (or, during Write, the caller's)
	inPlace  bool   // out is the caller's slice
	resp     http1.Head
	body     http1.Body
	trailers []http2.Field // the response's trailer fields, sent at its end
	rstate   uint8
	respDone bool

	lastBuffered int
	stallSince   int64
}

type h2mark struct {
	end     int64 // offset in the stream's input after these bytes
	payload int
}

const (
	rsHead uint8 = iota
	rsBody
	rsDone
)

// addHead writes the request head as HTTP/1.1.
func (st *h2stream) addHead(req *http2.Request, end bool) {
	size := len(req.Method) + len(req.Path) + len(req.Authority) + 64
	for _, f := range req.Fields {
		size += len(f.Name) + len(f.Value) + 4
	}
	b := make([]byte, 0, size)
	b = append(b, req.Method...)
	b = append(b, ' ')
	b = append(b, req.Path...)
	b = append(b, " HTTP/1.1\r\n"...)
	if req.Authority != "" {
		b = append(b, "Host: "...)
		b = append(b, req.Authority...)
		b = append(b, "\r\n"...)
	}
	for _, f := range req.Fields {
		if f.Name == "host" {
			continue
		}
		b = append(b, f.Name...)
		b = append(b, ": "...)
		b = append(b, f.Value...)
		b = append(b, "\r\n"...)
	}
	if !end && req.ContentLength < 0 {
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
		st.chunked = true
	}
	// One request per stream: the clientConn ends after its response.
	b = append(b, "Connection: close\r\n\r\n"...)
	st.in = b
	st.total = int64(len(b))
	st.inEnd = end
}

// addBody appends request body bytes (chunked when the length is unknown).
func (st *h2stream) addBody(data []byte, end bool) {
	if st.closed {
		st.hc.h.Consumed(st.id, len(data))
		return
	}
	st.compactIn()
	n := len(st.in)
	if len(data) > 0 {
		if st.chunked {
			st.in = http1.AppendChunkStart(st.in, int64(len(data)))
		}
		st.in = append(st.in, data...)
		if st.chunked {
			st.in = append(st.in, "\r\n"...)
		}
	}
	if end && st.chunked {
		st.in = append(st.in, http1.LastChunk...)
	}
	st.total += int64(len(st.in) - n)
	if len(data) > 0 {
		st.marks = append(st.marks, h2mark{end: st.total, payload: len(data)})
	}
	st.inEnd = st.inEnd || end
}

func (st *h2stream) compactIn() {
	if st.inOff > 0 && st.inOff == len(st.in) {
		st.in, st.inOff = st.in[:0], 0
	} else if st.inOff > 16<<10 {
		st.in = append(st.in[:0], st.in[st.inOff:]...)
		st.inOff = 0
	}
}

// consumed credits the payload of the input bytes read so far.
func (st *h2stream) consumed(n int) {
	st.inOff += n
	st.read += int64(n)
	credit := 0
	i := 0
	for ; i < len(st.marks) && st.marks[i].end <= st.read; i++ {
		credit += st.marks[i].payload
	}
	if i > 0 {
		st.marks = append(st.marks[:0], st.marks[i:]...)
	}
	if credit == 0 {
		return
	}
	st.owed += credit
	st.giveCredit()
}

// giveCredit sends the credit owed unless the upstream is full.
func (st *h2stream) giveCredit() {
	if st.owed == 0 || st.hc.closed {
		return
	}
	cc := st.cc
	if !st.closed && cc.up != nil && !cc.up.closed && cc.up.c != nil && cc.up.c.OutboundBuffered() > highWater {
		if !st.waiting {
			st.waiting = true
			st.hc.lp.parked = append(st.hc.lp.parked, st)
			st.hc.lp.tickSoon()
			st.hc.lp.s.parks.Add(1)
		}
		return
	}
	st.hc.h.Consumed(st.id, st.owed)
	st.owed = 0
	st.hc.flushOut()
}

// checkParked (on the loop's tick) gives held credit back once the upstream
// drained below lowWater.
func (st *h2stream) checkParked() bool {
	cc := st.cc
	if st.closed || st.hc.closed || cc.up == nil || cc.up.closed || cc.up.c == nil || cc.up.c.OutboundBuffered() < lowWater {
		st.waiting = false
		if !st.hc.closed {
			st.hc.h.Consumed(st.id, st.owed)
			st.owed = 0
			st.hc.after()
		}
		return false
	}
	return true
}

// gone ends the stream's clientConn at once (reset, connection closed).
func (st *h2stream) gone() {
	if st.hc.streams[st.id] == st {
		delete(st.hc.streams, st.id)
	}
	st.releaseInput()
	st.closed = true
	st.cc.onClose()
}

// releaseInput credits the connection for body bytes never read.
func (st *h2stream) releaseInput() {
	owed := st.owed
	for _, m := range st.marks {
		owed += m.payload
	}
	st.marks, st.owed = nil, 0
	if owed > 0 && !st.hc.closed {
		st.hc.h.Consumed(st.id, owed)
	}
	st.in, st.inOff = nil, 0
}

// gnet.Conn, as the clientConn uses it.

func (st *h2stream) Context() any       { return st.ctx }
func (st *h2stream) SetContext(ctx any) { st.ctx = ctx }
func (st *h2stream) Dup() (int, error)  { return -1, errNoDup }

func (st *h2stream) InboundBuffered() int { return len(st.in) - st.inOff }

func (st *h2stream) Peek(n int) ([]byte, error) {
	b := st.in[st.inOff:]
	if n >= 0 && n < len(b) {
		b = b[:n]
	}
	return b, nil
}

func (st *h2stream) Next(n int) ([]byte, error) {
	b, _ := st.Peek(n)
	st.consumed(len(b))
	return b, nil
}

func (st *h2stream) Discard(n int) (int, error) {
	avail := len(st.in) - st.inOff
	if n < 0 || n > avail {
		n = avail
	}
	st.consumed(n)
	return n, nil
}

// OutboundBuffered is the response bytes waiting for the client's window
// (scaled by h2Scale) plus the socket's queue: the upstream is parked on it.
func (st *h2stream) OutboundBuffered() int {
	if st.respDone || st.closed || st.hc.closed {
		return 0
	}
	return st.hc.h.Buffered(st.id)*h2Scale + st.hc.c.OutboundBuffered()
}

// Wake resumes the stream's clientConn on the loop (gnet's Wake runs
// OnTraffic later).
func (st *h2stream) Wake(cb gnet.AsyncCallback) error {
	return st.hc.lp.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		if !st.closed && !st.cc.closed && !st.hc.closed {
			st.cc.onTraffic()
			st.hc.after()
		}
		return nil
	}))
}

// Close ends the stream from the clientConn's side. As with gnet's Close,
// it takes effect later on the loop (bytes the caller still writes in the
// same callback go out first), and the clientConn's OnClose runs then.
func (st *h2stream) Close() error {
	if st.closed || st.closing {
		return nil
	}
	st.closing = true
	hc := st.hc
	return hc.lp.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		if st.closed {
			return nil
		}
		st.closed = true
		if !hc.closed {
			switch {
			case !st.respDone && st.rstate == rsBody && st.body.Framing() == http1.CloseDelimited:
				hc.h.WriteData(st.id, nil, true)
				st.respDone = true
			case !st.respDone:
				hc.h.ResetStream(st.id, http2.ErrCodeInternal)
			case !st.inEnd && hc.h.Buffered(st.id) == 0:
				// Answered (and all sent) before the request body was
				// through: ask the client to stop sending (RFC 9113 §8.1).
				// With response bytes still waiting for window the stream
				// stays until they are out; the body is dropped meanwhile.
				hc.h.ResetStream(st.id, http2.ErrCodeNo)
			}
			if hc.streams[st.id] == st {
				delete(hc.streams, st.id)
			}
			st.releaseInput()
		}
		st.cc.onClose()
		if !hc.closed {
			hc.after()
		}
		return nil
	}))
}

// Write takes HTTP/1.1 response bytes from the engine and sends them as
// HTTP/2 frames.
func (st *h2stream) Write(b []byte) (int, error) {
	if st.closed || st.hc.closed || st.respDone {
		return len(b), nil
	}
	hc := st.hc
	n := len(b)
	if len(st.out) == 0 {
		// Nothing left over: parse b where it is (only an incomplete rest is
		// copied, below).
		st.out = b
		st.inPlace = true
	} else {
		st.out = append(st.out, b...)
	}
	pos := 0
	for (pos < len(st.out) || st.rstate == rsBody) && !st.respDone {
		switch st.rstate {
		case rsHead:
			n, err := http1.ParseResponse(st.out[pos:], &st.resp, nil, st.method)
			if err == http1.ErrNeedMore {
				goto out
			}
			if err != nil {
				hc.h.ResetStream(st.id, http2.ErrCodeInternal)
				st.respDone = true
				goto out
			}
			pos += n
			fields := make([]http2.Field, 0, len(st.resp.Headers))
			own := st.grpcOwn && st.resp.Status >= 200 && st.resp.Framing != http1.NoBody
			ownStatus := false
			for _, f := range st.resp.Headers {
				name := st.resp.Bytes(f.Name)
				if st.grpcEnd && http1.EqualFold(name, "content-length") {
					continue // its HTTP/1.1 framing only: trailers-only has no body
				}
				if own && isGRPCStatusField(name) {
					lower := strings.ToLower(string(name))
					ownStatus = ownStatus || lower == "grpc-status"
					st.trailers = append(st.trailers, http2.Field{Name: lower, Value: string(st.resp.Bytes(f.Value))})
					continue
				}
				fields = append(fields, http2.Field{Name: string(name), Value: string(st.resp.Bytes(f.Value))})
			}
			if own && !ownStatus {
				st.trailers = append(st.trailers, http2.Field{Name: "grpc-status", Value: "0"})
			}
			if st.resp.Status < 200 {
				hc.h.WriteHeaders(st.id, st.resp.Status, fields, false)
				continue
			}
			noBody := st.resp.Framing == http1.NoBody
			hc.h.WriteHeaders(st.id, st.resp.Status, fields, noBody)
			if noBody {
				st.respDone = true
				break
			}
			st.body.Reset(st.resp.Framing, st.resp.ContentLength)
			// The engine writes trailers only for a client that sent "TE:
			// trailers" (gRPC's do): they become HTTP/2 trailers.
			st.body.KeepTrailers = true
			st.rstate = rsBody
		case rsBody:
			n, ev, data, err := st.body.Next(st.out[pos:])
			if err != nil {
				hc.h.ResetStream(st.id, http2.ErrCodeInternal)
				st.respDone = true
				goto out
			}
			pos += n
			switch ev {
			case http1.BodyData:
				hc.h.WriteData(st.id, data, false)
			case http1.BodyTrailer:
				if i := bytes.IndexByte(data, ':'); i > 0 {
					st.trailers = append(st.trailers, http2.Field{Name: string(data[:i]), Value: string(bytes.TrimSpace(data[i+1:]))})
				}
			case http1.BodyEnd:
				if len(st.trailers) > 0 {
					hc.h.WriteTrailers(st.id, st.trailers)
					st.trailers = nil
				} else {
					hc.h.WriteData(st.id, nil, true)
				}
				st.respDone = true
			case http1.BodyNeedMore:
				if n == 0 || pos == len(st.out) {
					goto out
				}
			}
		}
	}
out:
	switch {
	case st.respDone:
		st.rstate = rsDone
		st.out = nil
	case st.inPlace:
		st.out = append([]byte(nil), st.out[pos:]...)
		if len(st.out) == 0 {
			st.out = nil
		}
	default:
		st.out = append(st.out[:0], st.out[pos:]...)
	}
	st.inPlace = false
	hc.flushOut()
	return n, nil
}
