package netstack

import (
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestH2ExtendedConnectRefused: WebSocket over HTTP/2 (RFC 8441) is not
// offered. The server's SETTINGS do not enable the extended CONNECT
// (SETTINGS_ENABLE_CONNECT_PROTOCOL, 0x8), so a request with :protocol is
// malformed (RFC 8441 §3, RFC 9113 §8.3): RST_STREAM PROTOCOL_ERROR. A
// plain CONNECT gets 501; the connection serves on.
func TestH2ExtendedConnectRefused(t *testing.T) {
	h := &testHandler{upstream: newBackend(t).Listener.Addr().String()}
	s := startProxy(t, h, Config{Loops: 1})
	r := dialH2(t, s.Addr().String())
	r.until(5*time.Second, func(f http2.Frame) bool {
		sf, ok := f.(*http2.SettingsFrame)
		if !ok || sf.IsAck() {
			return false
		}
		if v, ok := sf.Value(0x8); ok && v != 0 {
			t.Errorf("SETTINGS_ENABLE_CONNECT_PROTOCOL = %d, want it absent or 0", v)
		}
		return true
	})
	r.fr.WriteSettingsAck()
	headers := func(id uint32, fields ...[2]string) {
		r.hbuf.Reset()
		for _, f := range fields {
			r.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: r.hbuf.Bytes(), EndHeaders: true})
	}
	headers(1, [2]string{":method", "CONNECT"}, [2]string{":protocol", "websocket"}, [2]string{":scheme", "http"},
		[2]string{":path", "/chat"}, [2]string{":authority", "test"}, [2]string{"sec-websocket-version", "13"})
	headers(3, [2]string{":method", "CONNECT"}, [2]string{":authority", "example.com:443"})
	r.get(5, "/direct")
	got := map[uint32]string{}
	r.until(5*time.Second, func(f http2.Frame) bool {
		switch f := f.(type) {
		case *http2.RSTStreamFrame:
			got[f.StreamID] = "reset " + f.ErrCode.String()
		case *http2.MetaHeadersFrame:
			got[f.StreamID] = "status " + f.PseudoValue("status")
		case *http2.GoAwayFrame:
			t.Fatalf("GOAWAY %v: the connection ended", f.ErrCode)
		}
		return len(got) == 3
	})
	want := map[uint32]string{1: "reset PROTOCOL_ERROR", 3: "status 501", 5: "status 200"}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("stream %d: %q, want %q", id, got[id], w)
		}
	}
}
