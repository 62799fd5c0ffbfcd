package netstack

import (
	"bytes"
	"syscall"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestH2IdleConnectionMemory opens 2,000 h2c connections from raw sockets,
// makes one request on each and leaves them idle, then measures the Go heap
// the server holds per connection (its HTTP/2 state: framer, HPACK tables,
// stream map), as TestIdleConnectionMemory does for HTTP/1.1.
func TestH2IdleConnectionMemory(t *testing.T) {
	if raceEnabled || testing.Short() {
		t.Skip("memory figures are meaningless under the race detector; mk/http2.mk runs this test without -race")
	}
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	lim.Cur = lim.Max
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	n := min(2000, int(lim.Cur-1000)/2)
	if n < 500 {
		cannotTest(t, "the fd limit %d is too low for 500 connections", lim.Cur)
	}
	// One request's bytes, the same for every fresh connection.
	var req, hb bytes.Buffer
	req.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(&req, nil)
	fr.WriteSettings()
	fr.WriteSettingsAck()
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {":authority", "a"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true})
	s := startProxy(t, bigHandler{[]byte("ok")}, Config{Loops: 2})
	per := idleHeapPerConn(t, s, n, req.Bytes(), []byte("ok"))
	t.Logf("Go heap per idle h2 connection: %.0f B (%d connections)", per, s.Conns())
	if per > 16<<10 {
		t.Errorf("%.0f B of Go heap per idle h2 connection, want ≤ 16 KiB", per)
	}
}
