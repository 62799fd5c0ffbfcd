// Package h2client is the gateway's HTTP/2 client side: requests from the
// gateway to backends that speak HTTP/2 (https with ALPN h2, or h2c with
// prior knowledge when a backend is configured so).
//
// Conn is the sans-IO connection state machine (RFC 9113): it consumes the
// bytes the backend sent (Feed), produces the bytes to send (TakeOutput), and
// multiplexes many streams over one connection with SETTINGS, flow control
// in both directions, PING keepalive, GOAWAY and RST_STREAM handling and the
// peer's concurrent-stream limit. Framing and HPACK are
// golang.org/x/net/http2's Framer and hpack, never hand-written. Conn does no
// I/O and starts no goroutine, so it is tested and fuzzed without sockets.
//
// Pool drives Conns over real connections for one backend (a reader and a
// writer goroutine per connection, none per stream) and retries requests the
// backend refused unprocessed (GOAWAY, REFUSED_STREAM) on a new connection.
// Bridge serves one end of a socket pair as an HTTP/1.1 server and sends each
// request it reads as a stream on a Pool: it is how the event-loop engine in
// package netstack, which speaks HTTP/1.1 upstream, reaches HTTP/2 backends.
//
// It is not an HTTP/2 server (that is netstack/http2) and not a general
// http.RoundTripper.
package h2client
