package http2

import (
	"bytes"
	"errors"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Preface is what every HTTP/2 client sends first (RFC 9113 §3.4).
const Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// Limits bound what one client connection may cost. Zero fields mean the
// defaults given.
type Limits struct {
	// MaxConcurrentStreams is advertised in SETTINGS; a HEADERS frame
	// beyond it is refused with RST_STREAM(REFUSED_STREAM) (default 100).
	MaxConcurrentStreams uint32
	// StreamWindow is the receive window of each stream: the request body
	// bytes a stream may have in flight before the caller consumed them
	// (default 256 KiB, at least 65535).
	StreamWindow uint32
	// ConnWindow is the receive window of the whole connection (default
	// 1 MiB): together with StreamWindow it bounds the request body bytes
	// buffered for one connection.
	ConnWindow uint32
	// MaxFrameSize is the largest frame payload accepted (default 16384,
	// the RFC's initial value, which is also what is advertised).
	MaxFrameSize uint32
	// MaxHeaderListSize bounds a decoded header list (RFC 9113 §6.5.2: each
	// field counts name + value + 32); beyond it the request is answered 431
	// (default 64 KiB). It also bounds one HPACK string.
	MaxHeaderListSize uint32
	// MaxHeaderBlock bounds the encoded bytes of one header block (HEADERS
	// and its CONTINUATION frames) buffered before END_HEADERS; beyond it
	// the connection ends with ENHANCE_YOUR_CALM (default MaxHeaderListSize
	// plus 16 KiB).
	MaxHeaderBlock int
	// ResetBudget is how many streams the client may reset before they were
	// answered, net of streams answered completely (each refunds one), before
	// the connection ends with ENHANCE_YOUR_CALM (rapid reset,
	// CVE-2023-44487; default 2 × MaxConcurrentStreams).
	ResetBudget int
	// MaxEmptyFrames bounds frames that carry nothing (DATA without data or
	// END_STREAM, CONTINUATION or HEADERS fragments of zero length without
	// END_HEADERS) per connection (default 1000).
	MaxEmptyFrames int
	// MaxOutputBacklog bounds the unsent output (the caller's backlog given
	// to Feed plus Output not yet taken) at which frames that need an answer
	// (PING, SETTINGS, stream errors) end the connection with
	// ENHANCE_YOUR_CALM instead: a client that floods them without reading
	// the answers cannot grow memory (default 1 MiB).
	MaxOutputBacklog int
}

func (l *Limits) setDefaults() {
	if l.MaxConcurrentStreams == 0 {
		l.MaxConcurrentStreams = 100
	}
	if l.StreamWindow == 0 {
		l.StreamWindow = 256 << 10
	}
	if l.StreamWindow < 65535 {
		l.StreamWindow = 65535
	}
	if l.ConnWindow < l.StreamWindow {
		if l.ConnWindow == 0 {
			l.ConnWindow = 1 << 20
		}
		if l.ConnWindow < l.StreamWindow {
			l.ConnWindow = l.StreamWindow
		}
	}
	if l.MaxFrameSize < 16384 {
		l.MaxFrameSize = 16384
	}
	if l.MaxHeaderListSize == 0 {
		l.MaxHeaderListSize = 64 << 10
	}
	if l.MaxHeaderBlock <= 0 {
		l.MaxHeaderBlock = int(l.MaxHeaderListSize) + 16<<10
	}
	if l.ResetBudget <= 0 {
		l.ResetBudget = 2 * int(l.MaxConcurrentStreams)
	}
	if l.MaxEmptyFrames <= 0 {
		l.MaxEmptyFrames = 1000
	}
	if l.MaxOutputBacklog <= 0 {
		l.MaxOutputBacklog = 1 << 20
	}
}

// EventKind tells what an Event reports.
type EventKind uint8

const (
	// EventRequest: a request head arrived on a new stream (Event.Req);
	// Event.End tells that no body follows.
	EventRequest EventKind = iota + 1
	// EventData: request body bytes (Event.Data, valid only during the
	// callback); Event.End tells that the body is complete. The caller gives
	// the bytes' flow-control credit back with Conn.Consumed when it is done
	// with them. Trailers end the body the same way (they are not passed on).
	EventData
	// EventReset: the stream ended before its exchange completed: the client
	// reset it (Event.Code is its code) or it broke the protocol and this
	// side reset it. The caller drops what it holds for the stream.
	EventReset
)

// Event is what Feed reports to its callback. It is reused: copy what must
// outlive the callback.
type Event struct {
	Kind   EventKind
	Stream uint32
	Req    *Request
	Data   []byte
	End    bool
	Code   ErrCode
}

// Conn is the server side of one HTTP/2 connection. It is not safe for
// concurrent use; its methods may be called from inside Feed's callback.
type Conn struct {
	lim Limits
	fr  *http2.Framer
	rd  frameReader
	out []byte

	enc    *hpack.Encoder
	encBuf bytes.Buffer
	dec    *hpack.Decoder
	lname  []byte

	prefaceDone  bool
	settingsSeen bool
	closed       bool
	err          *ConnError
	goingAway    bool
	goAwayID     uint32
	peerGoAway   bool

	streams     map[uint32]*stream
	maxClientID uint32

	peerMaxFrame   uint32
	peerInitWindow int64
	sendWindow     int64

	recvWindow  int64
	recvUnacked int64

	unackedSettings int

	hdrID      uint32
	hdrBlock   []byte
	hdrEnd     bool
	hdrSelfDep bool

	fields   []hpack.HeaderField
	listSize uint32
	tooLarge bool

	resetBudget int
	emptyFrames int

	backlog int
	fn      func(*Event)
	ev      Event
}

// stream is one stream's state on this side.
type stream struct {
	id           uint32
	remoteClosed bool // END_STREAM received
	localClosed  bool // END_STREAM sent
	answered     bool // a final response head was sent
	trailers     bool
	sendWindow   int64
	recvWindow   int64
	recvUnacked  int64
	pending      []byte // response body not yet sent (flow control)
	off          int
	endPending   bool    // END_STREAM goes after pending
	respTrailers []Field // WriteTrailers: sent as the last HEADERS after pending
	declLen      int64
	gotLen       int64
}

// frameReader hands the Framer exactly the bytes of one complete frame.
type frameReader struct{ b []byte }

func (r *frameReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, errShortFrame
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

var errShortFrame = errors.New("http2: short frame")

// outWriter appends the Framer's output to the connection's output.
type outWriter struct{ c *Conn }

func (w outWriter) Write(p []byte) (int, error) {
	w.c.out = append(w.c.out, p...)
	return len(p), nil
}

const maxWindow = 1<<31 - 1

// NewConn returns a server connection with the given limits. Its first
// output (the server's SETTINGS and the connection window update) is ready
// in Output at once; it may be sent before the client's preface arrived.
func NewConn(lim Limits) *Conn {
	lim.setDefaults()
	c := &Conn{lim: lim, streams: map[uint32]*stream{}, peerMaxFrame: 16384,
		peerInitWindow: 65535, sendWindow: 65535, recvWindow: int64(lim.ConnWindow),
		resetBudget: lim.ResetBudget}
	c.fr = http2.NewFramer(outWriter{c}, &c.rd)
	c.fr.SetMaxReadFrameSize(lim.MaxFrameSize)
	c.fr.SetReuseFrames()
	c.enc = hpack.NewEncoder(&c.encBuf)
	c.dec = hpack.NewDecoder(4096, c.emit)
	c.dec.SetMaxStringLength(int(lim.MaxHeaderListSize))
	settings := []http2.Setting{
		{ID: http2.SettingMaxConcurrentStreams, Val: lim.MaxConcurrentStreams},
		{ID: http2.SettingInitialWindowSize, Val: lim.StreamWindow},
		{ID: http2.SettingMaxHeaderListSize, Val: lim.MaxHeaderListSize},
	}
	if lim.MaxFrameSize != 16384 {
		settings = append(settings, http2.Setting{ID: http2.SettingMaxFrameSize, Val: lim.MaxFrameSize})
	}
	c.fr.WriteSettings(settings...)
	c.unackedSettings = 1
	if d := int64(lim.ConnWindow) - 65535; d > 0 {
		c.fr.WriteWindowUpdate(0, uint32(d))
	}
	return c
}

// Output returns the bytes to send to the client; TakeOutput empties it.
func (c *Conn) Output() []byte { return c.out }

// TakeOutput forgets the output returned by Output (the caller sent it or
// queued it elsewhere).
func (c *Conn) TakeOutput() {
	if cap(c.out) > 16<<10 {
		c.out = nil
		return
	}
	c.out = c.out[:0]
}

// Err returns why the connection ended (nil while it runs).
func (c *Conn) Err() error {
	if c.err == nil {
		return nil
	}
	return c.err
}

// Closed reports whether the connection ended with an error (a GOAWAY is in
// the output): the caller closes the socket once the output is sent.
func (c *Conn) Closed() bool { return c.closed }

// Done reports whether the caller should close the connection once the
// output is sent: it ended with an error, or a GOAWAY went either way and
// no stream is left.
func (c *Conn) Done() bool {
	return c.closed || (c.goingAway || c.peerGoAway) && len(c.streams) == 0
}

// Streams returns how many streams are open (not fully closed).
func (c *Conn) Streams() int { return len(c.streams) }

// Feed processes the client's bytes: every complete frame in in is handled,
// fn is called for each event, and the number of bytes consumed is
// returned (an incomplete frame at the end is left for the next call, with
// more bytes). backlog is how many output bytes the caller holds unsent
// (for MaxOutputBacklog). A *ConnError means the connection is over: its
// GOAWAY is in Output.
func (c *Conn) Feed(in []byte, backlog int, fn func(*Event)) (int, error) {
	if c.closed {
		return 0, ErrClosed
	}
	c.backlog, c.fn = backlog, fn
	defer func() { c.fn = nil }()
	n := 0
	if !c.prefaceDone {
		k := min(len(in), len(Preface))
		if string(in[:k]) != Preface[:k] {
			c.fail(http2.ErrCodeProtocol, ErrPreface, "bad connection preface")
			return len(in), c.err
		}
		if k < len(Preface) {
			return 0, nil
		}
		n, c.prefaceDone = len(Preface), true
	}
	for !c.closed {
		rest := in[n:]
		if len(rest) < 9 {
			break
		}
		length := uint32(rest[0])<<16 | uint32(rest[1])<<8 | uint32(rest[2])
		if length > c.lim.MaxFrameSize {
			c.fail(http2.ErrCodeFrameSize, ErrProtocol, "frame larger than SETTINGS_MAX_FRAME_SIZE")
			n = len(in)
			break
		}
		if len(rest) < 9+int(length) {
			break
		}
		c.rd.b = rest[:9+length]
		n += 9 + int(length)
		f, err := c.fr.ReadFrame()
		if err != nil {
			c.readError(err)
			continue
		}
		if !c.settingsSeen {
			if sf, ok := f.(*http2.SettingsFrame); !ok || sf.IsAck() {
				c.fail(http2.ErrCodeProtocol, ErrPreface, "the first frame is not SETTINGS")
				break
			}
			c.settingsSeen = true
		}
		c.process(f)
	}
	if c.closed {
		return len(in), c.err
	}
	return n, nil
}

func (c *Conn) readError(err error) {
	var se http2.StreamError
	var ce http2.ConnectionError
	switch {
	case errors.As(err, &se):
		c.streamError(se.StreamID, se.Code)
	case errors.As(err, &ce):
		reason := "frame error"
		if d := c.fr.ErrorDetail(); d != nil {
			reason = d.Error()
		}
		c.fail(http2.ErrCode(ce), ErrProtocol, reason)
	case errors.Is(err, http2.ErrFrameTooLarge):
		c.fail(http2.ErrCodeFrameSize, ErrProtocol, "frame too large")
	default:
		c.fail(http2.ErrCodeProtocol, ErrProtocol, err.Error())
	}
}

func (c *Conn) process(f http2.Frame) {
	switch f := f.(type) {
	case *http2.SettingsFrame:
		c.processSettings(f)
	case *http2.PingFrame:
		if f.IsAck() {
			return
		}
		if c.overBacklog() {
			return
		}
		c.fr.WritePing(true, f.Data)
	case *http2.HeadersFrame:
		c.hdrID, c.hdrEnd = f.StreamID, f.StreamEnded()
		c.hdrSelfDep = f.HasPriority() && f.Priority.StreamDep == f.StreamID
		c.hdrBlock = append(c.hdrBlock[:0], f.HeaderBlockFragment()...)
		if f.HeadersEnded() {
			c.endHeaders()
		} else {
			c.blockGrew(len(f.HeaderBlockFragment()))
		}
	case *http2.ContinuationFrame:
		c.hdrBlock = append(c.hdrBlock, f.HeaderBlockFragment()...)
		if !f.HeadersEnded() {
			c.blockGrew(len(f.HeaderBlockFragment()))
		}
		if c.closed {
			return
		}
		if f.HeadersEnded() {
			c.endHeaders()
		}
	case *http2.DataFrame:
		c.processData(f)
	case *http2.WindowUpdateFrame:
		c.processWindowUpdate(f)
	case *http2.RSTStreamFrame:
		c.processReset(f)
	case *http2.PriorityFrame:
		if f.StreamDep == f.StreamID {
			c.streamError(f.StreamID, http2.ErrCodeProtocol)
		}
	case *http2.GoAwayFrame:
		c.peerGoAway = true
	case *http2.PushPromiseFrame:
		c.fail(http2.ErrCodeProtocol, ErrProtocol, "PUSH_PROMISE from a client")
	}
	// Unknown frame types are ignored (RFC 9113 §4.1); the Framer refuses
	// one inside a header block.
}

// blockGrew checks the header block in progress against its bounds.
func (c *Conn) blockGrew(n int) {
	if len(c.hdrBlock) > c.lim.MaxHeaderBlock {
		c.fail(http2.ErrCodeEnhanceYourCalm, ErrCalm, "header block larger than the limit (CONTINUATION flood)")
		return
	}
	if n == 0 {
		c.empty()
	}
}

// empty counts a frame that carries nothing.
func (c *Conn) empty() {
	if c.emptyFrames++; c.emptyFrames > c.lim.MaxEmptyFrames {
		c.fail(http2.ErrCodeEnhanceYourCalm, ErrCalm, "too many empty frames")
	}
}

// overBacklog ends the connection when an answer would grow unsent output
// past the bound.
func (c *Conn) overBacklog() bool {
	if c.backlog+len(c.out) > c.lim.MaxOutputBacklog {
		c.fail(http2.ErrCodeEnhanceYourCalm, ErrCalm, "control frames flood a client that does not read")
		return true
	}
	return false
}

func (c *Conn) processSettings(f *http2.SettingsFrame) {
	if f.IsAck() {
		if c.unackedSettings == 0 {
			c.fail(http2.ErrCodeProtocol, ErrProtocol, "SETTINGS ACK without SETTINGS")
			return
		}
		c.unackedSettings--
		return
	}
	if c.overBacklog() {
		return
	}
	err := f.ForeachSetting(func(s http2.Setting) error {
		if err := s.Valid(); err != nil {
			return err
		}
		switch s.ID {
		case http2.SettingHeaderTableSize:
			c.enc.SetMaxDynamicTableSizeLimit(min(s.Val, 4096))
		case http2.SettingInitialWindowSize:
			d := int64(s.Val) - c.peerInitWindow
			c.peerInitWindow = int64(s.Val)
			for _, st := range c.streams {
				st.sendWindow += d
				if st.sendWindow > maxWindow {
					return http2.ConnectionError(http2.ErrCodeFlowControl)
				}
			}
		case http2.SettingMaxFrameSize:
			c.peerMaxFrame = s.Val
		}
		return nil
	})
	if err != nil {
		code := http2.ErrCodeProtocol
		var ce http2.ConnectionError
		if errors.As(err, &ce) {
			code = http2.ErrCode(ce)
		}
		c.fail(code, ErrProtocol, "invalid SETTINGS: "+err.Error())
		return
	}
	c.fr.WriteSettingsAck()
	c.flushAll()
}

func (c *Conn) processData(f *http2.DataFrame) {
	id := f.StreamID
	flen := int64(f.Length)
	st := c.streams[id]
	if st == nil || st.remoteClosed {
		if st == nil && id > c.maxClientID {
			c.fail(http2.ErrCodeProtocol, ErrProtocol, "DATA on an idle stream")
			return
		}
		// A closed stream: the bytes still count against the connection
		// window, and their credit goes back at once.
		if !c.takeConn(flen) {
			return
		}
		c.Consumed(0, int(flen))
		c.streamError(id, http2.ErrCodeStreamClosed)
		return
	}
	if !c.takeConn(flen) {
		return
	}
	if flen > st.recvWindow {
		c.Consumed(0, int(flen))
		c.streamError(id, http2.ErrCodeFlowControl)
		return
	}
	st.recvWindow -= flen
	data := f.Data()
	if pad := flen - int64(len(data)); pad > 0 {
		c.Consumed(id, int(pad))
	}
	if len(data) == 0 && !f.StreamEnded() {
		if c.empty(); c.closed {
			return
		}
	}
	st.gotLen += int64(len(data))
	if st.declLen >= 0 && (st.gotLen > st.declLen || f.StreamEnded() && st.gotLen != st.declLen) {
		c.Consumed(id, len(data))
		c.streamError(id, http2.ErrCodeProtocol)
		return
	}
	if f.StreamEnded() {
		st.remoteClosed = true
	}
	c.emitData(id, data, f.StreamEnded())
	if st := c.streams[id]; st != nil && st.remoteClosed && st.localClosed {
		c.removeStream(st)
	}
}

// takeConn takes n bytes from the connection's receive window.
func (c *Conn) takeConn(n int64) bool {
	if n > c.recvWindow {
		c.fail(http2.ErrCodeFlowControl, ErrProtocol, "connection receive window exceeded")
		return false
	}
	c.recvWindow -= n
	return true
}

// Consumed gives back the flow-control credit of n body bytes of stream id
// that the caller is done with: WINDOW_UPDATE frames go out once a quarter
// of a window is owed. A stream that is gone credits only the connection.
func (c *Conn) Consumed(id uint32, n int) {
	if n <= 0 || c.closed {
		return
	}
	c.recvUnacked += int64(n)
	if c.recvUnacked >= int64(c.lim.ConnWindow)/4 {
		c.fr.WriteWindowUpdate(0, uint32(c.recvUnacked))
		c.recvWindow += c.recvUnacked
		c.recvUnacked = 0
	}
	if st := c.streams[id]; st != nil && !st.remoteClosed {
		st.recvUnacked += int64(n)
		if st.recvUnacked >= int64(c.lim.StreamWindow)/4 {
			c.fr.WriteWindowUpdate(id, uint32(st.recvUnacked))
			st.recvWindow += st.recvUnacked
			st.recvUnacked = 0
		}
	}
}

func (c *Conn) processWindowUpdate(f *http2.WindowUpdateFrame) {
	if f.StreamID == 0 {
		c.sendWindow += int64(f.Increment)
		if c.sendWindow > maxWindow {
			c.fail(http2.ErrCodeFlowControl, ErrProtocol, "connection send window overflow")
			return
		}
		c.flushAll()
		return
	}
	st := c.streams[f.StreamID]
	if st == nil {
		if f.StreamID > c.maxClientID {
			c.fail(http2.ErrCodeProtocol, ErrProtocol, "WINDOW_UPDATE on an idle stream")
		}
		return
	}
	st.sendWindow += int64(f.Increment)
	if st.sendWindow > maxWindow {
		c.streamError(f.StreamID, http2.ErrCodeFlowControl)
		return
	}
	c.flush(st)
}

func (c *Conn) processReset(f *http2.RSTStreamFrame) {
	if f.StreamID > c.maxClientID {
		c.fail(http2.ErrCodeProtocol, ErrProtocol, "RST_STREAM on an idle stream")
		return
	}
	st := c.streams[f.StreamID]
	if st == nil {
		return
	}
	early := !st.localClosed
	c.removeStream(st)
	c.emitReset(f.StreamID, f.ErrCode)
	if early {
		if c.resetBudget--; c.resetBudget < 0 {
			c.fail(http2.ErrCodeEnhanceYourCalm, ErrCalm, "too many streams reset by the client (rapid reset)")
		}
	}
}

// streamError resets stream id with code (RFC 9113 §5.4.2) and tells the
// caller, if the stream was open.
func (c *Conn) streamError(id uint32, code ErrCode) {
	if c.overBacklog() {
		return
	}
	c.fr.WriteRSTStream(id, code)
	if st := c.streams[id]; st != nil {
		c.removeStream(st)
		c.emitReset(id, code)
	}
}

func (c *Conn) removeStream(st *stream) {
	delete(c.streams, st.id)
	st.pending = nil
}

// fail ends the connection: GOAWAY with code goes into the output.
func (c *Conn) fail(code ErrCode, sentinel error, reason string) {
	if c.closed {
		return
	}
	c.closed = true
	c.err = &ConnError{Code: code, Reason: reason, Err: sentinel}
	debug := reason
	if len(debug) > 256 {
		debug = debug[:256]
	}
	c.fr.WriteGoAway(c.maxClientID, code, []byte(debug))
}

// Shutdown starts a graceful close: GOAWAY(NO_ERROR) names the last stream
// that will be served; streams up to it finish, later ones are ignored.
// Done reports when nothing is left.
func (c *Conn) Shutdown() {
	if c.closed || c.goingAway {
		return
	}
	c.goingAway, c.goAwayID = true, c.maxClientID
	c.fr.WriteGoAway(c.maxClientID, http2.ErrCodeNo, nil)
}

func (c *Conn) emitData(id uint32, data []byte, end bool) {
	c.ev = Event{Kind: EventData, Stream: id, Data: data, End: end}
	if c.fn != nil {
		c.fn(&c.ev)
	}
}

func (c *Conn) emitReset(id uint32, code ErrCode) {
	c.ev = Event{Kind: EventReset, Stream: id, Code: code}
	if c.fn != nil {
		c.fn(&c.ev)
	}
}
