package netstack

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// Upstream TLS: gnet has no TLS, so an https upstream is reached the way
// ServeTLS serves TLS clients. A goroutine dials, runs the crypto/tls
// handshake (off the loop), then the plaintext is handed to the same event
// loop through a socketpair(2) (no listener: nothing else can be paired in),
// with a goroutine pair copying between the TLS connection and the pair. The loop sees an
// ordinary upstream connection: pooling, timeouts and the stale-connection
// retry work as for plain http. The handshake is paid once per pooled
// connection; session tickets (the config's ClientSessionCache) make the
// next one short.

// UpstreamTLS is how to reach one upstream address over TLS. Make one per
// backend with NewUpstreamTLS and share it between requests and loops: it is
// immutable, and pooled connections are reused only for the same
// *UpstreamTLS (its key), so two backends with different trust or client
// certificates never share a connection.
type UpstreamTLS struct {
	addr   string
	key    string
	config *tls.Config    // nil for h2c
	proxy  *UpstreamProxy // Via: reached through a CONNECT tunnel
	h2     *h2Upstream    // nil: HTTP/1.1 (upstream_h2.go)
}

var upTLSSeq atomic.Uint64

// NewUpstreamTLS prepares TLS to addr ("host:port") with cfg (copied). cfg
// must set ServerName (SNI and the name checked) unless InsecureSkipVerify;
// NextProtos defaults to http/1.1 (the engine speaks HTTP/1.1 upstream), and
// a ClientSessionCache is added if cfg has none, for session resumption.
func NewUpstreamTLS(addr string, cfg *tls.Config) *UpstreamTLS {
	c := cfg.Clone()
	if len(c.NextProtos) == 0 {
		c.NextProtos = []string{"http/1.1"}
	}
	if c.ClientSessionCache == nil {
		c.ClientSessionCache = tls.NewLRUClientSessionCache(256)
	}
	if c.MinVersion == 0 {
		c.MinVersion = tls.VersionTLS12
	}
	return &UpstreamTLS{addr: addr, config: c, key: addr + "|tls#" + strconv.FormatUint(upTLSSeq.Add(1), 10)}
}

// Addr is the upstream address.
func (t *UpstreamTLS) Addr() string { return t.addr }

// ForwardTLS is Forward to t's address over TLS.
func (x *Exchange) ForwardTLS(t *UpstreamTLS) {
	x.Forward(t.addr)
	x.upTLS = t
}

// errTLSHandshake marks a failed upstream handshake (dialFailed answers 502
// with the reason).
type tlsHandshakeError struct{ err error }

func (e *tlsHandshakeError) Error() string { return e.err.Error() }
func (e *tlsHandshakeError) Unwrap() error { return e.err }

// tlsBridge is what the loop can learn of a bridged connection: why the
// backend's side ended, when it ended with a TLS error (a TLS 1.3 server
// refuses a client certificate only after the handshake, with an alert on
// the first read).
type tlsBridge struct {
	err atomic.Pointer[error]
}

// failure is the TLS error that ended the bridge, or nil.
func (b *tlsBridge) failure() error {
	if b == nil {
		return nil
	}
	if p := b.err.Load(); p != nil {
		return *p
	}
	return nil
}

// dialTLS runs off the loop: TCP connect, handshake, bridge. It returns the
// loopback end to enroll on the loop.
func (s *Server) dialTLS(t *UpstreamTLS, timeout time.Duration, br *tlsBridge) (net.Conn, error) {
	var raw net.Conn
	var err error
	if t.proxy != nil {
		raw, err = dialTunnel(t.proxy, t.addr, timeout) // upstream_proxy.go
	} else {
		raw, err = net.DialTimeout("tcp", t.addr, timeout)
	}
	if err != nil {
		return nil, err
	}
	tc := tls.Client(raw, t.config)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	err = tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		raw.Close()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, err
		}
		return nil, &tlsHandshakeError{err}
	}
	near, far, err := socketPair()
	if err != nil {
		tc.Close()
		return nil, err
	}
	go pipeTLS(tc, near, br)
	return far, nil
}

// pipeTLS copies plaintext between the TLS connection and the pair's near
// end until either side ends; a TLS error from the backend's side is kept in
// br before the loop sees the close.
func pipeTLS(tc *tls.Conn, near net.Conn, br *tlsBridge) {
	done := make(chan struct{}, 2)
	go func() {
		_, err := io.Copy(near, tc)
		// A remote alert is a *net.OpError "remote error"; other OpErrors
		// are the sockets closing (ours included), not the backend's word.
		var oe *net.OpError
		if err != nil && (!errors.As(err, &oe) || oe.Op == "remote error") {
			br.err.Store(&err)
		}
		near.(*net.UnixConn).CloseWrite()
		done <- struct{}{}
	}()
	go func() {
		io.Copy(tc, near)
		tc.CloseWrite()
		done <- struct{}{}
	}()
	<-done
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	tc.Close()
	near.Close()
	<-done
}

// enrollUpstream dials addr (over TLS when t is set) off the loop and enrolls
// the connection on uc's loop; a failure is reported to uc on the loop.
func (s *Server) enrollUpstream(uc *upConn, addr string, t *UpstreamTLS, timeout time.Duration) {
	lp := uc.lp
	var conn net.Conn
	var err error
	if t != nil && t.h2 != nil {
		uc.bridge = &tlsBridge{} // set before Enroll hands uc to the loop
		conn, err = s.dialH2Bridge(t, timeout, uc.bridge)
	} else if t != nil {
		uc.bridge = &tlsBridge{} // set before Enroll hands uc to the loop
		conn, err = s.dialTLS(t, timeout, uc.bridge)
	} else {
		conn, err = net.DialTimeout("tcp", addr, timeout)
	}
	if err == nil {
		var ch <-chan gnet.RegisteredResult
		ch, err = lp.el.Enroll(gnet.NewContext(context.Background(), uc), conn)
		if err != nil {
			conn.Close()
		} else if res := <-ch; res.Err != nil {
			err = res.Err
		}
	}
	if err != nil {
		lp.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			uc.dialFailed(err)
			return nil
		}))
	}
}

// tlsFailure is the 502 message for a failed handshake: why, in words a
// client can act on (quotes removed so it sits in the JSON body as is).
func tlsFailure(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "tls: ")
	msg = strings.NewReplacer(`"`, "'", `\`, "/").Replace(msg)
	return "Backend TLS handshake failed: " + msg
}
