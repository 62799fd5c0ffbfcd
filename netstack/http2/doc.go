// Package http2 is a sans-IO HTTP/2 server connection (RFC 9113): bytes from
// the client go in (Conn.Feed), events come out (a request head, body data,
// a stream reset), and the caller's responses go in (WriteHeaders,
// WriteData) and come out as bytes to send (Conn.Output). It opens no socket
// and starts no goroutine, so the netstack engine drives it on its event
// loop, and tests and fuzzers drive it with byte slices.
//
// Frames are read and written with golang.org/x/net/http2's Framer and
// header blocks coded with its hpack package; this package holds the
// connection's state: the preface and SETTINGS exchange, stream states,
// flow control both ways with bounded buffers, header block assembly
// (CONTINUATION) within a byte bound, request validation (pseudo-header
// fields, connection-specific fields, content-length), PING, RST_STREAM,
// GOAWAY, and budgets that end a connection at bounded cost when a client
// abuses it (rapid reset, CONTINUATION and empty-frame floods, control-frame
// floods against a peer that does not read, HPACK bombs).
//
// Priorities (PRIORITY frames and HEADERS priority fields) are parsed and
// checked (a stream depending on itself is a stream error) and otherwise
// ignored, as RFC 9113 §5.3 allows. Server push is never used.
package http2
