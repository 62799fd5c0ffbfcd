package netstack

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/apimgw/apimgw/netstack/h2client"
	"github.com/apimgw/apimgw/netstack/http1"
)

// HTTP/2 to backends. The engine speaks HTTP/1.1 upstream; a backend that
// speaks HTTP/2 is reached through a socket pair whose near end
// h2client.Bridge serves: each HTTP/1.1 request the loop writes becomes a
// stream on the backend's h2client.Pool, which multiplexes the streams of
// every loop over few connections (one, until the backend's concurrent-stream
// limit is reached). Pooling, timeouts and the client side of the engine
// work as for any upstream connection, and the HTTP/1.1 fast path does not
// change (a backend is HTTP/2 only when its UpstreamTLS says so).

// HTTP2Mode is how an upstream's HTTP version is chosen.
type HTTP2Mode uint8

const (
	// HTTP1Only: HTTP/1.1 (ALPN offers only http/1.1). The default.
	HTTP1Only HTTP2Mode = iota
	// HTTP2Auto: https only; ALPN offers h2 and http/1.1 and the backend
	// chooses. Once it chose http/1.1, later connections go straight to
	// HTTP/1.1 (ALPN still offers both).
	HTTP2Auto
	// HTTP2Only: https with ALPN h2 required (a backend that does not
	// agree fails the handshake with a 502 saying so), or h2c with prior
	// knowledge to a plain-http backend (NewUpstreamH2C).
	HTTP2Only
)

// h2Upstream is the HTTP/2 part of an UpstreamTLS.
type h2Upstream struct {
	mode HTTP2Mode
	pool *h2client.Pool
	noH2 atomic.Bool // HTTP2Auto: the backend chose http/1.1
	h2c  bool
}

// NewUpstreamTLSMode is NewUpstreamTLS with the HTTP version chosen by
// mode; HTTP1Only is NewUpstreamTLS itself.
func NewUpstreamTLSMode(addr string, cfg *tls.Config, mode HTTP2Mode) *UpstreamTLS {
	if mode == HTTP1Only {
		return NewUpstreamTLS(addr, cfg)
	}
	c := cfg.Clone()
	if mode == HTTP2Auto {
		c.NextProtos = []string{"h2", "http/1.1"}
	} else {
		c.NextProtos = []string{"h2"}
	}
	t := NewUpstreamTLS(addr, c)
	t.h2 = &h2Upstream{mode: mode}
	t.h2.pool = h2client.NewPool(h2client.Config{}, t.dialH2)
	return t
}

// NewUpstreamH2C is the upstream at addr reached over plain TCP with HTTP/2
// prior knowledge (h2c, RFC 9113 §3.3). Forward to it with ForwardTLS (the
// name is historical: it forwards to any UpstreamTLS, and this one has no TLS).
func NewUpstreamH2C(addr string) *UpstreamTLS {
	t := &UpstreamTLS{addr: addr, key: addr + "|h2c#" + strconv.FormatUint(upTLSSeq.Add(1), 10)}
	t.h2 = &h2Upstream{mode: HTTP2Only, h2c: true}
	t.h2.pool = h2client.NewPool(h2client.Config{}, t.dialH2)
	return t
}

// HTTP2Conns is how many HTTP/2 connections t has made to its backend (0 for
// an HTTP/1.1 upstream): for tests and the status page.
func (t *UpstreamTLS) HTTP2Conns() int64 {
	if t.h2 == nil {
		return 0
	}
	return t.h2.pool.Dials()
}

// notH2 is a TLS connection on which an HTTP2Auto backend chose http/1.1.
type notH2 struct{ tc *tls.Conn }

func (e *notH2) Error() string { return "the backend chose http/1.1" }

// dialH2 is the pool's dialer: TCP (through the CONNECT tunnel of a proxy,
// Via), then (unless h2c) the handshake with ALPN h2 checked.
func (t *UpstreamTLS) dialH2(ctx context.Context) (net.Conn, error) {
	var raw net.Conn
	var err error
	if t.proxy != nil {
		timeout := 30 * time.Second
		if dl, ok := ctx.Deadline(); ok {
			timeout = time.Until(dl)
		}
		raw, err = dialTunnel(t.proxy, t.addr, timeout) // upstream_proxy.go
	} else {
		var d net.Dialer
		raw, err = d.DialContext(ctx, "tcp", t.addr)
	}
	if err != nil {
		return nil, err
	}
	if t.h2.h2c {
		return raw, nil
	}
	tc := tls.Client(raw, t.config)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
			return nil, err
		}
		if strings.Contains(err.Error(), "no application protocol") {
			err = fmt.Errorf("the backend did not accept HTTP/2 (ALPN offered h2): %w", err)
		}
		return nil, &tlsHandshakeError{err}
	}
	if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
		if t.h2.mode == HTTP2Auto {
			return nil, &notH2{tc}
		}
		tc.Close()
		return nil, &tlsHandshakeError{fmt.Errorf("the backend did not accept HTTP/2 (ALPN offered h2, got %q)", p)}
	}
	return tc, nil
}

// dialH2Bridge runs off the loop: it makes sure the backend's pool has a
// connection (so that an unreachable backend is a dial error, answered 502
// or 504 as for HTTP/1.1) and returns the loop's end of a new bridge.
func (s *Server) dialH2Bridge(t *UpstreamTLS, timeout time.Duration, b *tlsBridge) (net.Conn, error) {
	if t.h2.noH2.Load() {
		return s.dialTLS(t, timeout, b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	err := t.h2.pool.Warm(ctx)
	cancel()
	var nh *notH2
	if errors.As(err, &nh) {
		// HTTP2Auto and the backend chose http/1.1: this connection is
		// an ordinary TLS upstream, and so are the next ones.
		t.h2.noH2.Store(true)
		near, far, perr := socketPair()
		if perr != nil {
			nh.tc.Close()
			return nil, perr
		}
		go pipeTLS(nh.tc, near, b)
		return far, nil
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errH2DialTimeout{}}
	}
	if err != nil {
		return nil, err
	}
	near, far, err := socketPair()
	if err != nil {
		return nil, err
	}
	scheme := "https"
	if t.h2.h2c {
		scheme = "http"
	}
	go h2client.Bridge(near, t.h2.pool, h2client.BridgeConfig{Scheme: scheme, Authority: t.addr})
	return far, nil
}

// errH2DialTimeout makes a timed-out HTTP/2 dial a net.Error with Timeout
// true, as dialFailed expects (504).
type errH2DialTimeout struct{}

func (errH2DialTimeout) Error() string   { return "i/o timeout" }
func (errH2DialTimeout) Timeout() bool   { return true }
func (errH2DialTimeout) Temporary() bool { return true }

// keepTrailer records one upstream trailer field line ("Name: value") for
// the client; hop-by-hop and framing names are not passed on.
func (cc *clientConn) keepTrailer(line []byte) {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return
	}
	name := line[:i]
	if http1.IsHopByHopName(name) || len(name) == 4 && foldEq(name, "host") {
		return
	}
	value := bytes.TrimSpace(line[i+1:])
	cc.x.RespTrailers = append(cc.x.RespTrailers, Field{Name: string(name), Value: string(value)})
}

// appendLastChunk ends a chunked response: the last chunk, the trailers
// kept for the client, the empty line.
func (cc *clientConn) appendLastChunk(w []byte) []byte {
	if len(cc.x.RespTrailers) == 0 {
		return append(w, http1.LastChunk...)
	}
	w = append(w, "0\r\n"...)
	for _, f := range cc.x.RespTrailers {
		w = http1.AppendHeaderString(w, f.Name, f.Value)
	}
	return append(w, "\r\n"...)
}

// hasToken reports whether the comma-separated list v holds tok (ASCII
// case-insensitive, parameters ignored).
func hasToken(v []byte, tok string) bool {
	for len(v) > 0 {
		var elem []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			elem, v = v[:i], v[i+1:]
		} else {
			elem, v = v, nil
		}
		if i := bytes.IndexByte(elem, ';'); i >= 0 {
			elem = elem[:i]
		}
		elem = bytes.TrimSpace(elem)
		if len(elem) == len(tok) && foldEqFold(elem, tok) {
			return true
		}
	}
	return false
}
