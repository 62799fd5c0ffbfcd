package netstack

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

type forwardUp struct{ up *UpstreamTLS }

func (f *forwardUp) Serve(x *Exchange) { x.ForwardTLS(f.up) }

// BenchmarkProxyH2CUpstream is BenchmarkProxyKeepAlive's request to an h2c
// backend (Go's HTTP/2 server) instead of the raw HTTP/1.1 one: the price of
// the bridge (socket pair, HTTP/1.1 ↔ HTTP/2 translation, the pool's
// goroutines) on one request at a time. The allocations counted include the
// bridge's and the backend's (both in this process).
func BenchmarkProxyH2CUpstream(b *testing.B) {
	body := []byte(`{"hello":"world"}`)
	back := httptest.NewServer(h2c.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}), &http2.Server{}))
	b.Cleanup(back.Close)
	s := startProxy(b, &forwardUp{up: NewUpstreamH2C(back.Listener.Addr().String())}, Config{Loops: 1})
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := []byte("GET /api/items?id=42 HTTP/1.1\r\nHost: bench.local\r\nUser-Agent: bench\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n")
	r := bufio.NewReaderSize(c, 4096)
	var got [17]byte
	roundTrip := func() {
		c.Write(req)
		for {
			line, err := r.ReadSlice('\n')
			if err != nil {
				b.Fatal(err)
			}
			if len(line) == 2 {
				break
			}
		}
		if _, err := io.ReadFull(r, got[:]); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < 100; i++ {
		roundTrip()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		roundTrip()
	}
}
