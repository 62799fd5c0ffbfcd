package netstack

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/apimgw/apimgw/netstack/http2"
)

// TLS: gnet has no TLS, so TLS connections are terminated with crypto/tls (a
// goroutine pair per connection) and their plaintext is handed to the same
// event-loop engine through a private Unix socket pair (socketpair(2)): one
// end is registered on an event loop, the TLS goroutines copy to and from the
// other. No listener exists, so no other process on the box can connect to
// the bridge or be paired with a TLS client's plaintext. Plain HTTP stays on
// the fast path; the handler sees one kind of Exchange, with TLS set and
// Remote the real client's address.

// tlsMeta rides in the bridged connection's gnet context until OnOpen.
type tlsMeta struct {
	remote netip.AddrPort
	h2     bool // ALPN chose "h2"
}

// socketPair returns the two connected ends of a new Unix stream socket pair:
// near (to copy TLS plaintext through) and far (to register on an event loop).
func socketPair() (near, far net.Conn, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("netstack: tls bridge: socketpair: %w", err)
	}
	near, err = fdConn(fds[0], "tls-bridge-near")
	if err != nil {
		unix.Close(fds[1])
		return nil, nil, err
	}
	far, err = fdConn(fds[1], "tls-bridge-far")
	if err != nil {
		near.Close()
		return nil, nil, err
	}
	return near, far, nil
}

// fdConn makes a net.Conn of a socket fd; the fd itself is closed (net.FileConn
// keeps a duplicate).
func fdConn(fd int, name string) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), name)
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("netstack: tls bridge: %w", err)
	}
	return c, nil
}

// ServeTLS accepts TLS connections on addr and serves them with the same
// engine and handler. It returns the bound address; connections are served
// until Shutdown. Call it after Start. Unless cfg sets NextProtos, ALPN
// offers "h2" and "http/1.1": a client that picks h2 speaks HTTP/2 (h2.go).
func (s *Server) ServeTLS(addr string, cfg *tls.Config) (net.Addr, error) {
	if s.eng.Validate() != nil {
		return nil, ErrStopped
	}
	if len(cfg.NextProtos) == 0 {
		cfg = cfg.Clone()
		cfg.NextProtos = []string{"h2", "http/1.1"}
	}
	cfg = h2OnlyWhenSecure(cfg)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("netstack: listen tls %s: %w", addr, err)
	}
	s.loopMu.Lock()
	s.tlsListeners = append(s.tlsListeners, ln)
	s.loopMu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				if s.stopped.Load() || errors.Is(err, net.ErrClosed) {
					return
				}
				s.cfg.Logger.Warn("netstack: tls accept", "err", err)
				time.Sleep(10 * time.Millisecond)
				continue
			}
			go s.serveTLSConn(tls.Server(c, cfg))
		}
	}()
	return ln.Addr(), nil
}

func (s *Server) serveTLSConn(tc *tls.Conn) {
	raw := tc.NetConn()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.HeaderTimeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil || s.draining.Load() {
		raw.Close()
		return
	}
	near, far, err := socketPair()
	if err != nil {
		s.cfg.Logger.Warn("netstack: tls", "err", err)
		tc.Close()
		return
	}
	cs := tc.ConnectionState()
	if cs.NegotiatedProtocol == "h2" && !http2.TLSAcceptable(cs.Version, cs.CipherSuite) {
		// RFC 9113 §9.2: a session below HTTP/2's requirements (possible only
		// with a configuration of the caller's own) ends at once.
		tc.SetWriteDeadline(time.Now().Add(time.Second))
		tc.Write(http2.AppendRefusal(nil, http2.ErrCodeInadequateSecurity, "TLS version or cipher suite forbidden by RFC 9113 §9.2"))
		tc.Close()
		return
	}
	meta := &tlsMeta{h2: cs.NegotiatedProtocol == "h2"}
	if a, ok := raw.RemoteAddr().(*net.TCPAddr); ok {
		meta.remote = netip.AddrPortFrom(a.AddrPort().Addr().Unmap(), a.AddrPort().Port())
	}
	ctx = gnet.NewNetConnContext(gnet.NewContext(context.Background(), meta), far)
	ch, err := s.eng.Register(ctx)
	if err != nil {
		far.Close()
		near.Close()
		tc.Close()
		return
	}
	go func() {
		if res := <-ch; res.Err != nil {
			near.Close()
		}
	}()
	// Plaintext both ways; either side ending ends both.
	done := make(chan struct{}, 2)
	go func() {
		io.Copy(near, tc)
		near.(*net.UnixConn).CloseWrite()
		done <- struct{}{}
	}()
	go func() {
		io.Copy(tc, near)
		tc.CloseWrite()
		done <- struct{}{}
	}()
	<-done
	// One direction ended; give the other a moment to finish (a response
	// still being written, the client's close_notify), then end both.
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		tc.Close()
		near.Close()
		<-done
	}
	tc.Close()
	near.Close()
}

// h2OnlyWhenSecure makes a configuration that offers "h2" by ALPN offer it
// only to a client whose ClientHello can meet HTTP/2's TLS requirements
// (RFC 9113 §9.2: TLS 1.2 or later without the suites of its Appendix A):
// one that offers only such suites (CBC, static RSA) gets HTTP/1.1, or, if
// it asked for h2 alone, a no_application_protocol alert. A configuration
// with a GetConfigForClient of its own is left alone (serveTLSConn's check
// after the handshake still applies).
func h2OnlyWhenSecure(cfg *tls.Config) *tls.Config {
	if cfg.GetConfigForClient != nil || !slices.Contains(cfg.NextProtos, "h2") {
		return cfg
	}
	cfg = cfg.Clone()
	weak := cfg.Clone()
	weak.NextProtos = slices.DeleteFunc(slices.Clone(cfg.NextProtos), func(p string) bool { return p == "h2" })
	cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		if slices.Contains(hello.SupportedProtos, "h2") && !http2.HelloCanMeet(hello, cfg) {
			return weak, nil
		}
		return nil, nil
	}
	return cfg
}
