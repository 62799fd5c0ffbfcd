package netstack

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/apimgw/apimgw/netstack/http1"
	"github.com/apimgw/apimgw/netstack/http2"
)

// Config configures a Server. Zero values mean the defaults given.
type Config struct {
	// Addr is the listen address, "host:port" (":8080" for all interfaces;
	// "127.0.0.1:0" picks a free port, read it back with Server.Addr).
	Addr string
	// Loops is the number of event loops (default: one per CPU).
	Loops int
	// Limits bound request heads and bodies (defaults in package http1).
	Limits http1.Limits

	HeaderTimeout   time.Duration // a request head must arrive within this (10 s)
	IdleTimeout     time.Duration // keep-alive connections idle longer are closed (60 s)
	ConnectTimeout  time.Duration // dialing an upstream (5 s)
	ResponseTimeout time.Duration // from request sent to response head (300 s); Exchange.SetTimeout overrides
	BodyIdleTimeout time.Duration // no body bytes for this long ends the exchange (60 s)
	DrainTimeout    time.Duration // bounded wait for in-flight exchanges on Shutdown (default 10 s)

	// MaxIdlePerUpstream bounds idle pooled upstream connections per loop per
	// address (default 64).
	MaxIdlePerUpstream int
	// MaxPipelined bounds the bytes a client may send ahead (pipelined requests)
	// while its current request is in flight (default 64 KiB). Beyond it the
	// connection is closed after the current response.
	MaxPipelined int

	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.HeaderTimeout, 10*time.Second)
	def(&c.IdleTimeout, 60*time.Second)
	def(&c.ConnectTimeout, 5*time.Second)
	def(&c.ResponseTimeout, 300*time.Second)
	def(&c.BodyIdleTimeout, 60*time.Second)
	def(&c.DrainTimeout, 10*time.Second)
	if c.Loops <= 0 {
		c.Loops = runtime.NumCPU()
	}
	if c.MaxIdlePerUpstream <= 0 {
		c.MaxIdlePerUpstream = 64
	}
	if c.MaxPipelined <= 0 {
		c.MaxPipelined = 64 << 10
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Server is the event-loop reverse-proxy engine. Create it with New, then Start.
type Server struct {
	gnet.BuiltinEventEngine

	cfg Config
	h   Handler
	rh  ResponseHandler
	dh  DoneHandler
	fh  FailureHandler

	eng      gnet.Engine
	addr     net.Addr
	booted   chan struct{}
	loopsUp  chan struct{} // closed at the first OnTick: the event loops run
	upOnce   sync.Once
	runErr   chan error
	loops    sync.Map // gnet.EventLoop -> *loop
	loopList []*loop
	loopMu   sync.Mutex
	draining atomic.Bool
	stopped  atomic.Bool

	tlsListeners []net.Listener // under loopMu

	active atomic.Int64  // exchanges in flight
	conns  atomic.Int64  // client connections open
	parks  atomic.Uint64 // connections parked by flow control (park.go)
}

// New returns a server that calls h for every request.
func New(cfg Config, h Handler) *Server {
	cfg.setDefaults()
	s := &Server{cfg: cfg, h: h, booted: make(chan struct{}), loopsUp: make(chan struct{}), runErr: make(chan error, 1)}
	s.rh, _ = h.(ResponseHandler)
	s.dh, _ = h.(DoneHandler)
	s.fh, _ = h.(FailureHandler)
	return s
}

// Start binds the listener and starts the event loops; it returns once the
// listener accepts connections, or with the error that prevented it.
func (s *Server) Start() error {
	go func() {
		err := gnet.Run(s, "tcp://"+s.cfg.Addr,
			gnet.WithMulticore(true),
			gnet.WithNumEventLoop(s.cfg.Loops),
			gnet.WithReuseAddr(true),
			gnet.WithTCPNoDelay(gnet.TCPNoDelay),
			gnet.WithLockOSThread(lockOSThread()),
			// Not round-robin: Engine.Register (TLS connections) picks a
			// loop concurrently with the acceptor, which round-robin races on.
			gnet.WithLoadBalancing(gnet.LeastConnections),
			gnet.WithTicker(true), // only to learn when the loops run (OnTick)
			gnet.WithLogger(gnetLogger{s.cfg.Logger}),
		)
		s.runErr <- err
	}()
	// gnet calls OnBoot before it starts the loops; the first OnTick comes
	// after, and only then may connections be registered (ServeTLS).
	select {
	case <-s.loopsUp:
		return nil
	case err := <-s.runErr:
		if err == nil {
			err = ErrStopped
		}
		return fmt.Errorf("netstack: listen %s: %w", s.cfg.Addr, err)
	}
}

// Addr is the bound listen address (valid after Start).
func (s *Server) Addr() net.Addr { return s.addr }

// Active returns the number of exchanges in flight.
func (s *Server) Active() int64 { return s.active.Load() }

// Loops returns the number of event loops (Exchange.Loop is below it).
func (s *Server) Loops() int { return s.cfg.Loops }

// Conns returns the number of open client connections.
func (s *Server) Conns() int64 { return s.conns.Load() }

// Parks returns how many times a connection was parked by flow control: taken
// off its loop because the bytes queued toward its peer passed the high-water
// mark (park.go). One atomic add per park; reading it is safe anytime.
func (s *Server) Parks() uint64 { return s.parks.Load() }

// OnBoot records the engine and the bound address.
func (s *Server) OnBoot(eng gnet.Engine) gnet.Action {
	s.eng = eng
	if fd, err := eng.Dup(); err == nil {
		if sa, err := syscall.Getsockname(fd); err == nil {
			s.addr = sockaddrToTCP(sa)
		}
		syscall.Close(fd)
	}
	close(s.booted)
	return gnet.None
}

func sockaddrToTCP(sa syscall.Sockaddr) *net.TCPAddr {
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]).To16(), Port: a.Port}
	case *syscall.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}
	}
	return nil
}

// OnTick marks the event loops as running; it asks for no further ticks (the
// loops keep their own timer wheels).
func (s *Server) OnTick() (time.Duration, gnet.Action) {
	s.upOnce.Do(func() { close(s.loopsUp) })
	return 24 * time.Hour, gnet.None
}

// loopFor returns the per-loop state of the loop c belongs to, creating it on
// first use. Called on that loop.
func (s *Server) loopFor(c gnet.Conn) *loop {
	el := c.EventLoop()
	if v, ok := s.loops.Load(el); ok {
		return v.(*loop)
	}
	lp := newLoop(s, el)
	s.loops.Store(el, lp)
	s.loopMu.Lock()
	lp.idx = len(s.loopList)
	s.loopList = append(s.loopList, lp)
	s.loopMu.Unlock()
	go lp.ticker()
	return lp
}

// OnOpen sets up a client connection, or links an enrolled upstream
// connection to the exchange that dialed it.
func (s *Server) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	switch v := c.Context().(type) {
	case *upConn:
		if v.resuming {
			v.resumed(c)
		} else {
			v.opened(c)
		}
		return nil, gnet.None
	case *clientConn:
		v.resumed(c)
		return nil, gnet.None
	}
	if s.draining.Load() {
		return nil, gnet.Close
	}
	meta, _ := c.Context().(*tlsMeta)
	lp := s.loopFor(c)
	cc := &clientConn{lp: lp, c: c}
	cc.owner = cc
	if ap, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		cc.remote = ap.AddrPort()
		cc.remote = netip.AddrPortFrom(cc.remote.Addr().Unmap(), cc.remote.Port())
	}
	if meta != nil {
		cc.remote, cc.tls = meta.remote, true
	}
	c.SetContext(cc)
	lp.clients[cc] = struct{}{}
	s.conns.Add(1)
	cc.armTimer(s.cfg.HeaderTimeout)
	if meta != nil && meta.h2 {
		cc.startH2() // ALPN "h2": the server's SETTINGS go out at once
	}
	return nil, gnet.None
}

// OnTraffic dispatches to the client or upstream side.
func (s *Server) OnTraffic(c gnet.Conn) gnet.Action {
	switch v := c.Context().(type) {
	case *clientConn:
		if v.gen == 0 && v.state == csIdle {
			// The first bytes of a connection: the HTTP/2 preface means h2c
			// with prior knowledge (or h2 over TLS without ALPN).
			if buf, _ := c.Peek(-1); len(buf) > 0 && buf[0] == 'P' {
				switch h2Preface(buf) {
				case prefaceYes:
					return v.startH2().onTraffic()
				case prefaceMaybe:
					return gnet.None
				}
			}
		}
		return v.onTraffic()
	case *upConn:
		return v.onTraffic()
	case *h2conn:
		return v.onTraffic()
	}
	return gnet.Close
}

const (
	prefaceNo = iota
	prefaceMaybe
	prefaceYes
)

// h2Preface tells whether buf starts with the HTTP/2 connection preface, or
// may once more bytes arrive.
func h2Preface(buf []byte) int {
	n := min(len(buf), len(http2.Preface))
	if string(buf[:n]) != http2.Preface[:n] {
		return prefaceNo
	}
	if n < len(http2.Preface) {
		return prefaceMaybe
	}
	return prefaceYes
}

// OnClose tears down whichever side closed.
func (s *Server) OnClose(c gnet.Conn, err error) gnet.Action {
	switch v := c.Context().(type) {
	case *clientConn:
		v.onClose()
	case *upConn:
		v.onClose()
	case *h2conn:
		v.onClose()
	}
	return gnet.None
}

// Shutdown stops taking new connections, lets in-flight exchanges finish up
// to the drain timeout (or ctx), closes idle connections, and stops the loops.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.stopped.Swap(true) {
		return nil
	}
	s.draining.Store(true)
	s.loopMu.Lock()
	for _, ln := range s.tlsListeners {
		ln.Close()
	}
	s.loopMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DrainTimeout)
	defer cancel()
	s.forEachLoop(func(lp *loop) { lp.closeIdle() })
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for s.active.Load() > 0 {
		select {
		case <-ctx.Done():
			s.cfg.Logger.Warn("netstack: drain deadline reached", "in_flight", s.active.Load())
			goto stop
		case <-t.C:
			s.forEachLoop(func(lp *loop) { lp.closeIdle() })
		}
	}
stop:
	s.forEachLoop(func(lp *loop) { lp.stopTicker() })
	stopCtx, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	err := s.eng.Stop(stopCtx)
	<-s.runErr
	return err
}

// forEachLoop runs fn on every loop (through Execute) and waits for them.
func (s *Server) forEachLoop(fn func(*loop)) {
	s.loopMu.Lock()
	loops := append([]*loop(nil), s.loopList...)
	s.loopMu.Unlock()
	var wg sync.WaitGroup
	for _, lp := range loops {
		wg.Add(1)
		err := lp.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			defer wg.Done()
			fn(lp)
			return nil
		}))
		if err != nil {
			wg.Done()
		}
	}
	wg.Wait()
}

// Ping checks that every event loop that serves connections runs a no-op task
// within ctx: the watchdog's liveness check. A wedged loop makes it fail.
func (s *Server) Ping(ctx context.Context) error {
	s.loopMu.Lock()
	loops := append([]*loop(nil), s.loopList...)
	s.loopMu.Unlock()
	done := make(chan struct{}, len(loops))
	for _, lp := range loops {
		err := lp.el.Execute(ctx, gnet.RunnableFunc(func(context.Context) error {
			done <- struct{}{}
			return nil
		}))
		if err != nil {
			return fmt.Errorf("netstack: ping loop: %w", err)
		}
	}
	for range loops {
		select {
		case <-done:
		case <-ctx.Done():
			return fmt.Errorf("netstack: an event loop did not answer: %w", ctx.Err())
		}
	}
	return nil
}

// loop is the per-event-loop state: the timer wheel, the upstream pool and
// scratch buffers. Only its own loop touches it (the ticker goes through Execute).
type loop struct {
	idx     int // 0..Loops-1, in order of first use
	s       *Server
	el      gnet.EventLoop
	wheel   *wheel
	idle    map[string][]*upConn
	clients map[*clientConn]struct{}
	h2      map[*h2conn]struct{} // HTTP/2 client connections (h2.go)
	parked  []parkable
	freeEx  []*exchState  // pooled exchange state
	release []*clientConn // connections whose exchange state may go back
	wbuf    []byte        // response bytes gathered for one write to a client
	hbuf    []byte        // scratch for heads
	now     int64
	stop    chan struct{}
	sched   chan int64    // the next tick's time, loop to ticker (schedule)
	ticks   atomic.Uint64 // ticks run, for tests
	tickFn  gnet.Runnable
}

// tickInterval is the timer wheel's slot: timers fire at most this late, and
// work that waits for a tick (parked connections, exchange states to give
// back) waits at most this long. Ticks come only when such work is due.
const tickInterval = 50 * time.Millisecond

func newLoop(s *Server, el gnet.EventLoop) *loop {
	now := time.Now().UnixNano()
	lp := &loop{s: s, el: el,
		idle: map[string][]*upConn{}, clients: map[*clientConn]struct{}{}, h2: map[*h2conn]struct{}{}, stop: make(chan struct{}),
		sched: make(chan int64, 1),
		// Room from the start, so the first exchange states given back at a
		// tick do not allocate (TestProxyFastPathAllocs counts every one).
		freeEx: make([]*exchState, 0, 64), release: make([]*clientConn, 0, 64)}
	lp.wheel = newWheel(int64(tickInterval), now, lp.schedule)
	lp.tickFn = gnet.RunnableFunc(func(context.Context) error {
		lp.ticks.Add(1)
		lp.wheel.advance(time.Now().UnixNano())
		if len(lp.parked) > 0 {
			lp.checkParked()
		}
		if len(lp.release) > 0 {
			lp.releaseIdle()
		}
		lp.schedule(lp.wheel.nextTick(len(lp.parked) > 0 || len(lp.release) > 0))
		return nil
	})
	return lp
}

// tickSoon asks for a tick at the next slot boundary, for work queued on
// lp.parked or lp.release. Without a time.Now when one is already due then.
func (lp *loop) tickSoon() {
	if w := lp.wheel; w.next > (w.cur+1)*w.tick {
		w.wakeBy(time.Now().UnixNano())
	}
}

// schedule hands the ticker the time of the next tick (noTick: none). Only
// the loop sends on lp.sched, so after taking a value the ticker has not
// seen yet, the send cannot block; the ticker always gets the latest.
func (lp *loop) schedule(at int64) {
	select {
	case <-lp.sched:
	default:
	}
	lp.sched <- at
}

// ticker runs the loop's ticks at the times schedule gives it. A loop with
// nothing timed is never woken: an idle gateway costs no CPU.
func (lp *loop) ticker() {
	t := time.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	span := time.Duration(wheelSlots) * tickInterval
	for {
		select {
		case <-lp.stop:
			return
		case at := <-lp.sched:
			if at == noTick {
				t.Stop()
				continue
			}
			// Bounded, so that a wall-clock step cannot put ticks off for
			// long: a tick with nothing due just schedules the next.
			t.Reset(min(max(time.Until(time.Unix(0, at)), 0), span))
		case <-t.C:
			if err := lp.el.Execute(context.Background(), lp.tickFn); err != nil {
				return
			}
		}
	}
}

func (lp *loop) stopTicker() {
	select {
	case <-lp.stop:
	default:
		close(lp.stop)
	}
}

// closeIdle closes client connections that carry no exchange, and pooled
// upstream connections (during shutdown).
func (lp *loop) closeIdle() {
	for cc := range lp.clients {
		if cc.state == csIdle && !cc.closed {
			cc.closeNow()
		}
	}
	for hc := range lp.h2 {
		hc.shutdown() // GOAWAY; streams in flight finish, then it closes
	}
	for addr, list := range lp.idle {
		for _, uc := range list {
			uc.pooled = false
			uc.c.Close()
		}
		delete(lp.idle, addr)
	}
}

// gnetLogger sends gnet's own log lines to slog.
type gnetLogger struct{ l *slog.Logger }

func (g gnetLogger) Debugf(format string, args ...any) {}
func (g gnetLogger) Infof(format string, args ...any)  {}
func (g gnetLogger) Warnf(format string, args ...any) {
	g.l.Warn("gnet: " + fmt.Sprintf(format, args...))
}
func (g gnetLogger) Errorf(format string, args ...any) {
	g.l.Error("gnet: " + fmt.Sprintf(format, args...))
}
func (g gnetLogger) Fatalf(format string, args ...any) {
	g.l.Error("gnet: fatal: " + fmt.Sprintf(format, args...))
}
