package netstack

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/apimgw/apimgw/netstack/h2client"
)

// Upstream forward proxies (APIM's backend proxy: url, username, password).
//
// A plain http upstream is reached by sending each request to the proxy in
// absolute form ("GET http://host:port/path HTTP/1.1") with
// Proxy-Authorization; the proxy connection is pooled on the loop like any
// upstream connection (ForwardProxy). An https upstream is reached through
// an HTTP CONNECT tunnel opened off the loop, before the TLS handshake
// (UpstreamTLS.Via): the loop then sees the same bridged connection as for a
// direct https upstream.

// UpstreamProxy is a forward proxy. Make one per backend entity with
// NewUpstreamProxy and share it: it is immutable.
type UpstreamProxy struct {
	addr string // host:port of the proxy
	auth string // Proxy-Authorization value, or ""
	key  string // pool key for absolute-form connections
}

var upProxySeq atomic.Uint64

// NewUpstreamProxy is the proxy at addr ("host:port"); a non-empty username
// adds "Proxy-Authorization: Basic base64(username:password)" to every
// request (http) or CONNECT (https) sent to it.
func NewUpstreamProxy(addr, username, password string) *UpstreamProxy {
	p := &UpstreamProxy{addr: addr, key: addr + "|proxy#" + strconv.FormatUint(upProxySeq.Add(1), 10)}
	if username != "" {
		p.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(username+":"+password))
	}
	return p
}

// Addr is the proxy's address.
func (p *UpstreamProxy) Addr() string { return p.addr }

// ForwardProxy is Forward to an http upstream through proxy p: the request
// goes to p's address with the target in absolute form, "http://" + origin
// (the upstream's host[:port]) + the target. Connections are pooled per p.
func (x *Exchange) ForwardProxy(p *UpstreamProxy, origin string) {
	x.Forward(p.addr)
	x.upProxy = p
	x.proxyOrigin = origin
}

// Via returns a copy of t that reaches its address through an HTTP CONNECT
// tunnel opened by proxy p (with its Proxy-Authorization). The copy has its
// own pool key.
func (t *UpstreamTLS) Via(p *UpstreamProxy) *UpstreamTLS {
	c := *t
	c.proxy = p
	c.key = t.addr + "|tls#" + strconv.FormatUint(upTLSSeq.Add(1), 10) + "|via " + p.addr
	if t.h2 != nil { // HTTP/2 connections dial through the tunnel too
		c.h2 = &h2Upstream{mode: t.h2.mode, h2c: t.h2.h2c}
		c.h2.pool = h2client.NewPool(h2client.Config{}, c.dialH2)
	}
	return &c
}

// appendProxyRequestLine writes the absolute-form request line for a request
// sent to a proxy.
func appendProxyRequestLine(out, method []byte, origin string, target []byte) []byte {
	out = append(out, method...)
	out = append(out, " http://"...)
	out = append(out, origin...)
	if len(target) == 0 || target[0] != '/' {
		out = append(out, '/')
	}
	out = append(out, target...)
	return append(out, " HTTP/1.1\r\n"...)
}

// proxyError: the proxy could not be reached or refused the tunnel
// (dialFailed answers 502 with the message).
type proxyError struct{ msg string }

func (e *proxyError) Error() string { return e.msg }

// maxTunnelHead bounds the CONNECT answer's head.
const maxTunnelHead = 8 << 10

// dialTunnel opens a CONNECT tunnel to addr through p (off the loop) and
// returns the connection, positioned after the proxy's 2xx answer.
func dialTunnel(p *UpstreamProxy, addr string, timeout time.Duration) (net.Conn, error) {
	deadline := time.Now().Add(timeout)
	raw, err := net.DialTimeout("tcp", p.addr, timeout)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, err
		}
		return nil, &proxyError{"Backend proxy " + p.addr + " unreachable"}
	}
	raw.SetDeadline(deadline)
	req := make([]byte, 0, 128+len(p.auth))
	req = append(req, "CONNECT "...)
	req = append(req, addr...)
	req = append(req, " HTTP/1.1\r\nHost: "...)
	req = append(req, addr...)
	req = append(req, "\r\n"...)
	if p.auth != "" {
		req = append(req, "Proxy-Authorization: "...)
		req = append(req, p.auth...)
		req = append(req, "\r\n"...)
	}
	req = append(req, "\r\n"...)
	if _, err := raw.Write(req); err != nil {
		raw.Close()
		return nil, tunnelIOError(p, err)
	}
	// Read the answer head byte-exactly up to its blank line: the TLS
	// server speaks only after our ClientHello, so nothing follows it, and
	// reading no further keeps that true whatever the proxy does.
	br := bufio.NewReaderSize(&limitedReader{raw, maxTunnelHead}, 512)
	status, reason, err := readTunnelHead(br)
	if err != nil {
		raw.Close()
		return nil, tunnelIOError(p, err)
	}
	if br.Buffered() > 0 {
		raw.Close()
		return nil, &proxyError{"Backend proxy " + p.addr + " sent data after its CONNECT answer"}
	}
	if status < 200 || status > 299 {
		raw.Close()
		return nil, &proxyError{fmt.Sprintf("Backend proxy %s refused the tunnel to %s: %d %s", p.addr, addr, status, reason)}
	}
	raw.SetDeadline(time.Time{})
	return raw, nil
}

func tunnelIOError(p *UpstreamProxy, err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return err // a connect timeout (504)
	}
	return &proxyError{"Backend proxy " + p.addr + " failed during CONNECT: " + err.Error()}
}

// readTunnelHead reads "HTTP/1.x SSS reason" and the header lines up to the
// blank line, reading one line at a time (the bufio.Reader reads ahead, but
// the caller checks nothing was buffered beyond the head).
func readTunnelHead(br *bufio.Reader) (int, string, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, "", err
	}
	status, reason, ok := parseTunnelStatus(line)
	if !ok {
		return 0, "", errors.New("not an HTTP answer")
	}
	for {
		l, err := br.ReadSlice('\n')
		if err != nil {
			return 0, "", err
		}
		if len(l) <= 2 && (len(l) == 1 || l[0] == '\r') {
			return status, reason, nil
		}
	}
}

// parseTunnelStatus reads "HTTP/1.x SSS reason\r\n".
func parseTunnelStatus(line []byte) (int, string, bool) {
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[8] != ' ' {
		return 0, "", false
	}
	n, err := strconv.Atoi(string(line[9:12]))
	if err != nil || n < 100 || n > 999 {
		return 0, "", false
	}
	reason := strings.TrimSpace(string(line[12:]))
	return n, strings.Map(func(r rune) rune {
		if r < ' ' || r == '"' || r == '\\' || r > '~' {
			return '?'
		}
		return r
	}, reason), true
}

// limitedReader fails after n bytes (a proxy that never ends its head).
type limitedReader struct {
	c net.Conn
	n int
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errors.New("answer head too long")
	}
	if len(p) > l.n {
		p = p[:l.n]
	}
	// Read one byte at a time while the head is not complete: no byte of
	// the tunnel is consumed by the buffer.
	n, err := l.c.Read(p[:1])
	l.n -= n
	return n, err
}
