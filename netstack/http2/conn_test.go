package http2

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// client is a test peer: it builds frames with x/net's Framer and reads the
// server's output with another one.
type client struct {
	t      *testing.T
	c      *Conn
	buf    bytes.Buffer // frames to feed
	fr     *http2.Framer
	enc    *hpack.Encoder
	hbuf   bytes.Buffer
	out    bytes.Buffer // server output not yet read
	rfr    *http2.Framer
	events []Event
	bodies map[uint32][]byte
	// onRequest answers requests when set.
	onRequest func(c *Conn, ev *Event)
	err       error
}

func newClient(t *testing.T, lim Limits) *client {
	cl := &client{t: t, c: NewConn(lim), bodies: map[uint32][]byte{}}
	cl.fr = http2.NewFramer(&cl.buf, nil)
	cl.enc = hpack.NewEncoder(&cl.hbuf)
	cl.rfr = http2.NewFramer(nil, &cl.out)
	cl.rfr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	cl.rfr.MaxHeaderListSize = 1 << 20
	return cl
}

// start sends the preface and an empty SETTINGS.
func (cl *client) start(settings ...http2.Setting) *client {
	cl.buf.WriteString(Preface)
	cl.fr.WriteSettings(settings...)
	return cl
}

func (cl *client) block(fields ...string) []byte {
	cl.hbuf.Reset()
	for i := 0; i+1 < len(fields); i += 2 {
		cl.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	return append([]byte(nil), cl.hbuf.Bytes()...)
}

func (cl *client) headers(id uint32, end bool, fields ...string) {
	cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: cl.block(fields...), EndStream: end, EndHeaders: true})
}

var get = []string{":method", "GET", ":scheme", "https", ":path", "/x", ":authority", "example.com"}

// feed hands everything written so far to the server, in one piece or in
// pieces of size step, and collects its output.
func (cl *client) feed(step int) error {
	in := cl.buf.Bytes()
	cl.buf.Reset()
	var pending []byte
	for len(in) > 0 {
		k := len(in)
		if step > 0 && step < k {
			k = step
		}
		pending = append(pending, in[:k]...)
		in = in[k:]
		n, err := cl.c.Feed(pending, 0, cl.handle)
		pending = pending[n:]
		cl.out.Write(cl.c.Output())
		cl.c.TakeOutput()
		if err != nil {
			cl.err = err
			return err
		}
	}
	return nil
}

func (cl *client) handle(ev *Event) {
	e := *ev
	e.Data = append([]byte(nil), ev.Data...)
	cl.events = append(cl.events, e)
	if ev.Kind == EventData {
		cl.bodies[ev.Stream] = append(cl.bodies[ev.Stream], ev.Data...)
		cl.c.Consumed(ev.Stream, len(ev.Data))
	}
	if ev.Kind == EventRequest && cl.onRequest != nil {
		cl.onRequest(cl.c, ev)
	}
}

// frames reads the server's output so far.
func (cl *client) frames() []any {
	var fs []any
	for cl.out.Len() > 0 {
		f, err := cl.rfr.ReadFrame()
		if err != nil {
			cl.t.Fatalf("reading server output: %v", err)
		}
		if mh, ok := f.(*http2.MetaHeadersFrame); ok {
			cp := *mh
			cp.Fields = append([]hpack.HeaderField(nil), mh.Fields...)
			fs = append(fs, &cp)
			continue
		}
		switch f := f.(type) {
		case *http2.DataFrame:
			d := append([]byte(nil), f.Data()...)
			fs = append(fs, &dataCopy{f.StreamID, d, f.StreamEnded()})
		default:
			fs = append(fs, f)
		}
	}
	return fs
}

type dataCopy struct {
	id   uint32
	data []byte
	end  bool
}

func find[T any](fs []any) []T {
	var r []T
	for _, f := range fs {
		if v, ok := f.(T); ok {
			r = append(r, v)
		}
	}
	return r
}

func goAway(t *testing.T, fs []any) http2.ErrCode {
	t.Helper()
	g := find[*http2.GoAwayFrame](fs)
	if len(g) != 1 {
		t.Fatalf("want one GOAWAY, got %d in %v", len(g), fs)
	}
	return g[0].ErrCode
}

func resets(fs []any) map[uint32]http2.ErrCode {
	m := map[uint32]http2.ErrCode{}
	for _, r := range find[*http2.RSTStreamFrame](fs) {
		m[r.StreamID] = r.ErrCode
	}
	return m
}

func answer(status int, body string) func(*Conn, *Event) {
	return func(c *Conn, ev *Event) {
		c.WriteHeaders(ev.Stream, status, []Field{{"Content-Type", "text/plain"}}, body == "")
		if body != "" {
			c.WriteData(ev.Stream, []byte(body), true)
		}
	}
}

func TestRequestResponse(t *testing.T) {
	for _, step := range []int{0, 1, 7} {
		cl := newClient(t, Limits{}).start()
		cl.onRequest = answer(200, "hello")
		cl.headers(1, false, ":method", "POST", ":scheme", "https", ":path", "/p?q=1", ":authority", "h.example",
			"cookie", "a=1", "x-y", "z", "cookie", "b=2", "content-length", "3")
		cl.fr.WriteData(1, true, []byte("abc"))
		cl.fr.WriteSettingsAck()
		if err := cl.feed(step); err != nil {
			t.Fatal(err)
		}
		if len(cl.events) < 2 || cl.events[0].Kind != EventRequest {
			t.Fatalf("step %d: events %+v", step, cl.events)
		}
		r := cl.events[0].Req
		if r.Method != "POST" || r.Path != "/p?q=1" || r.Authority != "h.example" || r.Scheme != "https" || r.ContentLength != 3 {
			t.Fatalf("request %+v", r)
		}
		want := []Field{{"x-y", "z"}, {"content-length", "3"}, {"cookie", "a=1; b=2"}}
		if len(r.Fields) != len(want) {
			t.Fatalf("fields %+v", r.Fields)
		}
		for i := range want {
			if r.Fields[i] != want[i] {
				t.Fatalf("fields %+v, want %+v", r.Fields, want)
			}
		}
		if string(cl.bodies[1]) != "abc" {
			t.Fatalf("body %q", cl.bodies[1])
		}
		fs := cl.frames()
		if s := find[*http2.SettingsFrame](fs); len(s) != 2 || s[0].IsAck() || !s[1].IsAck() {
			t.Fatalf("settings %v", s)
		}
		h := find[*http2.MetaHeadersFrame](fs)
		if len(h) != 1 || h[0].PseudoValue("status") != "200" || h[0].Fields[1].Name != "content-type" {
			t.Fatalf("headers %v", h)
		}
		d := find[*dataCopy](fs)
		if len(d) != 1 || string(d[0].data) != "hello" || !d[0].end {
			t.Fatalf("data %v", d)
		}
		if cl.c.Streams() != 0 {
			t.Fatalf("%d streams left", cl.c.Streams())
		}
	}
}

func TestBadPreface(t *testing.T) {
	cl := newClient(t, Limits{})
	cl.buf.WriteString("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if err := cl.feed(0); !errors.Is(err, ErrPreface) {
		t.Fatalf("err %v", err)
	}
	cl = newClient(t, Limits{})
	cl.buf.WriteString(Preface)
	cl.fr.WritePing(false, [8]byte{})
	if err := cl.feed(0); !errors.Is(err, ErrPreface) {
		t.Fatalf("first frame not SETTINGS: err %v", err)
	}
}

func TestMalformedRequests(t *testing.T) {
	base := func(extra ...string) []string { return append(append([]string(nil), get...), extra...) }
	cases := []struct {
		name   string
		fields []string
	}{
		{"upper-case name", base("X-Up", "1")},
		{"pseudo after regular", append([]string{":method", "GET", ":scheme", "https", "a", "b"}, ":path", "/")},
		{"unknown pseudo", base(":foo", "1")},
		{"response pseudo", base(":status", "200")},
		{"duplicate method", base(":method", "POST")},
		{"no path", []string{":method", "GET", ":scheme", "https", ":authority", "x"}},
		{"empty path", []string{":method", "GET", ":scheme", "https", ":path", "", ":authority", "x"}},
		{"no method", []string{":scheme", "https", ":path", "/", ":authority", "x"}},
		{"no scheme", []string{":method", "GET", ":path", "/", ":authority", "x"}},
		{"connection", base("connection", "keep-alive")},
		{"keep-alive", base("keep-alive", "5")},
		{"transfer-encoding", base("transfer-encoding", "chunked")},
		{"upgrade", base("upgrade", "websocket")},
		{"te gzip", base("te", "gzip")},
		{"host differs", base("host", "other.example")},
		{"bad content-length", base("content-length", "x")},
		{"two content-lengths", base("content-length", "1", "content-length", "2")},
		{"value with newline", base("x", "a\nb")},
		{"relative path", []string{":method", "GET", ":scheme", "https", ":path", "x", ":authority", "x"}},
		{"content-length with END_STREAM", base("content-length", "5")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cl := newClient(t, Limits{}).start()
			cl.headers(1, true, tc.fields...)
			cl.headers(3, true, get...) // the connection goes on
			cl.onRequest = answer(204, "")
			if err := cl.feed(0); err != nil {
				t.Fatal(err)
			}
			fs := cl.frames()
			if r := resets(fs); r[1] != http2.ErrCodeProtocol {
				t.Fatalf("resets %v", r)
			}
			if len(cl.events) != 1 || cl.events[0].Stream != 3 {
				t.Fatalf("events %+v", cl.events)
			}
		})
	}
	// TE: trailers and a Host equal to :authority are fine.
	cl := newClient(t, Limits{}).start()
	cl.headers(1, true, base("te", "trailers", "host", "EXAMPLE.com")...)
	cl.feed(0)
	if len(cl.events) != 1 || cl.events[0].Kind != EventRequest {
		t.Fatalf("events %+v", cl.events)
	}
}

func TestContentLengthMismatch(t *testing.T) {
	for _, body := range []string{"ab", "abcd"} {
		cl := newClient(t, Limits{}).start()
		cl.headers(1, false, append(append([]string(nil), get...), "content-length", "3")...)
		cl.fr.WriteData(1, true, []byte(body))
		cl.feed(0)
		if r := resets(cl.frames()); r[1] != http2.ErrCodeProtocol {
			t.Fatalf("%q: resets %v", body, r)
		}
		if last := cl.events[len(cl.events)-1]; last.Kind != EventReset {
			t.Fatalf("%q: events %+v", body, cl.events)
		}
	}
}

func TestTrailers(t *testing.T) {
	cl := newClient(t, Limits{}).start()
	cl.headers(1, false, get...)
	cl.fr.WriteData(1, false, []byte("ab"))
	cl.headers(1, true, "x-trailer", "v")
	cl.headers(3, false, get...)
	cl.headers(3, false, "x-trailer", "v") // trailers without END_STREAM
	cl.feed(0)
	if e := cl.events[2]; e.Kind != EventData || !e.End || e.Stream != 1 {
		t.Fatalf("events %+v", cl.events)
	}
	if r := resets(cl.frames()); r[3] != http2.ErrCodeProtocol || len(r) != 1 {
		t.Fatalf("resets %v", r)
	}
}

func TestStreamStates(t *testing.T) {
	t.Run("DATA on idle stream", func(t *testing.T) {
		cl := newClient(t, Limits{}).start()
		cl.fr.WriteData(1, true, []byte("x"))
		cl.feed(0)
		if goAway(t, cl.frames()) != http2.ErrCodeProtocol {
			t.Fatal("want PROTOCOL_ERROR")
		}
	})
	t.Run("even stream", func(t *testing.T) {
		cl := newClient(t, Limits{}).start()
		cl.headers(2, true, get...)
		cl.feed(0)
		if goAway(t, cl.frames()) != http2.ErrCodeProtocol {
			t.Fatal("want PROTOCOL_ERROR")
		}
	})
	t.Run("lower stream id", func(t *testing.T) {
		cl := newClient(t, Limits{}).start()
		cl.headers(5, true, get...)
		cl.headers(3, true, get...)
		cl.feed(0)
		if goAway(t, cl.frames()) != http2.ErrCodeProtocol {
			t.Fatal("want PROTOCOL_ERROR")
		}
	})
	t.Run("DATA after END_STREAM", func(t *testing.T) {
		cl := newClient(t, Limits{}).start()
		cl.headers(1, true, get...)
		cl.fr.WriteData(1, true, []byte("x"))
		cl.feed(0)
		if r := resets(cl.frames()); r[1] != http2.ErrCodeStreamClosed {
			t.Fatalf("resets %v", r)
		}
	})
	t.Run("RST_STREAM on idle", func(t *testing.T) {
		cl := newClient(t, Limits{}).start()
		cl.fr.WriteRSTStream(1, http2.ErrCodeCancel)
		cl.feed(0)
		if goAway(t, cl.frames()) != http2.ErrCodeProtocol {
			t.Fatal("want PROTOCOL_ERROR")
		}
	})
	t.Run("self dependency", func(t *testing.T) {
		cl := newClient(t, Limits{}).start()
		cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: cl.block(get...), EndStream: true, EndHeaders: true,
			Priority: http2.PriorityParam{StreamDep: 1, Weight: 1}})
		cl.fr.WritePriority(3, http2.PriorityParam{StreamDep: 3})
		cl.fr.WritePriority(5, http2.PriorityParam{StreamDep: 1, Weight: 9}) // ignored
		cl.feed(0)
		r := resets(cl.frames())
		if r[1] != http2.ErrCodeProtocol || r[3] != http2.ErrCodeProtocol || len(r) != 2 {
			t.Fatalf("resets %v", r)
		}
	})
	t.Run("too many streams", func(t *testing.T) {
		cl := newClient(t, Limits{MaxConcurrentStreams: 2}).start()
		for id := uint32(1); id <= 5; id += 2 {
			cl.headers(id, false, get...)
		}
		cl.feed(0)
		if r := resets(cl.frames()); r[5] != http2.ErrCodeRefusedStream || len(r) != 1 {
			t.Fatalf("resets %v", r)
		}
	})
	t.Run("PUSH_PROMISE", func(t *testing.T) {
		cl := newClient(t, Limits{}).start()
		cl.headers(1, false, get...)
		cl.fr.WritePushPromise(http2.PushPromiseParam{StreamID: 1, PromiseID: 2, BlockFragment: cl.block(get...), EndHeaders: true})
		cl.feed(0)
		if goAway(t, cl.frames()) != http2.ErrCodeProtocol {
			t.Fatal("want PROTOCOL_ERROR")
		}
	})
	t.Run("unknown frame ignored", func(t *testing.T) {
		cl := newClient(t, Limits{}).start()
		cl.fr.WriteRawFrame(0x42, 0, 0, []byte("whatever"))
		cl.headers(1, true, get...)
		cl.feed(0)
		if len(cl.events) != 1 {
			t.Fatalf("events %+v", cl.events)
		}
	})
}

func TestSettingsAndPing(t *testing.T) {
	cl := newClient(t, Limits{}).start(http2.Setting{ID: 0x99, Val: 7}) // unknown: ignored
	cl.fr.WritePing(false, [8]byte{1, 2, 3, 4, 5, 6, 7, 8})
	cl.fr.WritePing(true, [8]byte{9})
	cl.feed(0)
	fs := cl.frames()
	p := find[*http2.PingFrame](fs)
	if len(p) != 1 || !p[0].IsAck() || p[0].Data != [8]byte{1, 2, 3, 4, 5, 6, 7, 8} {
		t.Fatalf("pings %v", p)
	}
	for _, tc := range []struct {
		s    http2.Setting
		code http2.ErrCode
	}{
		{http2.Setting{ID: http2.SettingEnablePush, Val: 2}, http2.ErrCodeProtocol},
		{http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 31}, http2.ErrCodeFlowControl},
		{http2.Setting{ID: http2.SettingMaxFrameSize, Val: 100}, http2.ErrCodeProtocol},
	} {
		cl := newClient(t, Limits{}).start(tc.s)
		cl.feed(0)
		if c := goAway(t, cl.frames()); c != tc.code {
			t.Fatalf("%v: %v", tc.s, c)
		}
	}
}

func TestFlowControlSend(t *testing.T) {
	cl := newClient(t, Limits{}).start(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1})
	body := strings.Repeat("b", 100)
	cl.onRequest = answer(200, body)
	cl.headers(1, true, get...)
	cl.feed(0)
	d := find[*dataCopy](cl.frames())
	if len(d) != 1 || len(d[0].data) != 1 || d[0].end {
		t.Fatalf("data %v", d)
	}
	if n := cl.c.Buffered(1); n != 99 {
		t.Fatalf("buffered %d", n)
	}
	cl.fr.WriteWindowUpdate(1, 50)
	cl.feed(0)
	d = find[*dataCopy](cl.frames())
	if len(d) != 1 || len(d[0].data) != 50 {
		t.Fatalf("data %v", d)
	}
	// Raising SETTINGS_INITIAL_WINDOW_SIZE opens every stream's window.
	cl.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1000})
	cl.feed(0)
	d = find[*dataCopy](cl.frames())
	if len(d) != 1 || len(d[0].data) != 49 || !d[0].end {
		t.Fatalf("data %v", d)
	}
	if cl.c.Streams() != 0 {
		t.Fatal("stream left")
	}
	// Window overflow.
	cl = newClient(t, Limits{}).start()
	cl.fr.WriteWindowUpdate(0, 1<<31-1)
	cl.feed(0)
	if goAway(t, cl.frames()) != http2.ErrCodeFlowControl {
		t.Fatal("want FLOW_CONTROL_ERROR")
	}
	cl = newClient(t, Limits{}).start()
	cl.headers(1, false, get...)
	cl.fr.WriteWindowUpdate(1, 1<<31-1)
	cl.feed(0)
	if r := resets(cl.frames()); r[1] != http2.ErrCodeFlowControl {
		t.Fatalf("resets %v", r)
	}
}

func TestFlowControlReceive(t *testing.T) {
	cl := newClient(t, Limits{StreamWindow: 65535, ConnWindow: 65535}).start()
	cl.headers(1, false, get...)
	chunk := make([]byte, 16384)
	for i := 0; i < 4; i++ {
		cl.fr.WriteData(1, false, chunk) // 65536 > 65535
	}
	// The test client consumes at once, so credit flows back: use a
	// handler that holds the bytes instead.
	held := 0
	cl.c.Feed(cl.buf.Bytes(), 0, func(ev *Event) { held += len(ev.Data) })
	cl.buf.Reset()
	cl.out.Write(cl.c.Output())
	if goAway(t, cl.frames()) != http2.ErrCodeFlowControl {
		t.Fatal("want FLOW_CONTROL_ERROR")
	}
	if held > 65535 {
		t.Fatalf("held %d", held)
	}
	// Consumed credit reopens the windows.
	cl = newClient(t, Limits{StreamWindow: 65535, ConnWindow: 65535}).start()
	cl.headers(1, false, get...)
	for i := 0; i < 16; i++ {
		cl.fr.WriteData(1, false, chunk)
	}
	if err := cl.feed(0); err != nil {
		t.Fatal(err)
	}
	upd := map[uint32]uint32{}
	for _, w := range find[*http2.WindowUpdateFrame](cl.frames()) {
		upd[w.StreamID] += w.Increment
	}
	// Every byte consumed was credited back, in quarter-window steps.
	if upd[0] < 16*16384-65535 || upd[1] < 16*16384-65535 {
		t.Fatalf("window updates %v", upd)
	}
}

func TestShutdownDrains(t *testing.T) {
	cl := newClient(t, Limits{}).start()
	cl.headers(1, false, get...)
	cl.feed(0)
	cl.c.Shutdown()
	cl.headers(3, true, get...) // after GOAWAY: ignored
	cl.fr.WriteData(1, true, []byte("x"))
	cl.feed(0)
	if cl.c.Done() {
		t.Fatal("done with stream 1 in flight")
	}
	cl.c.WriteHeaders(1, 200, nil, true)
	if !cl.c.Done() {
		t.Fatal("not done after the last stream")
	}
	fs := cl.frames()
	g := find[*http2.GoAwayFrame](fs)
	if len(g) != 1 || g[0].LastStreamID != 1 || g[0].ErrCode != http2.ErrCodeNo {
		t.Fatalf("goaway %v", g)
	}
	for _, e := range cl.events {
		if e.Stream == 3 {
			t.Fatalf("stream 3 served after GOAWAY: %+v", cl.events)
		}
	}
}

func TestLargeResponseHeaders(t *testing.T) {
	cl := newClient(t, Limits{}).start()
	big := strings.Repeat("v", 40000)
	cl.onRequest = func(c *Conn, ev *Event) { c.WriteHeaders(ev.Stream, 200, []Field{{"X-Big", big}}, true) }
	cl.headers(1, true, get...)
	cl.feed(0)
	h := find[*http2.MetaHeadersFrame](cl.frames())
	if len(h) != 1 || len(h[0].Fields) != 2 || h[0].Fields[1].Value != big {
		t.Fatalf("headers %v", len(h))
	}
}
