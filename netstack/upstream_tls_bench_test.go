package netstack

import (
	"crypto/tls"
	"net"
	"testing"
)

// BenchmarkProxyKeepAliveTLSUpstream is BenchmarkProxyKeepAlive with the
// upstream over TLS (a pooled, bridged connection): what the bridge and
// crypto/tls add per request.
func BenchmarkProxyKeepAliveTLSUpstream(b *testing.B) {
	ca := newTestCA(b)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{ca.leaf(b, "backend.test")}})
	if err != nil {
		b.Fatal(err)
	}
	up := serveRaw(b, ln)
	h := &tlsHandler{}
	h.up.Store(NewUpstreamTLS(up, &tls.Config{ServerName: "backend.test", RootCAs: ca.pool}))
	s := startProxy(b, h, Config{Loops: 1})
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	benchRoundTrips(b, keepAliveRoundTrip(b, c))
}
