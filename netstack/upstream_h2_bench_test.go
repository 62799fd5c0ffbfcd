package netstack

import (
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
	benchRoundTrips(b, keepAliveRoundTrip(b, c))
}
