package h2client

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// DialFunc connects to the backend and returns a connection it speaks
// HTTP/2 on: TLS with ALPN "h2" negotiated, or plain TCP for h2c.
type DialFunc func(ctx context.Context) (net.Conn, error)

// Pool is the HTTP/2 connections to one backend. Streams share a
// connection up to the backend's concurrent-stream limit; a new connection is
// dialed only when none can take a stream and none is being dialed, or when
// every live one is at its limit (bounded by MaxConns). Safe for concurrent
// use.
type Pool struct {
	cfg  Config
	dial DialFunc
	// MaxConns bounds the connections kept (default 4).
	MaxConns int

	mu      sync.Mutex
	cond    *sync.Cond
	conns   []*poolConn
	dialing bool
	closed  bool

	dials atomic.Int64
}

// NewPool makes a pool that dials with dial.
func NewPool(cfg Config, dial DialFunc) *Pool {
	cfg.defaults()
	p := &Pool{cfg: cfg, dial: dial, MaxConns: 4}
	p.cond = sync.NewCond(&p.mu)
	return p
}

// Dials is how many connections the pool has made or adopted.
func (p *Pool) Dials() int64 { return p.dials.Load() }

// Conns is how many connections the pool holds now.
func (p *Pool) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Adopt takes a connection dialed elsewhere (a TLS dial that negotiated h2)
// into the pool.
func (p *Pool) Adopt(nc net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		nc.Close()
		return
	}
	p.addLocked(nc)
}

func (p *Pool) addLocked(nc net.Conn) *poolConn {
	pc := startConn(p, nc)
	p.dials.Add(1)
	p.conns = append(p.conns, pc)
	p.cond.Broadcast()
	return pc
}

// Usable reports whether some connection can take a stream now.
func (p *Pool) Usable() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pc := range p.conns {
		if pc.canTake() {
			return true
		}
	}
	return false
}

// Warm makes sure the pool has a connection that is not going away, dialing
// one if not; it returns the dial's error (so that a caller can tell an
// unreachable backend before any request is sent).
func (p *Pool) Warm(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		if p.closed {
			return ErrConnClosed
		}
		for _, pc := range p.conns {
			if pc.alive() {
				return nil
			}
		}
		if !p.dialing {
			return p.dialLocked(ctx)
		}
		p.waitLocked(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// dialLocked dials a connection with p.mu released meanwhile.
func (p *Pool) dialLocked(ctx context.Context) error {
	p.dialing = true
	p.mu.Unlock()
	nc, err := p.dial(ctx)
	p.mu.Lock()
	p.dialing = false
	p.cond.Broadcast()
	if err != nil {
		return err
	}
	if p.closed {
		nc.Close()
		return ErrConnClosed
	}
	p.addLocked(nc)
	return nil
}

// waitLocked waits for a change (a stream slot, a connection) or ctx's end.
func (p *Pool) waitLocked(ctx context.Context) {
	stop := context.AfterFunc(ctx, func() {
		p.mu.Lock()
		p.cond.Broadcast()
		p.mu.Unlock()
	})
	p.cond.Wait()
	stop()
}

// Open starts a request as a stream on one of the pool's connections,
// waiting (until ctx ends) for a stream slot when every connection is at the
// backend's limit. The Call's events are delivered to it; see Call.
func (p *Pool) Open(ctx context.Context, req Request) (*Call, error) {
	c := &Call{pool: p, req: req, replayOK: true}
	if err := c.open(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// pick returns a connection with a free stream slot, dialing one when
// needed, with p.mu held.
func (p *Pool) pick(ctx context.Context) (*poolConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		if p.closed {
			return nil, ErrConnClosed
		}
		p.pruneLocked()
		alive := 0
		for _, pc := range p.conns {
			if pc.canTake() {
				return pc, nil
			}
			if pc.alive() {
				alive++
			}
		}
		if !p.dialing && (alive == 0 || len(p.conns) < p.MaxConns) {
			if err := p.dialLocked(ctx); err != nil {
				return nil, err
			}
			continue
		}
		p.waitLocked(ctx)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

// pruneLocked forgets connections that are done.
func (p *Pool) pruneLocked() {
	kept := p.conns[:0]
	for _, pc := range p.conns {
		if !pc.finished() {
			kept = append(kept, pc)
		}
	}
	for i := len(kept); i < len(p.conns); i++ {
		p.conns[i] = nil
	}
	p.conns = kept
}

// Close ends every connection (GOAWAY) and fails waiting and open calls.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	conns := p.conns
	p.conns = nil
	p.cond.Broadcast()
	p.mu.Unlock()
	for _, pc := range conns {
		pc.do(func() { pc.h2.Close() })
		pc.shutdown()
	}
}

// notify wakes Open/Warm waiters (a slot freed, a connection ended).
func (p *Pool) notify() {
	p.mu.Lock()
	p.cond.Broadcast()
	p.mu.Unlock()
}

// poolConn drives one Conn over a net.Conn: a reader goroutine feeds it, a
// writer goroutine sends its output and runs its keepalive tick.
type poolConn struct {
	p  *Pool
	nc net.Conn

	mu     sync.Mutex // guards h2 and the Calls' state
	h2     *Conn
	freed  bool // a stream ended since the last notify (under mu)
	wake   chan struct{}
	closed chan struct{}
	once   sync.Once
}

func startConn(p *Pool, nc net.Conn) *poolConn {
	pc := &poolConn{p: p, nc: nc, h2: NewConn(p.cfg, time.Now()),
		wake: make(chan struct{}, 1), closed: make(chan struct{})}
	go pc.readLoop()
	go pc.writeLoop()
	pc.kick()
	return pc
}

func (pc *poolConn) canTake() bool {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.h2.CanTakeStream()
}

func (pc *poolConn) alive() bool {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.h2.Err() == nil && !pc.h2.goAway
}

func (pc *poolConn) finished() bool {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.h2.Done()
}

// do runs fn with the connection locked, then sends what it produced and
// wakes pool waiters if a stream ended.
func (pc *poolConn) do(fn func()) {
	pc.mu.Lock()
	fn()
	freed := pc.freed
	pc.freed = false
	pc.mu.Unlock()
	pc.kick()
	if freed {
		pc.p.notify()
	}
}

func (pc *poolConn) kick() {
	select {
	case pc.wake <- struct{}{}:
	default:
	}
}

func (pc *poolConn) readLoop() {
	buf := make([]byte, 0, 64<<10)
	tmp := make([]byte, 32<<10)
	for {
		n, err := pc.nc.Read(tmp)
		if n > 0 {
			buf = append(buf, tmp[:n]...)
			var used int
			var ferr error
			pc.do(func() { used, ferr = pc.h2.Feed(buf, time.Now()) })
			buf = buf[:copy(buf, buf[used:])]
			if ferr != nil {
				pc.shutdownAfterFlush()
				return
			}
		}
		if err != nil {
			pc.do(func() { pc.h2.Lost(err); pc.freed = true })
			pc.shutdown()
			return
		}
	}
}

func (pc *poolConn) writeLoop() {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var out []byte
	for {
		select {
		case <-pc.wake:
		case now := <-tick.C:
			pc.do(func() { pc.h2.Tick(now) })
		case <-pc.closed:
			return
		}
		pc.mu.Lock()
		out = pc.h2.TakeOutput(out[:0])
		done := pc.h2.Done()
		pc.mu.Unlock()
		if len(out) > 0 {
			pc.nc.SetWriteDeadline(time.Now().Add(30 * time.Second))
			if _, err := pc.nc.Write(out); err != nil {
				pc.do(func() { pc.h2.Lost(err); pc.freed = true })
				pc.shutdown()
				return
			}
		}
		if cap(out) > 1<<20 {
			out = nil
		}
		if done {
			pc.shutdown()
			return
		}
	}
}

// shutdownAfterFlush lets the writer send the GOAWAY of a failed
// connection, then closes it.
func (pc *poolConn) shutdownAfterFlush() {
	pc.p.notify()
	pc.kick() // the writer sees Done, flushes and shuts down
	time.AfterFunc(5*time.Second, pc.shutdown)
}

func (pc *poolConn) shutdown() {
	pc.once.Do(func() {
		close(pc.closed)
		pc.nc.Close()
		pc.do(func() { pc.h2.Lost(errors.New("connection closed")) })
		pc.p.notify()
	})
}
