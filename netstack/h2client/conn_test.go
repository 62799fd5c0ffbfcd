package h2client

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// peer is a scripted HTTP/2 server for the sans-IO tests: it reads what the
// Conn wrote with its own Framer and writes frames that are fed to the Conn.
type peer struct {
	t     testing.TB
	c     *Conn
	now   time.Time
	in    bytes.Buffer // Conn → peer
	out   bytes.Buffer // peer → Conn
	fr    *http2.Framer
	henc  *hpack.Encoder
	hbuf  bytes.Buffer
	read  []http2.Frame
	ended map[uint32]error
}

func newPeer(t testing.TB, cfg Config) *peer {
	p := &peer{t: t, now: time.Unix(1000, 0), ended: map[uint32]error{}}
	p.c = NewConn(cfg, p.now)
	p.fr = http2.NewFramer(&p.out, &p.in)
	p.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	p.henc = hpack.NewEncoder(&p.hbuf)
	return p
}

// drain reads every frame the Conn wrote (the preface first) into p.read.
func (p *peer) drain() []http2.Frame {
	p.in.Write(p.c.TakeOutput(nil))
	if bytes.HasPrefix(p.in.Bytes(), []byte(http2.ClientPreface)) {
		p.in.Next(len(http2.ClientPreface))
	}
	var got []http2.Frame
	for p.in.Len() > 0 {
		f, err := p.fr.ReadFrame()
		if err != nil {
			p.t.Fatalf("peer: reading the client's frames: %v", err)
		}
		got = append(got, copyFrame(f))
	}
	p.read = append(p.read, got...)
	return got
}

// copyFrame keeps what the tests look at of a frame past the next read.
func copyFrame(f http2.Frame) http2.Frame {
	if d, ok := f.(*http2.DataFrame); ok {
		return &dataCopy{id: d.StreamID, data: append([]byte(nil), d.Data()...), end: d.StreamEnded()}
	}
	return f
}

type dataCopy struct {
	http2.Frame
	id   uint32
	data []byte
	end  bool
}

// feed gives the Conn what the peer wrote.
func (p *peer) feed() error {
	b := p.out.Bytes()
	n, err := p.c.Feed(b, p.now)
	p.out.Next(n)
	return err
}

func (p *peer) settings(s ...http2.Setting) {
	p.fr.WriteSettings(s...)
	p.feed()
}

func (p *peer) headers(id uint32, end bool, fields ...string) {
	p.hbuf.Reset()
	for i := 0; i+1 < len(fields); i += 2 {
		p.henc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: p.hbuf.Bytes(), EndStream: end, EndHeaders: true})
}

// rec is a Handler that records what happened.
type rec struct {
	status   int
	header   []hpack.HeaderField
	body     bytes.Buffer
	trailer  []hpack.HeaderField
	writable int
	ends     int
	err      error
	consume  bool
}

func (r *rec) OnResponse(s *Stream, status int, h []hpack.HeaderField) {
	r.status, r.header = status, append([]hpack.HeaderField(nil), h...)
}
func (r *rec) OnData(s *Stream, p []byte) {
	r.body.Write(p)
	if r.consume {
		s.Consume(len(p))
	}
}
func (r *rec) OnTrailers(s *Stream, t []hpack.HeaderField) {
	r.trailer = append([]hpack.HeaderField(nil), t...)
}
func (r *rec) OnWritable(s *Stream) { r.writable++ }
func (r *rec) OnEnd(s *Stream, err error) {
	r.ends++
	r.err = err
}

func get(path string) Request {
	return Request{Method: "GET", Scheme: "https", Authority: "backend.test", Path: path, NoBody: true}
}

func TestHandshakeAndSettings(t *testing.T) {
	p := newPeer(t, Config{StreamWindow: 1 << 20, ConnWindow: 8 << 20})
	out := p.c.TakeOutput(nil)
	if !bytes.HasPrefix(out, []byte(http2.ClientPreface)) {
		t.Fatalf("output does not start with the client preface: %q", out[:24])
	}
	p.in.Write(out)
	p.in.Next(len(http2.ClientPreface))
	f, _ := p.fr.ReadFrame()
	sf, ok := f.(*http2.SettingsFrame)
	if !ok || sf.IsAck() {
		t.Fatalf("first frame %v, want SETTINGS", f)
	}
	if v, _ := sf.Value(http2.SettingEnablePush); v != 0 {
		t.Errorf("ENABLE_PUSH %d, want 0", v)
	}
	if v, _ := sf.Value(http2.SettingInitialWindowSize); v != 1<<20 {
		t.Errorf("INITIAL_WINDOW_SIZE %d", v)
	}
	f, _ = p.fr.ReadFrame()
	if wu, ok := f.(*http2.WindowUpdateFrame); !ok || wu.StreamID != 0 || wu.Increment != 8<<20-65535 {
		t.Fatalf("second frame %v, want the connection WINDOW_UPDATE", f)
	}
	p.settings(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1 << 15})
	got := p.drain()
	if len(got) != 1 || !got[0].(*http2.SettingsFrame).IsAck() {
		t.Fatalf("after the server's SETTINGS: %v, want one SETTINGS ACK", got)
	}
}

// TestConcurrencyLimit: the backend's MAX_CONCURRENT_STREAMS is respected.
func TestConcurrencyLimit(t *testing.T) {
	p := newPeer(t, Config{})
	p.drain()
	p.settings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 2})
	r1, r2 := &rec{}, &rec{}
	if _, err := p.c.NewStream(get("/1"), r1); err != nil {
		t.Fatal(err)
	}
	if _, err := p.c.NewStream(get("/2"), r2); err != nil {
		t.Fatal(err)
	}
	if p.c.CanTakeStream() {
		t.Error("CanTakeStream with 2 of 2 streams open")
	}
	if _, err := p.c.NewStream(get("/3"), &rec{}); !errors.Is(err, ErrStreamLimit) {
		t.Fatalf("third stream: %v, want ErrStreamLimit", err)
	}
	p.headers(1, true, ":status", "204")
	p.feed()
	if r1.ends != 1 || r1.err != nil || r1.status != 204 {
		t.Fatalf("stream 1: %+v", r1)
	}
	if _, err := p.c.NewStream(get("/3"), &rec{}); err != nil {
		t.Fatalf("after one ended: %v", err)
	}
}

// TestSendFlowControl: request bodies go out no faster than the windows
// allow, in frames no larger than the backend's max frame size, and
// Writable says when to go on.
func TestSendFlowControl(t *testing.T) {
	p := newPeer(t, Config{})
	p.drain()
	p.settings()
	p.drain()
	r := &rec{}
	s, err := p.c.NewStream(Request{Method: "POST", Authority: "b", Path: "/up"}, r)
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("x"), 100000)
	n := s.Write(body, true)
	if n != 65535 {
		t.Fatalf("first Write took %d, want the default window 65535", n)
	}
	sent := 0
	for _, f := range p.drain() {
		if d, ok := f.(*dataCopy); ok {
			if len(d.data) > 16384 {
				t.Errorf("DATA frame of %d bytes, above the max frame size", len(d.data))
			}
			if d.end {
				t.Error("END_STREAM before the whole body")
			}
			sent += len(d.data)
		}
	}
	if sent != 65535 {
		t.Fatalf("%d bytes of DATA sent, want 65535", sent)
	}
	p.fr.WriteWindowUpdate(s.ID(), 50000)
	p.feed()
	if r.writable != 0 {
		t.Error("Writable with the connection window still closed")
	}
	p.fr.WriteWindowUpdate(0, 50000)
	p.feed()
	if r.writable != 1 {
		t.Fatalf("Writable ran %d times after both windows opened", r.writable)
	}
	if n := s.Write(body[65535:], true); n != 100000-65535 {
		t.Fatalf("second Write took %d", n)
	}
	last := p.drain()
	if d, ok := last[len(last)-1].(*dataCopy); !ok || !d.end {
		t.Errorf("last frame %v, want DATA with END_STREAM", last[len(last)-1])
	}
}

// TestRecvFlowControl: the backend may not send past the stream window;
// consumed bytes are returned by WINDOW_UPDATE.
func TestRecvFlowControl(t *testing.T) {
	p := newPeer(t, Config{StreamWindow: 65536})
	p.drain()
	p.settings()
	p.drain()
	r := &rec{}
	s, _ := p.c.NewStream(get("/down"), r)
	p.drain()
	p.headers(1, false, ":status", "200")
	p.fr.WriteData(1, false, make([]byte, 16384))
	p.fr.WriteData(1, false, make([]byte, 16384))
	p.feed()
	if r.body.Len() != 32768 {
		t.Fatalf("got %d body bytes", r.body.Len())
	}
	if got := p.drain(); len(got) != 0 {
		t.Fatalf("WINDOW_UPDATE before anything was consumed: %v", got)
	}
	s.Consume(32768)
	var sawStream bool
	for _, f := range p.drain() {
		if wu, ok := f.(*http2.WindowUpdateFrame); ok && wu.StreamID == 1 && wu.Increment == 32768 {
			sawStream = true
		}
	}
	if !sawStream {
		t.Fatal("no stream WINDOW_UPDATE after Consume")
	}
	// Past the window (65536 - 32768 + 32768 returned = 65536 left): 5 × 16384 is too much.
	for i := 0; i < 5; i++ {
		p.fr.WriteData(1, false, make([]byte, 16384))
	}
	p.feed()
	if !errors.Is(r.err, ErrProtocol) {
		t.Fatalf("stream past its window ended with %v, want ErrProtocol", r.err)
	}
	var rst *http2.RSTStreamFrame
	for _, f := range p.drain() {
		if f, ok := f.(*http2.RSTStreamFrame); ok {
			rst = f
		}
	}
	if rst == nil || rst.ErrCode != http2.ErrCodeFlowControl {
		t.Fatalf("RST_STREAM %v, want FLOW_CONTROL_ERROR", rst)
	}
	if p.c.Err() != nil {
		t.Fatalf("a stream's flow-control error failed the connection: %v", p.c.Err())
	}
}

// TestGoAway: streams above the last id are refused (safe to retry), the
// others complete, and then the connection is done.
func TestGoAway(t *testing.T) {
	p := newPeer(t, Config{})
	p.drain()
	p.settings()
	rs := []*rec{{}, {}, {}}
	for i, r := range rs {
		if _, err := p.c.NewStream(get(fmt.Sprint("/", i)), r); err != nil {
			t.Fatal(err)
		}
	}
	p.fr.WriteGoAway(3, http2.ErrCodeNo, nil)
	p.feed()
	if !errors.Is(rs[2].err, ErrRefused) || rs[2].ends != 1 {
		t.Fatalf("stream 5 after GOAWAY(3): %+v, want ErrRefused", rs[2])
	}
	if rs[0].ends+rs[1].ends != 0 {
		t.Fatal("streams 1 and 3 ended by a GOAWAY that covers them")
	}
	if p.c.CanTakeStream() {
		t.Error("CanTakeStream after GOAWAY")
	}
	if _, err := p.c.NewStream(get("/x"), &rec{}); !errors.Is(err, ErrGoingAway) {
		t.Errorf("NewStream after GOAWAY: %v", err)
	}
	p.headers(1, true, ":status", "200")
	p.headers(3, true, ":status", "200")
	p.feed()
	if rs[0].err != nil || rs[1].err != nil || !p.c.Done() {
		t.Fatalf("after the last streams: %v %v done=%t", rs[0].err, rs[1].err, p.c.Done())
	}
}

func TestReset(t *testing.T) {
	for _, tc := range []struct {
		code http2.ErrCode
		want error
	}{
		{http2.ErrCodeRefusedStream, ErrRefused},
		{http2.ErrCodeCancel, &StreamError{}},
		{http2.ErrCodeInternal, &StreamError{}},
	} {
		p := newPeer(t, Config{})
		p.drain()
		p.settings()
		r := &rec{}
		p.c.NewStream(get("/"), r)
		p.fr.WriteRSTStream(1, tc.code)
		p.feed()
		var se *StreamError
		switch want := tc.want.(type) {
		case *StreamError:
			if !errors.As(r.err, &se) || se.Code != tc.code {
				t.Errorf("RST_STREAM %v: %v", tc.code, r.err)
			}
		default:
			if !errors.Is(r.err, want) {
				t.Errorf("RST_STREAM %v: %v, want %v", tc.code, r.err, want)
			}
		}
		if p.c.Err() != nil || p.c.Active() != 0 {
			t.Errorf("RST_STREAM %v: connection %v, %d active", tc.code, p.c.Err(), p.c.Active())
		}
	}
}

// TestTrailers: HEADERS, DATA, trailing HEADERS with END_STREAM.
func TestTrailers(t *testing.T) {
	p := newPeer(t, Config{})
	p.drain()
	p.settings()
	r := &rec{consume: true}
	p.c.NewStream(get("/"), r)
	p.headers(1, false, ":status", "200", "content-type", "application/grpc")
	p.fr.WriteData(1, false, []byte("msg"))
	p.headers(1, true, "grpc-status", "0", "grpc-message", "ok")
	p.feed()
	if r.err != nil || r.status != 200 || r.body.String() != "msg" {
		t.Fatalf("%+v", r)
	}
	if len(r.trailer) != 2 || r.trailer[0].Name != "grpc-status" || r.trailer[0].Value != "0" {
		t.Fatalf("trailers %v", r.trailer)
	}
	// Trailers without END_STREAM are a protocol error.
	r2 := &rec{}
	p.c.NewStream(get("/"), r2)
	p.headers(3, false, ":status", "200")
	p.headers(3, false, "grpc-status", "0")
	p.feed()
	if !errors.Is(r2.err, ErrProtocol) {
		t.Fatalf("trailers without END_STREAM: %v", r2.err)
	}
}

// TestPing: a PING is answered; keepalive PINGs go out after silence and an
// unanswered one fails the connection.
func TestPing(t *testing.T) {
	p := newPeer(t, Config{PingInterval: 10 * time.Second, PingTimeout: 5 * time.Second})
	p.drain()
	p.settings()
	p.drain()
	p.fr.WritePing(false, [8]byte{1, 2, 3, 4, 5, 6, 7, 8})
	p.feed()
	got := p.drain()
	if pf, ok := got[0].(*http2.PingFrame); !ok || !pf.IsAck() || pf.Data != [8]byte{1, 2, 3, 4, 5, 6, 7, 8} {
		t.Fatalf("answer to PING: %v", got)
	}
	p.c.Tick(p.now.Add(5 * time.Second))
	if len(p.drain()) != 0 {
		t.Fatal("PING before the interval")
	}
	p.c.Tick(p.now.Add(11 * time.Second))
	got = p.drain()
	pf, ok := got[0].(*http2.PingFrame)
	if !ok || pf.IsAck() {
		t.Fatalf("keepalive: %v, want PING", got)
	}
	p.fr.WritePing(true, pf.Data)
	p.feed()
	p.c.Tick(p.now.Add(30 * time.Second))
	if p.c.Err() != nil {
		t.Fatalf("answered PING: %v", p.c.Err())
	}
	p.drain() // the next keepalive PING
	r := &rec{}
	p.c.NewStream(get("/"), r)
	p.c.Tick(p.now.Add(40 * time.Second))
	if !errors.Is(p.c.Err(), ErrPingTimeout) || !errors.Is(r.err, ErrPingTimeout) {
		t.Fatalf("unanswered PING: conn %v, stream %v", p.c.Err(), r.err)
	}
}

// TestContinuationInPieces: a header block split over HEADERS and
// CONTINUATION frames, fed one byte at a time.
func TestContinuationInPieces(t *testing.T) {
	p := newPeer(t, Config{})
	p.drain()
	p.settings()
	r := &rec{}
	p.c.NewStream(get("/"), r)
	p.hbuf.Reset()
	p.henc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
	p.henc.WriteField(hpack.HeaderField{Name: "x-long", Value: strings.Repeat("v", 3000)})
	block := p.hbuf.Bytes()
	p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block[:1000], EndStream: true})
	p.fr.WriteContinuation(1, false, block[1000:2000])
	p.fr.WriteContinuation(1, true, block[2000:])
	all := p.out.Bytes()
	var buf []byte
	for _, b := range all {
		buf = append(buf, b)
		n, err := p.c.Feed(buf, p.now)
		if err != nil {
			t.Fatal(err)
		}
		buf = buf[n:]
	}
	p.out.Reset()
	if r.status != 200 || r.ends != 1 || len(r.header) != 1 || len(r.header[0].Value) != 3000 {
		t.Fatalf("%+v", r)
	}
}

// TestConnectionErrors: frames a client must refuse fail the connection
// with GOAWAY and end every stream.
func TestConnectionErrors(t *testing.T) {
	for name, script := range map[string]func(p *peer){
		"PUSH_PROMISE": func(p *peer) {
			p.fr.WritePushPromise(http2.PushPromiseParam{StreamID: 1, PromiseID: 2, BlockFragment: []byte{0x88}, EndHeaders: true})
		},
		"DATA on an idle stream":    func(p *peer) { p.fr.WriteData(7, false, []byte("x")) },
		"HEADERS on an even stream": func(p *peer) { p.headers(2, true, ":status", "200") },
		"frame too large": func(p *peer) {
			p.fr.WriteRawFrame(http2.FrameData, 0, 1, make([]byte, 20000))
		},
		"connection window overflow": func(p *peer) { p.fr.WriteWindowUpdate(0, 1<<31-1) },
		"garbage":                    func(p *peer) { p.out.WriteString("HTTP/1.1 400 Bad Request\r\n\r\n") },
	} {
		p := newPeer(t, Config{})
		p.drain()
		p.settings()
		p.drain()
		r := &rec{}
		p.c.NewStream(get("/"), r)
		script(p)
		p.feed()
		if p.c.Err() == nil {
			t.Errorf("%s: the connection did not fail", name)
			continue
		}
		if r.ends != 1 || r.err == nil {
			t.Errorf("%s: the open stream: %+v", name, r)
		}
		var goaway bool
		out := p.c.TakeOutput(nil)
		fr := http2.NewFramer(io.Discard, bytes.NewReader(out))
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				break
			}
			if _, ok := f.(*http2.GoAwayFrame); ok {
				goaway = true
			}
		}
		if !goaway {
			t.Errorf("%s: no GOAWAY sent", name)
		}
	}
}

// TestHeaderListTooLarge: a response head a little past MaxHeaderListSize
// resets the stream, and the connection's HPACK state stays usable; one far
// past it (more than twice the bound, the Framer's rule) fails the
// connection without being decoded.
func TestHeaderListTooLarge(t *testing.T) {
	p := newPeer(t, Config{MaxHeaderListSize: 1024})
	p.drain()
	p.settings()
	r1, r2 := &rec{}, &rec{}
	p.c.NewStream(get("/1"), r1)
	p.c.NewStream(get("/2"), r2)
	big := strings.Repeat("b", 400)
	p.headers(1, true, ":status", "200", "x-a", big, "x-b", big, "x-c", big)
	p.headers(3, true, ":status", "200")
	p.feed()
	if !errors.Is(r1.err, ErrHeaderListTooLarge) {
		t.Errorf("big head: %v", r1.err)
	}
	if r2.err != nil || r2.status != 200 {
		t.Errorf("the next stream: %+v", r2)
	}
	r3 := &rec{}
	p.c.NewStream(get("/3"), r3)
	p.headers(5, true, ":status", "200", "x-huge", strings.Repeat("h", 5000))
	p.feed()
	if !errors.Is(p.c.Err(), ErrProtocol) || !errors.Is(r3.err, ErrProtocol) {
		t.Errorf("huge head: connection %v, stream %v", p.c.Err(), r3.err)
	}
}

// TestRequestHeaders: connection-specific fields are not sent, names are
// lower-cased, TE only as trailers.
func TestRequestHeaders(t *testing.T) {
	p := newPeer(t, Config{})
	p.drain()
	p.settings()
	p.drain()
	p.c.NewStream(Request{Method: "GET", Scheme: "http", Authority: "b:80", Path: "/p?q=1", NoBody: true, Header: []hpack.HeaderField{
		{Name: "Connection", Value: "close"}, {Name: "Keep-Alive", Value: "5"}, {Name: "Host", Value: "x"},
		{Name: "TE", Value: "gzip"}, {Name: "X-Thing", Value: "1"}, {Name: "Transfer-Encoding", Value: "chunked"},
	}}, &rec{})
	got := p.drain()
	mh, ok := got[0].(*http2.MetaHeadersFrame)
	if !ok {
		t.Fatalf("%v", got)
	}
	var names []string
	for _, f := range mh.Fields {
		names = append(names, f.Name+"="+f.Value)
	}
	if want := ":method=GET :scheme=http :authority=b:80 :path=/p?q=1 x-thing=1"; strings.Join(names, " ") != want {
		t.Errorf("sent %q, want %q", strings.Join(names, " "), want)
	}
}

// TestIdleClose: a connection without streams for IdleTimeout says GOAWAY
// and is done; one with a stream open is kept.
func TestIdleClose(t *testing.T) {
	p := newPeer(t, Config{IdleTimeout: time.Minute, PingInterval: -1})
	p.drain()
	p.settings()
	p.drain()
	r := &rec{}
	p.c.NewStream(get("/"), r)
	p.c.Tick(p.now)
	p.c.Tick(p.now.Add(2 * time.Minute))
	if p.c.Done() {
		t.Fatal("closed with a stream open")
	}
	p.headers(1, true, ":status", "200")
	p.feed()
	p.c.Tick(p.now.Add(3 * time.Minute))
	p.c.Tick(p.now.Add(3*time.Minute + 30*time.Second))
	if p.c.Done() {
		t.Fatal("closed before IdleTimeout")
	}
	p.c.Tick(p.now.Add(4*time.Minute + time.Second))
	if !p.c.Done() || !errors.Is(p.c.Err(), ErrConnClosed) {
		t.Fatalf("idle connection: done=%t err=%v", p.c.Done(), p.c.Err())
	}
	got := p.drain()
	if ga, ok := got[len(got)-1].(*http2.GoAwayFrame); !ok || ga.ErrCode != http2.ErrCodeNo {
		t.Fatalf("last frame %v, want GOAWAY NO_ERROR", got[len(got)-1])
	}
}
