package netstack

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// TLS: gnet has no TLS, so TLS connections are terminated with crypto/tls (a
// goroutine pair per connection) and their plaintext is handed to the same
// event-loop engine through a private loopback connection. Plain HTTP stays
// on the fast path; the handler sees one kind of Exchange, with TLS set and
// Remote the real client's address.

// tlsMeta rides in the bridged connection's gnet context until OnOpen.
type tlsMeta struct {
	remote netip.AddrPort
}

// bridge pairs loopback connections: one end is enrolled on an event loop, the
// other is copied to and from the TLS connection.
type bridge struct {
	ln      net.Listener
	mu      sync.Mutex
	waiting map[int]chan net.Conn // by the dialing end's local port
	early   map[int]net.Conn      // accepted before the dialer registered
}

func newBridge() (*bridge, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("netstack: tls bridge: %w", err)
	}
	b := &bridge{ln: ln, waiting: map[int]chan net.Conn{}, early: map[int]net.Conn{}}
	go b.accept()
	return b, nil
}

func (b *bridge) accept() {
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		port := c.RemoteAddr().(*net.TCPAddr).Port
		b.mu.Lock()
		if ch, ok := b.waiting[port]; ok {
			delete(b.waiting, port)
			ch <- c
		} else {
			b.early[port] = c
			// Not ours if nobody claims it soon (someone else on the box
			// connected to the bridge port).
			time.AfterFunc(5*time.Second, func() {
				b.mu.Lock()
				if e, ok := b.early[port]; ok && e == c {
					delete(b.early, port)
					c.Close()
				}
				b.mu.Unlock()
			})
		}
		b.mu.Unlock()
	}
}

// pair returns two connected loopback TCP connections: near (to copy TLS
// plaintext through) and far (to enroll on an event loop).
func (b *bridge) pair() (near, far net.Conn, err error) {
	near, err = net.Dial("tcp", b.ln.Addr().String())
	if err != nil {
		return nil, nil, err
	}
	port := near.LocalAddr().(*net.TCPAddr).Port
	b.mu.Lock()
	if c, ok := b.early[port]; ok {
		delete(b.early, port)
		b.mu.Unlock()
		return near, c, nil
	}
	ch := make(chan net.Conn, 1)
	b.waiting[port] = ch
	b.mu.Unlock()
	select {
	case far = <-ch:
		return near, far, nil
	case <-time.After(5 * time.Second):
		b.mu.Lock()
		delete(b.waiting, port)
		b.mu.Unlock()
		near.Close()
		return nil, nil, errors.New("netstack: tls bridge: no pairing connection")
	}
}

// ServeTLS accepts TLS connections on addr and serves them with the same
// engine and handler. It returns the bound address; connections are served
// until Shutdown. Call it after Start.
func (s *Server) ServeTLS(addr string, cfg *tls.Config) (net.Addr, error) {
	if s.eng.Validate() != nil {
		return nil, ErrStopped
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("netstack: listen tls %s: %w", addr, err)
	}
	s.loopMu.Lock()
	if s.bridge == nil {
		if s.bridge, err = newBridge(); err != nil {
			s.loopMu.Unlock()
			ln.Close()
			return nil, err
		}
	}
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
	near, far, err := s.bridge.pair()
	if err != nil {
		s.cfg.Logger.Warn("netstack: tls", "err", err)
		tc.Close()
		return
	}
	meta := &tlsMeta{}
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
		near.(*net.TCPConn).CloseWrite()
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
