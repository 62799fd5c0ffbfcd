package netstack

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"testing"
)

// rawBackend answers every request head with a fixed small JSON response; it
// allocates nothing per request, so the benchmark's allocations are the proxy's.
func rawBackend(b testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	return serveRaw(b, ln)
}

// serveRaw runs rawBackend's answers on ln.
func serveRaw(b testing.TB, ln net.Listener) string {
	b.Cleanup(func() { ln.Close() })
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{\"hello\":\"world\"}")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 64<<10)
				var pending []byte
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					pending = append(pending, buf[:n]...)
					for {
						i := bytes.Index(pending, []byte("\r\n\r\n"))
						if i < 0 {
							break
						}
						pending = pending[:copy(pending, pending[i+4:])]
						if _, err := c.Write(resp); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

type forwardAll struct{ upstream string }

func (f *forwardAll) Serve(x *Exchange) { x.Forward(f.upstream) }

// BenchmarkProxyKeepAlive sends requests one at a time over one keep-alive
// client connection through the proxy to a keep-alive upstream: the proxy fast
// path (parse, hop-by-hop filtering, X-Forwarded-*, re-serialized heads).
func BenchmarkProxyKeepAlive(b *testing.B) {
	c, roundTrip := keepAliveClient(b)
	defer c.Close()
	// Warm up: the upstream connection is dialed and pooled.
	for i := 0; i < 100; i++ {
		roundTrip()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		roundTrip()
	}
}

// TestProxyFastPathAllocs: the proxy allocates nothing per request on the
// keep-alive fast path (the client and backend here allocate nothing either).
func TestProxyFastPathAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates; make test runs this test without -race (test-norace)")
	}
	c, roundTrip := keepAliveClient(t)
	defer c.Close()
	for i := 0; i < 100; i++ {
		roundTrip()
	}
	const n = 5000
	if got, where := mallocs(n, roundTrip); got != 0 {
		t.Fatalf("%d allocations in %d proxied requests, want 0:\n%s", got, n, where)
	}
}

// keepAliveClient starts a backend and a one-loop proxy and returns a client
// connection and a function that makes one request over it.
func keepAliveClient(b testing.TB) (net.Conn, func()) {
	up := rawBackend(b)
	s := startProxy(b, &forwardAll{upstream: up}, Config{Loops: 1})
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	return c, keepAliveRoundTrip(b, c)
}

// keepAliveRoundTrip returns a function that makes one keep-alive request
// over c and reads its answer (status line and headers up to the empty line,
// then the backends' 17-byte body).
func keepAliveRoundTrip(b testing.TB, c net.Conn) func() {
	req := []byte("GET /api/items?id=42 HTTP/1.1\r\nHost: bench.local\r\nUser-Agent: bench\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n")
	r := bufio.NewReaderSize(c, 4096)
	var body [17]byte
	return func() {
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
}

// benchRoundTrips warms roundTrip up (100 requests) and times b.N of them.
func benchRoundTrips(b *testing.B, roundTrip func()) {
	for i := 0; i < 100; i++ {
		roundTrip()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		roundTrip()
	}
}
