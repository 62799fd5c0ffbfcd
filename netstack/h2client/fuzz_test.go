package h2client

import (
	"bytes"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// seedScripts are server frame sequences for the fuzz corpus: the table
// tests' situations as bytes.
func seedScripts() [][]byte {
	var seeds [][]byte
	mk := func(script func(fr *http2.Framer, hdr func(id uint32, end bool, kv ...string))) {
		var out, hb bytes.Buffer
		fr := http2.NewFramer(&out, nil)
		enc := hpack.NewEncoder(&hb)
		hdr := func(id uint32, end bool, kv ...string) {
			hb.Reset()
			for i := 0; i+1 < len(kv); i += 2 {
				enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
			}
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hb.Bytes(), EndStream: end, EndHeaders: true})
		}
		fr.WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 2})
		script(fr, hdr)
		seeds = append(seeds, out.Bytes())
	}
	mk(func(fr *http2.Framer, hdr func(uint32, bool, ...string)) {
		hdr(1, false, ":status", "200", "content-length", "3")
		fr.WriteData(1, true, []byte("abc"))
	})
	mk(func(fr *http2.Framer, hdr func(uint32, bool, ...string)) {
		hdr(3, false, ":status", "200", "content-type", "application/grpc")
		fr.WriteData(3, false, []byte("msg"))
		hdr(3, true, "grpc-status", "0")
		fr.WriteGoAway(3, http2.ErrCodeNo, nil)
	})
	mk(func(fr *http2.Framer, hdr func(uint32, bool, ...string)) {
		fr.WriteRSTStream(1, http2.ErrCodeRefusedStream)
		fr.WriteRSTStream(3, http2.ErrCodeCancel)
		fr.WritePing(false, [8]byte{1})
		fr.WriteWindowUpdate(0, 1000)
		fr.WriteWindowUpdate(5, 1000)
	})
	mk(func(fr *http2.Framer, hdr func(uint32, bool, ...string)) {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 5, BlockFragment: []byte{0x88}, EndStream: false, EndHeaders: false})
		fr.WriteContinuation(5, true, []byte{0x0f, 0x0d, 0x01, '9'})
		fr.WriteDataPadded(5, true, []byte("x"), make([]byte, 10))
	})
	mk(func(fr *http2.Framer, hdr func(uint32, bool, ...string)) {
		hdr(1, false, ":status", "100")
		hdr(1, false, ":status", "204")
		fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20})
		fr.WriteData(1, false, make([]byte, 100))
	})
	return seeds
}

// FuzzConnServerFrames feeds arbitrary server bytes, in pieces, to a
// connection with three streams open: it never panics, every stream ends at
// most once (exactly once if the connection failed), and the output stays
// within its bound.
func FuzzConnServerFrames(f *testing.F) {
	for _, s := range seedScripts() {
		f.Add(s, uint8(0))
		f.Add(s, uint8(6))
	}
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		now := time.Unix(1000, 0)
		cfg := Config{StreamWindow: 65536, ConnWindow: 1 << 20, MaxOutput: 64 << 10, MaxHeaderListSize: 4096}
		c := NewConn(cfg, now)
		c.TakeOutput(nil)
		recs := []*rec{{consume: true}, {}, {consume: true}}
		var streams []*Stream
		for i, r := range recs {
			req := get("/")
			req.NoBody = i != 1
			s, err := c.NewStream(req, r)
			if err != nil {
				t.Fatal(err)
			}
			streams = append(streams, s)
		}
		streams[1].Write(bytes.Repeat([]byte("u"), 100000), true)
		step := int(split) + 1
		var buf []byte
		for off := 0; off < len(data) && c.Err() == nil; off += step {
			end := min(off+step, len(data))
			buf = append(buf, data[off:end]...)
			n, err := c.Feed(buf, now)
			if n > len(buf) {
				t.Fatalf("Feed used %d of %d bytes", n, len(buf))
			}
			buf = buf[n:]
			if c.Buffered() > cfg.MaxOutput+(1<<15) && err == nil {
				t.Fatalf("output %d bytes past its bound without failing", c.Buffered())
			}
			c.TakeOutput(nil)
			now = now.Add(time.Second)
			c.Tick(now)
		}
		for i, r := range recs {
			if r.ends > 1 {
				t.Fatalf("stream %d ended %d times", i, r.ends)
			}
			if c.Err() != nil && r.ends != 1 {
				t.Fatalf("connection failed (%v) but stream %d did not end", c.Err(), i)
			}
		}
		if c.Err() == nil && c.Active() > 3 {
			t.Fatalf("%d streams active", c.Active())
		}
	})
}
