package h2client

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Config bounds one connection. Zero fields take the defaults.
type Config struct {
	// StreamWindow is the receive window per stream: at most this many
	// response body bytes of one stream are in flight or buffered before the
	// consumer hands them on (Stream.Consume). Default 256 KiB.
	StreamWindow uint32
	// ConnWindow is the receive window of the whole connection. Default 4 MiB.
	ConnWindow uint32
	// MaxHeaderListSize bounds a response's (or trailers') header list, as
	// RFC 9113 counts it (name + value + 32 per field); it is announced in
	// SETTINGS. Default 64 KiB.
	MaxHeaderListSize uint32
	// MaxOutput bounds the unsent output (control frames and DATA the window
	// allowed); beyond it the connection fails with ErrOutputFull. Default 8 MiB.
	MaxOutput int
	// PingInterval: a PING goes out after this long without a frame from the
	// backend (0: 30 s; negative: never). PingTimeout is how long its ACK may
	// take (0: 15 s).
	PingInterval time.Duration
	PingTimeout  time.Duration
	// MaxConcurrentStreams caps the streams opened at once, below the
	// backend's own limit. Default 1000.
	MaxConcurrentStreams uint32
	// IdleTimeout closes a connection (GOAWAY) that had no open stream for
	// this long, measured by Tick (0: 90 s; negative: never). It is what
	// frees the connections of a backend a new configuration replaced.
	IdleTimeout time.Duration
}

func (c *Config) defaults() {
	if c.StreamWindow == 0 {
		c.StreamWindow = 256 << 10
	}
	if c.StreamWindow > 1<<31-1 {
		c.StreamWindow = 1<<31 - 1
	}
	if c.ConnWindow == 0 {
		c.ConnWindow = 4 << 20
	}
	if c.ConnWindow < 65535 {
		c.ConnWindow = 65535
	}
	if c.ConnWindow > 1<<31-1 {
		c.ConnWindow = 1<<31 - 1
	}
	if c.MaxHeaderListSize == 0 {
		c.MaxHeaderListSize = 64 << 10
	}
	if c.MaxOutput == 0 {
		c.MaxOutput = 8 << 20
	}
	if c.PingInterval == 0 {
		c.PingInterval = 30 * time.Second
	}
	if c.PingTimeout == 0 {
		c.PingTimeout = 15 * time.Second
	}
	if c.MaxConcurrentStreams == 0 {
		c.MaxConcurrentStreams = 1000
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 90 * time.Second
	}
}

// Handler receives one stream's events. The methods run inside Conn's Feed,
// Tick, Close or NewStream (whoever drives the Conn holds it): they must not
// block, and may call the Stream's and Conn's methods.
type Handler interface {
	// Response is the final response head (1xx interim heads are skipped).
	// The slice is valid only during the call.
	OnResponse(s *Stream, status int, header []hpack.HeaderField)
	// Data is response body bytes, valid only during the call. The window
	// opens again only as the consumer calls s.Consume.
	OnData(s *Stream, p []byte)
	// Trailers is the trailer section (after the last Data), valid only
	// during the call.
	OnTrailers(s *Stream, trailer []hpack.HeaderField)
	// Writable says the stream's send window opened after a Write that
	// could not take everything.
	OnWritable(s *Stream)
	// End runs once: err nil after a complete response, else why the stream
	// ended (ErrRefused, ErrConnClosed, *StreamError, ErrProtocol, …).
	OnEnd(s *Stream, err error)
}

// Request is what NewStream sends as the HEADERS of a new stream.
type Request struct {
	Method    string
	Scheme    string // "https" or "http"
	Authority string // host[:port]
	Path      string // path and query, "/…" (or "*" for OPTIONS)
	// Header: regular fields. Names are sent lower-cased; connection-specific
	// fields (Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding,
	// Upgrade, Host) are dropped as RFC 9113 §8.2.2 requires, and TE is kept
	// only as "trailers".
	Header []hpack.HeaderField
	// NoBody ends the stream with the HEADERS (no DATA follows).
	NoBody bool
}

// Conn is one HTTP/2 client connection as a state machine over bytes. It is
// not safe for concurrent use: one goroutine at a time (a lock held by the
// driver) calls its methods, and the Handler callbacks run inside them.
type Conn struct {
	cfg Config
	fr  *http2.Framer
	out bytes.Buffer // frames to send
	in  sliceReader  // the frame Feed is reading

	henc *hpack.Encoder
	hbuf bytes.Buffer

	streams map[uint32]*Stream
	nextID  uint32

	// What the backend allows (its SETTINGS).
	peerMaxStreams  uint32
	peerInitWindow  int64
	peerMaxFrame    uint32
	sendWindow      int64 // connection send window
	recvWindow      int64 // connection receive window left
	recvUnacked     int64 // consumed, not yet returned by WINDOW_UPDATE
	sawSettings     bool
	goAway          bool // received GOAWAY (or sent one)
	goAwayLast      uint32
	err             error // the connection failed (terminal)
	lastRead        time.Time
	pingSent        time.Time // zero: no PING outstanding
	pingData        [8]byte
	pingSeq         uint64
	blockedWriters  int
	closedOnPurpose bool
	idleSince       time.Time // Tick saw no open stream since then
}

// NewConn starts a connection: the client preface, SETTINGS and the
// connection window update are queued as the first output.
func NewConn(cfg Config, now time.Time) *Conn {
	cfg.defaults()
	c := &Conn{cfg: cfg, streams: map[uint32]*Stream{}, nextID: 1,
		peerMaxStreams: 100, peerInitWindow: 65535, peerMaxFrame: 16384,
		sendWindow: 65535, recvWindow: int64(cfg.ConnWindow), lastRead: now}
	c.fr = http2.NewFramer(&c.out, &c.in)
	c.fr.SetMaxReadFrameSize(1 << 14)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.fr.MaxHeaderListSize = cfg.MaxHeaderListSize
	c.henc = hpack.NewEncoder(&c.hbuf)
	c.out.WriteString(http2.ClientPreface)
	c.fr.WriteSettings(
		http2.Setting{ID: http2.SettingEnablePush, Val: 0},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: cfg.StreamWindow},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: cfg.MaxHeaderListSize},
		http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 0}, // no pushes, so no server-initiated streams
	)
	if inc := cfg.ConnWindow - 65535; inc > 0 {
		c.fr.WriteWindowUpdate(0, inc)
	}
	return c
}

// Err is why the connection failed, or nil while it is usable.
func (c *Conn) Err() error { return c.err }

// Active is the number of open streams.
func (c *Conn) Active() int { return len(c.streams) }

// CanTakeStream reports whether NewStream would succeed now.
func (c *Conn) CanTakeStream() bool {
	return c.err == nil && !c.goAway && uint32(len(c.streams)) < c.maxStreams() && c.nextID < 1<<31
}

// Done reports whether the connection has nothing left to do: it failed, or
// it is going away and its last stream ended.
func (c *Conn) Done() bool {
	return c.err != nil || c.goAway && len(c.streams) == 0
}

func (c *Conn) maxStreams() uint32 {
	if c.peerMaxStreams < c.cfg.MaxConcurrentStreams {
		return c.peerMaxStreams
	}
	return c.cfg.MaxConcurrentStreams
}

// Buffered is the number of output bytes not yet taken.
func (c *Conn) Buffered() int { return c.out.Len() }

// TakeOutput appends the pending output to dst and forgets it.
func (c *Conn) TakeOutput(dst []byte) []byte {
	dst = append(dst, c.out.Bytes()...)
	c.out.Reset()
	return dst
}

// Feed consumes the complete frames at the start of b and returns how many
// bytes it used; the caller keeps the rest and calls Feed again with more.
// A returned error is terminal (the connection failed: Err says the same);
// the GOAWAY for it is in the output.
func (c *Conn) Feed(b []byte, now time.Time) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	used := 0
	for c.err == nil {
		n := c.frameSpan(b[used:])
		if n == 0 {
			break
		}
		c.lastRead = now
		c.in.b = b[used : used+n]
		used += n
		f, err := c.fr.ReadFrame()
		if err != nil {
			c.readError(err)
			break
		}
		c.in.b = nil
		c.handle(f)
		if c.out.Len() > c.cfg.MaxOutput {
			c.fail(ErrOutputFull, http2.ErrCodeEnhanceYourCalm)
		}
	}
	if c.err != nil {
		return used, c.err
	}
	return used, nil
}

// frameSpan is the length of the next complete frame in b (a HEADERS frame
// with all its CONTINUATION frames, which the Framer reads as one), or 0 if
// b does not hold it all yet. An oversized frame is left to the Framer,
// which reports it.
func (c *Conn) frameSpan(b []byte) int {
	total := 0
	first := true
	for {
		if len(b)-total < 9 {
			return 0
		}
		h := b[total:]
		length := int(h[0])<<16 | int(h[1])<<8 | int(h[2])
		typ, flags := http2.FrameType(h[3]), http2.Flags(h[4])
		if length > 1<<14 {
			// Too large for what we announced: let the Framer say so.
			if len(b)-total < 9 {
				return 0
			}
			return total + 9
		}
		if len(b)-total < 9+length {
			return 0
		}
		total += 9 + length
		if first && typ != http2.FrameHeaders {
			return total
		}
		if !first && typ != http2.FrameContinuation {
			// Not a continuation: the Framer reports the broken sequence.
			return total
		}
		first = false
		if flags.Has(http2.FlagHeadersEndHeaders) {
			return total
		}
		if total > int(c.cfg.MaxHeaderListSize)+(1<<14) {
			// A header block past any bound: hand it over, the Framer's
			// size check refuses it.
			return total
		}
	}
}

func (c *Conn) readError(err error) {
	var se http2.StreamError
	if errors.As(err, &se) {
		if s := c.streams[se.StreamID]; s != nil {
			c.resetStream(s, se.Code, fmt.Errorf("%w: %v", ErrProtocol, se))
		} else {
			c.fr.WriteRSTStream(se.StreamID, se.Code)
		}
		c.in.b = nil
		return
	}
	var ce http2.ConnectionError
	code := http2.ErrCodeProtocol
	if errors.As(err, &ce) {
		code = http2.ErrCode(ce)
	} else if errors.Is(err, http2.ErrFrameTooLarge) {
		code = http2.ErrCodeFrameSize
	}
	detail := err.Error()
	if d := c.fr.ErrorDetail(); d != nil {
		detail += ": " + d.Error()
	}
	c.fail(protoErr(code, "%s", detail), code)
}

// fail ends the connection: GOAWAY out, every stream ended with err.
func (c *Conn) fail(err error, code http2.ErrCode) {
	if c.err != nil {
		return
	}
	c.err = err
	c.goAway = true
	if code != http2.ErrCodeNo || !errors.Is(err, ErrConnClosed) {
		c.fr.WriteGoAway(0, code, nil)
	}
	c.endAll(err, 0)
}

// endAll ends the streams with an id above after (0: all) with err.
func (c *Conn) endAll(err error, after uint32) {
	for id, s := range c.streams {
		if id > after {
			c.endStream(s, err)
		}
	}
}

// Close ends the connection from this side (GOAWAY NO_ERROR); open streams
// end with ErrConnClosed.
func (c *Conn) Close() {
	if c.err != nil {
		return
	}
	c.closedOnPurpose = true
	c.err = ErrConnClosed
	c.goAway = true
	c.fr.WriteGoAway(0, http2.ErrCodeNo, nil)
	c.endAll(ErrConnClosed, 0)
}

// Lost tells the Conn its transport is gone (EOF, reset): every stream ends
// with ErrConnClosed wrapping cause.
func (c *Conn) Lost(cause error) {
	if c.err != nil {
		return
	}
	if cause == nil {
		cause = errors.New("EOF")
	}
	c.err = fmt.Errorf("%w: %v", ErrConnClosed, cause)
	c.goAway = true
	c.endAll(c.err, 0)
}

// Tick runs the timers: the idle close (IdleTimeout), and the keepalive —
// a PING after PingInterval of silence, and a failed connection
// (ErrPingTimeout) when its ACK is PingTimeout late. Call it about once a
// second.
func (c *Conn) Tick(now time.Time) {
	if c.err != nil {
		return
	}
	switch {
	case len(c.streams) > 0:
		c.idleSince = time.Time{}
	case c.idleSince.IsZero():
		c.idleSince = now
	case c.cfg.IdleTimeout > 0 && now.Sub(c.idleSince) >= c.cfg.IdleTimeout:
		c.Close()
		return
	}
	if c.cfg.PingInterval < 0 {
		return
	}
	if !c.pingSent.IsZero() {
		if now.Sub(c.pingSent) > c.cfg.PingTimeout {
			c.fail(ErrPingTimeout, http2.ErrCodeNo)
		}
		return
	}
	if now.Sub(c.lastRead) >= c.cfg.PingInterval {
		c.Ping(now)
	}
}

// Ping sends a PING now (unless one is outstanding).
func (c *Conn) Ping(now time.Time) {
	if c.err != nil || !c.pingSent.IsZero() {
		return
	}
	c.pingSeq++
	for i := range 8 {
		c.pingData[i] = byte(c.pingSeq >> (8 * i))
	}
	c.pingSent = now
	c.fr.WritePing(false, c.pingData)
}

// NewStream opens a stream for req with h receiving its events. It fails
// with ErrGoingAway, ErrStreamLimit or the connection's error.
func (c *Conn) NewStream(req Request, h Handler) (*Stream, error) {
	if c.err != nil {
		return nil, c.err
	}
	if c.goAway || c.nextID >= 1<<31 {
		return nil, ErrGoingAway
	}
	if uint32(len(c.streams)) >= c.maxStreams() {
		return nil, ErrStreamLimit
	}
	s := &Stream{c: c, id: c.nextID, h: h, sendWindow: c.peerInitWindow,
		recvWindow: int64(c.cfg.StreamWindow), sentEnd: req.NoBody, reqContentLength: -1, respContentLength: -1}
	c.nextID += 2
	c.hbuf.Reset()
	enc := func(name, value string) { c.henc.WriteField(hpack.HeaderField{Name: name, Value: value}) }
	enc(":method", req.Method)
	if req.Method != "CONNECT" {
		scheme := req.Scheme
		if scheme == "" {
			scheme = "https"
		}
		enc(":scheme", scheme)
	}
	enc(":authority", req.Authority)
	if req.Method != "CONNECT" {
		path := req.Path
		if path == "" {
			path = "/"
		}
		enc(":path", path)
	}
	for _, f := range req.Header {
		name := strings.ToLower(f.Name)
		switch name {
		case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "host":
			continue
		case "te":
			if !strings.EqualFold(strings.TrimSpace(f.Value), "trailers") {
				continue
			}
			f.Value = "trailers"
		case "content-length":
			if n, err := strconv.ParseInt(f.Value, 10, 64); err == nil {
				s.reqContentLength = n
			}
		}
		if name == "" || name[0] == ':' {
			continue
		}
		c.henc.WriteField(hpack.HeaderField{Name: name, Value: f.Value, Sensitive: f.Sensitive})
	}
	c.writeHeaderBlock(s.id, req.NoBody, c.hbuf.Bytes())
	c.streams[s.id] = s
	return s, nil
}

// writeHeaderBlock sends a header block as HEADERS and CONTINUATION frames
// no larger than the backend's max frame size.
func (c *Conn) writeHeaderBlock(id uint32, end bool, block []byte) {
	max := int(c.peerMaxFrame)
	first := block
	if len(first) > max {
		first = first[:max]
	}
	block = block[len(first):]
	c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: first, EndStream: end, EndHeaders: len(block) == 0})
	for len(block) > 0 {
		frag := block
		if len(frag) > max {
			frag = frag[:max]
		}
		block = block[len(frag):]
		c.fr.WriteContinuation(id, len(block) == 0, frag)
	}
}

func (c *Conn) handle(f http2.Frame) {
	switch f := f.(type) {
	case *http2.SettingsFrame:
		c.onSettings(f)
	case *http2.MetaHeadersFrame:
		c.onHeaders(f)
	case *http2.DataFrame:
		c.onData(f)
	case *http2.WindowUpdateFrame:
		c.onWindowUpdate(f)
	case *http2.PingFrame:
		if f.IsAck() {
			if !c.pingSent.IsZero() && f.Data == c.pingData {
				c.pingSent = time.Time{}
			}
			return
		}
		c.fr.WritePing(true, f.Data)
	case *http2.RSTStreamFrame:
		s := c.streams[f.StreamID]
		if s == nil {
			if f.StreamID >= c.nextID {
				c.fail(protoErr(http2.ErrCodeProtocol, "RST_STREAM for idle stream %d", f.StreamID), http2.ErrCodeProtocol)
			}
			return
		}
		var err error
		switch {
		case f.ErrCode == http2.ErrCodeRefusedStream:
			err = ErrRefused
		case f.ErrCode == http2.ErrCodeNo && s.recvEnd:
			err = nil // the response was complete; the backend wants no more of the request
		default:
			err = &StreamError{Code: f.ErrCode}
		}
		c.endStream(s, err)
	case *http2.GoAwayFrame:
		c.goAway = true
		c.goAwayLast = f.LastStreamID
		// Streams the backend will not process: safe to send elsewhere.
		c.endAll(ErrRefused, f.LastStreamID)
	case *http2.PushPromiseFrame:
		c.fail(protoErr(http2.ErrCodeProtocol, "PUSH_PROMISE although SETTINGS_ENABLE_PUSH is 0"), http2.ErrCodeProtocol)
	default:
		// PRIORITY, PRIORITY_UPDATE and unknown frame types are ignored.
	}
}

func (c *Conn) onSettings(f *http2.SettingsFrame) {
	if f.IsAck() {
		return
	}
	err := f.ForeachSetting(func(s http2.Setting) error {
		if err := s.Valid(); err != nil {
			return err
		}
		switch s.ID {
		case http2.SettingMaxConcurrentStreams:
			c.peerMaxStreams = s.Val
		case http2.SettingInitialWindowSize:
			delta := int64(s.Val) - c.peerInitWindow
			c.peerInitWindow = int64(s.Val)
			for _, st := range c.streams {
				st.sendWindow += delta
				if st.sendWindow > 1<<31-1 {
					return http2.ConnectionError(http2.ErrCodeFlowControl)
				}
				if delta > 0 && st.sendWindow > 0 && st.blocked {
					st.unblock()
				}
			}
		case http2.SettingMaxFrameSize:
			c.peerMaxFrame = s.Val
		case http2.SettingHeaderTableSize:
			c.henc.SetMaxDynamicTableSizeLimit(s.Val)
		}
		return nil
	})
	if err != nil {
		c.readError(err)
		return
	}
	c.sawSettings = true
	c.fr.WriteSettingsAck()
}

func (c *Conn) onHeaders(f *http2.MetaHeadersFrame) {
	s := c.streams[f.StreamID]
	if s == nil {
		if f.StreamID%2 == 0 || f.StreamID >= c.nextID {
			c.fail(protoErr(http2.ErrCodeProtocol, "HEADERS for stream %d, which this client did not open", f.StreamID), http2.ErrCodeProtocol)
			return
		}
		return // a stream we already reset: the block was decoded, HPACK stays in sync
	}
	if f.Truncated {
		c.resetStream(s, http2.ErrCodeCancel, ErrHeaderListTooLarge)
		return
	}
	if s.recvEnd {
		c.resetStream(s, http2.ErrCodeStreamClosed, fmt.Errorf("%w: HEADERS after the end of stream %d", ErrProtocol, s.id))
		return
	}
	if s.gotResponse {
		// Trailers: they end the stream and carry no pseudo-headers.
		if !f.StreamEnded() || len(f.PseudoFields()) > 0 {
			c.resetStream(s, http2.ErrCodeProtocol, fmt.Errorf("%w: trailers without END_STREAM or with pseudo-headers", ErrProtocol))
			return
		}
		s.h.OnTrailers(s, f.RegularFields())
		c.remoteEnded(s)
		return
	}
	status, err := strconv.Atoi(f.PseudoValue("status"))
	if err != nil || status < 100 || status > 999 || len(f.PseudoValue("status")) != 3 {
		c.resetStream(s, http2.ErrCodeProtocol, fmt.Errorf("%w: response without a valid :status", ErrProtocol))
		return
	}
	if status < 200 {
		if status == 101 || f.StreamEnded() {
			c.resetStream(s, http2.ErrCodeProtocol, fmt.Errorf("%w: interim status %d", ErrProtocol, status))
		}
		return // 100, 103: interim heads are not passed on
	}
	for _, hf := range f.RegularFields() {
		if hf.Name == "content-length" {
			if n, err := strconv.ParseInt(hf.Value, 10, 64); err == nil && n >= 0 {
				s.respContentLength = n
			} else {
				c.resetStream(s, http2.ErrCodeProtocol, fmt.Errorf("%w: invalid content-length %q", ErrProtocol, hf.Value))
				return
			}
		}
	}
	s.gotResponse = true
	s.headEnded = f.StreamEnded()
	s.h.OnResponse(s, status, f.RegularFields())
	if s.done {
		return
	}
	if f.StreamEnded() {
		c.remoteEnded(s)
	}
}

func (c *Conn) onData(f *http2.DataFrame) {
	n := int64(f.Length)
	if n > c.recvWindow {
		c.fail(protoErr(http2.ErrCodeFlowControl, "DATA beyond the connection window"), http2.ErrCodeFlowControl)
		return
	}
	c.recvWindow -= n
	s := c.streams[f.StreamID]
	if s == nil {
		if f.StreamID%2 == 0 || f.StreamID >= c.nextID {
			c.fail(protoErr(http2.ErrCodeProtocol, "DATA for stream %d, which this client did not open", f.StreamID), http2.ErrCodeProtocol)
			return
		}
		c.returnConn(n) // a stream already gone: its bytes count only against the connection
		return
	}
	if n > s.recvWindow {
		c.returnConn(n)
		c.resetStream(s, http2.ErrCodeFlowControl, fmt.Errorf("%w: DATA beyond the stream window", ErrProtocol))
		return
	}
	if !s.gotResponse || s.recvEnd {
		c.returnConn(n)
		c.resetStream(s, http2.ErrCodeProtocol, fmt.Errorf("%w: DATA before the response head or after the end", ErrProtocol))
		return
	}
	s.recvWindow -= n
	data := f.Data()
	// Padding counts against the windows but never reaches the consumer:
	// return it at once.
	if pad := n - int64(len(data)); pad > 0 {
		s.returnStream(pad)
		c.returnConn(pad)
	}
	s.received += int64(len(data))
	if s.respContentLength >= 0 && s.received > s.respContentLength {
		c.resetStream(s, http2.ErrCodeProtocol, fmt.Errorf("%w: more DATA than content-length", ErrProtocol))
		return
	}
	if len(data) > 0 {
		s.h.OnData(s, data)
		if s.done {
			return
		}
	}
	if f.StreamEnded() {
		if s.respContentLength >= 0 && s.received != s.respContentLength {
			c.resetStream(s, http2.ErrCodeProtocol, fmt.Errorf("%w: less DATA than content-length", ErrProtocol))
			return
		}
		c.remoteEnded(s)
	}
}

func (c *Conn) onWindowUpdate(f *http2.WindowUpdateFrame) {
	inc := int64(f.Increment)
	if f.StreamID == 0 {
		c.sendWindow += inc
		if c.sendWindow > 1<<31-1 {
			c.fail(protoErr(http2.ErrCodeFlowControl, "connection window above 2^31-1"), http2.ErrCodeFlowControl)
			return
		}
		if c.blockedWriters > 0 {
			for _, s := range c.streams {
				if s.blocked && s.sendWindow > 0 {
					s.unblock()
				}
				if c.sendWindow <= 0 || c.err != nil {
					break
				}
			}
		}
		return
	}
	s := c.streams[f.StreamID]
	if s == nil {
		return
	}
	s.sendWindow += inc
	if s.sendWindow > 1<<31-1 {
		c.resetStream(s, http2.ErrCodeFlowControl, fmt.Errorf("%w: stream window above 2^31-1", ErrProtocol))
		return
	}
	if s.blocked && c.sendWindow > 0 {
		s.unblock()
	}
}

// remoteEnded: the backend finished the response.
func (c *Conn) remoteEnded(s *Stream) {
	s.recvEnd = true
	if !s.sentEnd {
		// The answer is complete before the request body was through: the
		// rest of the body is not wanted (RFC 9113 §8.1).
		c.fr.WriteRSTStream(s.id, http2.ErrCodeCancel)
		s.sentEnd = true
	}
	c.endStream(s, nil)
}

// resetStream sends RST_STREAM code and ends s with err.
func (c *Conn) resetStream(s *Stream, code http2.ErrCode, err error) {
	if s.done {
		return
	}
	c.fr.WriteRSTStream(s.id, code)
	c.endStream(s, err)
}

func (c *Conn) endStream(s *Stream, err error) {
	if s.done {
		return
	}
	s.done = true
	if s.blocked {
		s.blocked = false
		c.blockedWriters--
	}
	delete(c.streams, s.id)
	// Body bytes the consumer still holds go on counting against the
	// connection window until it Consumes them (Consume works after End).
	s.h.OnEnd(s, err)
}

func (c *Conn) returnConn(n int64) {
	if c.err != nil {
		return
	}
	c.recvUnacked += n
	if c.recvUnacked >= int64(c.cfg.ConnWindow)/4 {
		c.fr.WriteWindowUpdate(0, uint32(c.recvUnacked))
		c.recvWindow += c.recvUnacked
		c.recvUnacked = 0
	}
}

// sliceReader reads one frame's bytes for the Framer.
type sliceReader struct{ b []byte }

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, errNeedMore
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// errNeedMore is what the Framer sees if it reads past the span frameSpan
// measured (it cannot: the span holds whole frames).
var errNeedMore = errors.New("h2client: incomplete frame")
