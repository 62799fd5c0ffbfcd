package h2client

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http2/hpack"

	"github.com/apimgw/apimgw/netstack/http1"
)

// BridgeConfig is how Bridge turns HTTP/1.1 requests into streams.
type BridgeConfig struct {
	// Scheme is the :scheme sent ("https" or "http").
	Scheme string
	// Authority is the :authority when a request has no Host field.
	Authority string
	// OpenTimeout bounds the wait for a stream slot (default 30 s).
	OpenTimeout time.Duration
}

// Bridge serves near, one end of a socket pair whose other end the engine
// uses as an HTTP/1.1 upstream connection, until near is closed: every
// request read from it becomes a stream on p, and the stream's response is
// written back as HTTP/1.1 — chunked, with the backend's trailers as the
// chunked trailer section, unless the backend sent a content-length and
// announced no trailers (no Trailer field, not application/grpc): then the
// length is kept and trailers that come anyway are dropped. A stream that fails before
// its response head closes near (the engine answers 502 "Backend closed the
// connection"); one that fails mid-body closes it too (the engine aborts the
// client's response). Closing near (the engine's timeouts, a client that went
// away) resets the stream.
//
// Bridge uses two goroutines per bridged connection (this one, reading
// requests and sending bodies, and one writing responses): the engine pools
// bridged connections like any upstream connection.
func Bridge(near net.Conn, p *Pool, cfg BridgeConfig) {
	if cfg.OpenTimeout <= 0 {
		cfg.OpenTimeout = 30 * time.Second
	}
	b := &bridge{near: near, p: p, cfg: cfg, calls: make(chan bridged), wdone: make(chan struct{})}
	go b.writeLoop()
	b.readLoop()
	close(b.calls)
	<-b.wdone
	near.Close()
}

type bridge struct {
	near  net.Conn
	p     *Pool
	cfg   BridgeConfig
	buf   []byte
	head  http1.Head
	body  http1.Body
	calls chan bridged
	wdone chan struct{}
	cur   *Call
	wbuf  []byte // writeLoop's head buffer
	rbuf  []byte // writeLoop's body buffer
}

type bridged struct {
	call *Call
	head bool // a HEAD request: the response has no body
}

// fill reads more bytes from near into b.buf.
func (b *bridge) fill() error {
	if len(b.buf) == cap(b.buf) {
		nb := make([]byte, len(b.buf), max(2*cap(b.buf), 32<<10))
		copy(nb, b.buf)
		b.buf = nb
	}
	n, err := b.near.Read(b.buf[len(b.buf):cap(b.buf)])
	b.buf = b.buf[:len(b.buf)+n]
	if n > 0 {
		return nil
	}
	return err
}

func (b *bridge) consume(n int) { b.buf = b.buf[:copy(b.buf, b.buf[n:])] }

func (b *bridge) readLoop() {
	defer func() {
		if b.cur != nil {
			b.cur.Cancel()
		}
	}()
	for {
		n, err := http1.ParseRequest(b.buf, &b.head, nil)
		if err == http1.ErrNeedMore {
			if b.fill() != nil {
				return
			}
			continue
		}
		if err != nil {
			return // the engine wrote something that is not a request: give up
		}
		if b.cur != nil {
			b.cur.Cancel() // no-op once the previous exchange completed
			b.cur = nil
		}
		req := b.request()
		isHead := string(b.head.Bytes(b.head.Method)) == "HEAD"
		framing, cl := b.head.Framing, b.head.ContentLength
		ctx, cancel := context.WithTimeout(context.Background(), b.cfg.OpenTimeout)
		call, err := b.p.Open(ctx, req)
		cancel()
		if err != nil {
			return
		}
		b.cur = call
		b.consume(n)
		b.calls <- bridged{call: call, head: isHead}
		if framing == http1.NoBody {
			continue
		}
		b.body.Reset(framing, cl)
		if !b.pumpBody(call) {
			return
		}
	}
}

// pumpBody sends the request body to call; false: near failed or the body
// could not be framed. If the stream ends first (the backend answered
// early, or reset it), the rest of the body is read and dropped.
func (b *bridge) pumpBody(call *Call) bool {
	for {
		n, ev, data, err := b.body.Next(b.buf)
		if err != nil {
			return false
		}
		if ev == http1.BodyData && call != nil && call.Write(data) != nil {
			call = nil
		}
		b.consume(n)
		switch ev {
		case http1.BodyEnd:
			if call != nil {
				call.CloseWrite()
			}
			return true
		case http1.BodyNeedMore:
			if n > 0 && len(b.buf) > 0 {
				continue // a framing line was used up: go on with the rest
			}
			if b.fill() != nil {
				return false
			}
		}
	}
}

// request turns the parsed HTTP/1.1 head into a stream's HEADERS.
func (b *bridge) request() Request {
	h := &b.head
	req := Request{
		Method:    string(h.Bytes(h.Method)),
		Scheme:    b.cfg.Scheme,
		Authority: string(h.Bytes(h.Host)),
		Path:      string(h.Bytes(h.Target)),
		NoBody:    h.Framing == http1.NoBody,
	}
	if req.Authority == "" {
		req.Authority = b.cfg.Authority
	}
	grpc := false
	for _, f := range h.Headers {
		name := h.Bytes(f.Name)
		if h.IsHopByHop(name) && !http1.EqualFold(name, "content-length") || http1.EqualFold(name, "host") {
			continue
		}
		if http1.EqualFold(name, "content-length") && h.Framing != http1.Length {
			continue
		}
		v := string(h.Bytes(f.Value))
		if http1.EqualFold(name, "content-type") && strings.HasPrefix(v, "application/grpc") {
			grpc = true
		}
		req.Header = append(req.Header, hpack.HeaderField{Name: strings.ToLower(string(name)), Value: v})
	}
	if grpc {
		// gRPC servers require it; the engine drops TE as hop-by-hop.
		req.Header = append(req.Header, hpack.HeaderField{Name: "te", Value: "trailers"})
	}
	return req
}

func (b *bridge) writeLoop() {
	defer close(b.wdone)
	failed := false
	for x := range b.calls {
		if failed {
			x.call.Cancel()
			continue
		}
		if !b.writeResponse(x) {
			failed = true
			x.call.Cancel()
			b.near.Close() // the reader sees it and ends
		}
	}
}

// writeResponse writes one stream's response to near as HTTP/1.1.
func (b *bridge) writeResponse(x bridged) bool {
	status, header, err := x.call.Response(context.Background())
	if err != nil {
		return false
	}
	w := http1.AppendStatusLine(b.wbuf[:0], status, []byte(http1.StatusText(status)))
	defer func() { b.wbuf = w[:0] }()
	contentLength := int64(-1)
	announced := false // trailers announced (Trailer field) or gRPC: chunked even with a length
	grpc := false
	for _, f := range header {
		if f.Name == "trailer" || f.Name == "content-type" && strings.HasPrefix(f.Value, "application/grpc") {
			announced = true
			grpc = grpc || f.Name == "content-type"
		}
	}
	// gRPC's trailers-only response (one HEADERS with END_STREAM carrying
	// grpc-status): its grpc-* fields go out as trailers, so that the
	// HTTP/1.1 leg (and an HTTP/2 client behind it) gets the normal form.
	var moved []hpack.HeaderField
	headOnly := grpc && x.call.HeadOnly()
	for _, f := range header {
		if headOnly && strings.HasPrefix(f.Name, "grpc-") {
			moved = append(moved, f)
			continue
		}
		switch f.Name {
		case "content-length":
			n, err := strconv.ParseInt(f.Value, 10, 64)
			if err != nil {
				return false
			}
			contentLength = n
			continue
		case "connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection":
			continue
		}
		if !http1.ValidHeaderName(f.Name) || !http1.ValidHeaderValue(f.Value) {
			continue
		}
		w = http1.AppendHeaderString(w, f.Name, f.Value)
	}
	noBody := x.head || status == 204 || status == 304
	chunked := false
	switch {
	case noBody:
		if contentLength >= 0 {
			w = http1.AppendHeaderString(w, "Content-Length", strconv.FormatInt(contentLength, 10))
		}
	case contentLength >= 0 && !announced:
		w = http1.AppendFraming(w, http1.Length, contentLength, true)
	default:
		chunked = true
		w = append(w, "Transfer-Encoding: chunked\r\n"...)
	}
	w = append(w, "\r\n"...)
	if _, err := b.near.Write(w); err != nil {
		return false
	}
	if b.rbuf == nil {
		b.rbuf = make([]byte, 32<<10)
	}
	buf := b.rbuf
	for {
		n, err := x.call.Read(buf[9 : len(buf)-2])
		if n > 0 {
			out := buf[9 : 9+n]
			if noBody {
				continue
			}
			if chunked {
				// Chunk size line in front of the data, CRLF after it.
				line := strconv.AppendInt(buf[:0:9], int64(n), 16)
				line = append(line, "\r\n"...)
				start := 9 - len(line)
				copy(buf[start:], line)
				out = append(buf[start:9+n], "\r\n"...)
			}
			if _, werr := b.near.Write(out); werr != nil {
				return false
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return false
			}
			break
		}
	}
	if chunked {
		w = append(w[:0], "0\r\n"...)
		for _, f := range append(moved, x.call.Trailers()...) {
			if !http1.ValidHeaderName(f.Name) || !http1.ValidHeaderValue(f.Value) {
				continue
			}
			w = http1.AppendHeaderString(w, f.Name, f.Value)
		}
		w = append(w, "\r\n"...)
		if _, err := b.near.Write(w); err != nil {
			return false
		}
	}
	return true
}
