package netstack

import (
	"bufio"
	"crypto/tls"
	"io"
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
	req := []byte("GET /api/items?id=42 HTTP/1.1\r\nHost: bench.local\r\nUser-Agent: bench\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n")
	r := bufio.NewReaderSize(c, 4096)
	var body [17]byte
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
		if _, err := io.ReadFull(r, body[:]); err != nil {
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
