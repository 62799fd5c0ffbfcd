package http2

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Each known attack ends the connection (or the request) at a cost bounded
// by a limit, not by what the client chooses to send.

// Rapid reset (CVE-2023-44487): open a stream and reset it at once, over and
// over. Each costs the handler one request; after ResetBudget the
// connection ends with ENHANCE_YOUR_CALM.
func TestAttackRapidReset(t *testing.T) {
	cl := newClient(t, Limits{ResetBudget: 50})
	cl.start()
	for id := uint32(1); id < 2000; id += 2 {
		cl.headers(id, false, get...)
		cl.fr.WriteRSTStream(id, http2.ErrCodeCancel)
	}
	err := cl.feed(0)
	if !errors.Is(err, ErrCalm) {
		t.Fatalf("err %v", err)
	}
	requests := 0
	for _, e := range cl.events {
		if e.Kind == EventRequest {
			requests++
		}
	}
	if requests > 51 {
		t.Fatalf("%d requests reached the handler", requests)
	}
	if goAway(t, cl.frames()) != http2.ErrCodeEnhanceYourCalm {
		t.Fatal("want ENHANCE_YOUR_CALM")
	}
	// Streams answered before the client resets them refund the budget:
	// a client that cancels after its answers is fine.
	cl = newClient(t, Limits{ResetBudget: 5})
	cl.start()
	cl.onRequest = answer(200, "")
	for id := uint32(1); id < 200; id += 2 {
		cl.headers(id, false, get...)
		cl.fr.WriteRSTStream(id, http2.ErrCodeCancel)
	}
	if err := cl.feed(0); err != nil {
		t.Fatal(err)
	}
}

// CONTINUATION flood (CVE-2024-27316 family): a header block that never
// ends. Buffered bytes stay below MaxHeaderBlock; then ENHANCE_YOUR_CALM.
func TestAttackContinuationFlood(t *testing.T) {
	cl := newClient(t, Limits{MaxHeaderListSize: 8 << 10})
	cl.start()
	cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: cl.block(get...), EndHeaders: false})
	frag := cl.block("x-a", strings.Repeat("a", 1000))
	for i := 0; i < 10000; i++ {
		cl.fr.WriteContinuation(1, false, frag)
	}
	err := cl.feed(0)
	if !errors.Is(err, ErrCalm) {
		t.Fatalf("err %v", err)
	}
	if len(cl.events) != 0 {
		t.Fatalf("events %+v", cl.events)
	}
	if cap(cl.c.hdrBlock) > 4*(8<<10+16<<10) {
		t.Fatalf("header block buffer grew to %d", cap(cl.c.hdrBlock))
	}
	// Empty CONTINUATION frames: bounded by MaxEmptyFrames.
	cl = newClient(t, Limits{MaxEmptyFrames: 100})
	cl.start()
	cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: cl.block(get...), EndHeaders: false})
	for i := 0; i < 1000; i++ {
		cl.fr.WriteContinuation(1, false, nil)
	}
	if err := cl.feed(0); !errors.Is(err, ErrCalm) {
		t.Fatalf("empty continuation: err %v", err)
	}
}

// HPACK bomb: a small block that references one large dynamic-table entry
// many times decodes to a huge header list. Decoding stops collecting at
// MaxHeaderListSize and the request is answered 431, the connection goes on.
func TestAttackHPACKBomb(t *testing.T) {
	cl := newClient(t, Limits{MaxHeaderListSize: 16 << 10})
	cl.start()
	cl.hbuf.Reset()
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":path", "/"}, {":authority", "x"}} {
		cl.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	cl.enc.WriteField(hpack.HeaderField{Name: "x-bomb", Value: strings.Repeat("b", 4000)}) // into the table
	block := append([]byte(nil), cl.hbuf.Bytes()...)
	for i := 0; i < 10000; i++ {
		block = append(block, 0x80|62) // indexed: the newest dynamic entry
	}
	// 10 KB on the wire, 40 MB decoded (one frame: 16 KiB allows it).
	cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block, EndStream: true, EndHeaders: true})
	cl.headers(3, true, get...)
	cl.onRequest = answer(204, "")
	if err := cl.feed(0); err != nil {
		t.Fatal(err)
	}
	if len(cl.c.fields) > 10 {
		t.Fatalf("%d fields collected", len(cl.c.fields))
	}
	fs := cl.frames()
	h := find[*http2.MetaHeadersFrame](fs)
	if len(h) != 2 || h[0].StreamID != 1 || h[0].PseudoValue("status") != "431" || h[1].PseudoValue("status") != "204" {
		t.Fatalf("headers %v", h)
	}
	// A table size update beyond what was advertised is a compression error.
	cl = newClient(t, Limits{})
	cl.start()
	cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0x3f, 0xe1, 0xff, 0x03}, EndStream: true, EndHeaders: true})
	cl.feed(0)
	if goAway(t, cl.frames()) != http2.ErrCodeCompression {
		t.Fatal("want COMPRESSION_ERROR")
	}
}

// SETTINGS and PING floods from a client that does not read the answers:
// once the unsent output passes MaxOutputBacklog the connection ends.
func TestAttackControlFloods(t *testing.T) {
	for _, kind := range []string{"ping", "settings"} {
		cl := newClient(t, Limits{MaxOutputBacklog: 64 << 10})
		cl.start()
		for i := 0; i < 100000; i++ {
			if kind == "ping" {
				cl.fr.WritePing(false, [8]byte{byte(i)})
			} else {
				cl.fr.WriteSettings()
			}
		}
		// The caller never takes the output (the client does not read).
		_, err := cl.c.Feed(cl.buf.Bytes(), 0, cl.handle)
		if !errors.Is(err, ErrCalm) {
			t.Fatalf("%s: err %v", kind, err)
		}
		if n := len(cl.c.Output()); n > 64<<10+1024 {
			t.Fatalf("%s: output grew to %d", kind, n)
		}
		// The backlog the caller reports counts the same way.
		cl = newClient(t, Limits{MaxOutputBacklog: 64 << 10})
		cl.start()
		cl.fr.WritePing(false, [8]byte{})
		if _, err := cl.c.Feed(cl.buf.Bytes(), 1<<20, cl.handle); !errors.Is(err, ErrCalm) {
			t.Fatalf("%s with backlog: err %v", kind, err)
		}
	}
}

// Zero-window stall: a client that opens no window gets no DATA; the body
// waits in Buffered, which the caller bounds (the engine parks the upstream
// at its high-water mark and resets the stream after its body timeout, see
// netstack's TestH2ZeroWindowStall). Here: nothing is sent past the window
// and the stream can be reset, freeing the buffer.
func TestAttackZeroWindow(t *testing.T) {
	cl := newClient(t, Limits{}).start(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
	cl.onRequest = answer(200, strings.Repeat("z", 100000))
	cl.headers(1, true, get...)
	cl.feed(0)
	if d := find[*dataCopy](cl.frames()); len(d) != 0 {
		t.Fatalf("data sent into a zero window: %d frames", len(d))
	}
	if cl.c.Buffered(1) != 100000 {
		t.Fatalf("buffered %d", cl.c.Buffered(1))
	}
	cl.c.ResetStream(1, http2.ErrCodeCancel)
	if cl.c.Buffered(1) != 0 || cl.c.Streams() != 0 {
		t.Fatal("reset kept the stream")
	}
	cl.out.Write(cl.c.Output())
	if r := resets(cl.frames()); r[1] != http2.ErrCodeCancel {
		t.Fatalf("resets %v", r)
	}
}
