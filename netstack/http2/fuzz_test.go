package http2

import (
	"bytes"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// FuzzConn feeds arbitrary frames after the preface to a connection whose
// handler answers every request; nothing may panic, and the output and the
// state stay bounded.
func FuzzConn(f *testing.F) {
	seed := func(build func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer)) {
		var b, hb bytes.Buffer
		fr := http2.NewFramer(&b, nil)
		enc := hpack.NewEncoder(&hb)
		fr.WriteSettings()
		build(fr, enc, &hb)
		f.Add(b.Bytes())
	}
	block := func(enc *hpack.Encoder, hb *bytes.Buffer, kv ...string) []byte {
		hb.Reset()
		for i := 0; i+1 < len(kv); i += 2 {
			enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
		}
		return append([]byte(nil), hb.Bytes()...)
	}
	seed(func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer) {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block(enc, hb, get...), EndStream: true, EndHeaders: true})
	})
	seed(func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer) {
		b := block(enc, hb, append(append([]string(nil), get...), "content-length", "2")...)
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b[:3], EndHeaders: false})
		fr.WriteContinuation(1, true, b[3:])
		fr.WriteData(1, false, []byte("a"))
		fr.WriteWindowUpdate(0, 100)
		fr.WritePing(false, [8]byte{})
		fr.WriteData(1, true, []byte("b"))
		fr.WriteRSTStream(1, http2.ErrCodeCancel)
		fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
		fr.WriteGoAway(0, 0, nil)
	})
	f.Fuzz(func(t *testing.T, in []byte) {
		c := NewConn(Limits{MaxConcurrentStreams: 8, MaxOutputBacklog: 256 << 10})
		fn := func(ev *Event) {
			switch ev.Kind {
			case EventRequest:
				c.WriteHeaders(ev.Stream, 200, []Field{{"X", ev.Req.Path}}, false)
				c.WriteData(ev.Stream, bytes.Repeat([]byte("r"), 1000), true)
			case EventData:
				c.Consumed(ev.Stream, len(ev.Data))
			}
		}
		buf := append([]byte(Preface), in...)
		// In two pieces, so that frames split across Feed calls are covered.
		half := len(buf) / 2
		n, err := c.Feed(buf[:half], 0, fn)
		if err == nil {
			rest := append(buf[n:half:half], buf[half:]...)
			c.Feed(rest, 0, fn)
		}
		if len(c.Output()) > 2<<20 {
			t.Fatalf("output %d bytes", len(c.Output()))
		}
		if c.Streams() > 8 {
			t.Fatalf("%d streams", c.Streams())
		}
	})
}
