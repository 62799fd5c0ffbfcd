package netstack

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// BenchmarkH2KeepAlive sends requests one at a time as streams of one h2c
// connection through the proxy to a keep-alive HTTP/1.1 upstream: the HTTP/2
// path (frames, HPACK, the HTTP/1.1 translation, the engine). The client
// writes prepared bytes and reads frames into a fixed buffer, so the
// allocations reported are the proxy's.
func BenchmarkH2KeepAlive(b *testing.B) {
	roundTrip := h2KeepAliveClient(b)
	for i := 0; i < 100; i++ {
		roundTrip()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		roundTrip()
	}
}

func h2KeepAliveClient(b testing.TB) func() {
	up := rawBackend(b)
	s := startProxy(b, &forwardAll{upstream: up}, Config{Loops: 1})
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	var start bytes.Buffer
	start.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(&start, nil)
	fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1<<31 - 1})
	fr.WriteSettingsAck()
	fr.WriteWindowUpdate(0, 1<<31-1-65535)
	c.Write(start.Bytes())
	// A header block that is the same for every request: a table size
	// update to 0 first, so nothing is indexed.
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	enc.SetMaxDynamicTableSizeLimit(0)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":path", "/api/items?id=42"}, {":authority", "bench.local"}, {"user-agent", "bench"}, {"accept", "*/*"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	block := append([]byte(nil), hb.Bytes()...)
	if block[0]&0xe0 != 0x20 {
		block = append([]byte{0x20}, block...)
	}
	req := make([]byte, 9+len(block))
	copy(req[9:], block)
	req[0], req[1], req[2] = byte(len(block)>>16), byte(len(block)>>8), byte(len(block))
	req[3], req[4] = byte(http2.FrameHeaders), byte(http2.FlagHeadersEndHeaders|http2.FlagHeadersEndStream)
	r := bufio.NewReaderSize(c, 64<<10)
	var hdr [9]byte
	payload := make([]byte, 1<<16)
	id := uint32(1)
	return func() {
		binary.BigEndian.PutUint32(req[5:9], id)
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := io.ReadFull(r, hdr[:]); err != nil {
				b.Fatal(err)
			}
			n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
			if _, err := io.ReadFull(r, payload[:n]); err != nil {
				b.Fatal(err)
			}
			sid := binary.BigEndian.Uint32(hdr[5:9]) & (1<<31 - 1)
			if http2.FrameType(hdr[3]) == http2.FrameGoAway || http2.FrameType(hdr[3]) == http2.FrameRSTStream {
				b.Fatalf("frame %v on stream %d", http2.FrameType(hdr[3]), sid)
			}
			if sid == id && http2.Flags(hdr[4]).Has(http2.FlagDataEndStream) &&
				(http2.FrameType(hdr[3]) == http2.FrameData || http2.FrameType(hdr[3]) == http2.FrameHeaders) {
				break
			}
		}
		id += 2
	}
}
