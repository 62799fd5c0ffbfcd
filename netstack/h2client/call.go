package h2client

import (
	"context"
	"errors"
	"io"
	"sync"

	"golang.org/x/net/http2/hpack"
)

// maxReplay bounds the request body a Call keeps to send again when the
// backend refuses the stream unprocessed (GOAWAY, REFUSED_STREAM).
const maxReplay = 64 << 10

// Call is one request on a Pool with a blocking API for one goroutine (the
// Bridge's): Write the body, CloseWrite, Response, then Read to io.EOF and
// Trailers. Response body bytes wait in the Call's buffer, bounded by the
// stream window: the backend may send more only as Read takes them.
type Call struct {
	pool *Pool
	req  Request

	// Replay: the request body sent so far, while it is small and complete
	// enough to send again on a refused stream.
	replay   []byte
	replayOK bool
	ended    bool // CloseWrite was called

	// Guarded by pc.mu.
	pc      *poolConn
	s       *Stream
	cond    *sync.Cond
	status  int
	header  []hpack.HeaderField
	trailer []hpack.HeaderField
	buf     []byte
	off     int
	done    bool
	err     error
	retries int
}

var _ Handler = (*Call)(nil)

// open starts the stream on a connection with a free slot.
func (c *Call) open(ctx context.Context) error {
	for {
		pc, err := c.pool.pick(ctx)
		if err != nil {
			return err
		}
		var serr error
		pc.do(func() {
			c.pc, c.cond = pc, sync.NewCond(&pc.mu)
			c.s, serr = pc.h2.NewStream(c.req, c)
			if serr == nil && len(c.replay) > 0 {
				c.writeLocked(c.replay, c.ended)
			} else if serr == nil && c.ended && !c.req.NoBody {
				c.s.CloseWrite()
			}
		})
		if serr == nil {
			return nil
		}
		if !errors.Is(serr, ErrStreamLimit) && !errors.Is(serr, ErrGoingAway) {
			return serr
		}
		// Lost the race for the slot: pick again.
	}
}

// writeLocked sends p, waiting on the window; pc.mu is held.
func (c *Call) writeLocked(p []byte, end bool) error {
	for {
		if c.done {
			if c.err != nil {
				return c.err
			}
			return nil // the response is complete: the backend wants no more
		}
		n := c.s.Write(p, end)
		p = p[n:]
		if len(p) == 0 {
			if end && !c.s.sentEnd {
				c.s.CloseWrite()
			}
			return nil
		}
		c.pc.mu.Unlock()
		c.pc.kick()
		c.pc.mu.Lock()
		if c.done || len(p) == 0 {
			continue
		}
		if c.s.blocked {
			c.cond.Wait()
		}
	}
}

// Write sends request body bytes, blocking while the windows are closed.
func (c *Call) Write(p []byte) error {
	if c.replayOK {
		if len(c.replay)+len(p) <= maxReplay {
			c.replay = append(c.replay, p...)
		} else {
			c.replayOK, c.replay = false, nil
		}
	}
	var err error
	c.pc.do(func() { err = c.writeLocked(p, false) })
	return err
}

// CloseWrite ends the request body.
func (c *Call) CloseWrite() error {
	c.ended = true
	var err error
	c.pc.do(func() { err = c.writeLocked(nil, true) })
	return err
}

// Response waits for the response head. A stream the backend refused
// unprocessed is sent again on another connection (once per refusal, at most
// three times) if its body was small enough to keep.
func (c *Call) Response(ctx context.Context) (int, []hpack.HeaderField, error) {
	for {
		pc := c.pc
		pc.mu.Lock()
		for c.status == 0 && !c.done {
			c.wait(ctx)
			if ctx.Err() != nil && c.status == 0 && !c.done {
				s := c.s
				pc.mu.Unlock()
				pc.do(func() { s.Cancel() })
				return 0, nil, ctx.Err()
			}
		}
		status, header, err := c.status, c.header, c.err
		pc.mu.Unlock()
		if status != 0 {
			return status, header, nil
		}
		if errors.Is(err, ErrRefused) && c.retries < 3 && (c.replayOK || c.req.NoBody) && (c.ended || c.req.NoBody) {
			c.retries++
			c.done, c.err = false, nil
			if err := c.open(ctx); err != nil {
				return 0, nil, err
			}
			continue
		}
		return 0, nil, err
	}
}

func (c *Call) wait(ctx context.Context) {
	stop := context.AfterFunc(ctx, func() {
		c.pc.mu.Lock()
		c.cond.Broadcast()
		c.pc.mu.Unlock()
	})
	c.cond.Wait()
	stop()
}

// Read reads response body bytes; io.EOF after the complete body, or the
// error the stream ended with.
func (c *Call) Read(p []byte) (int, error) {
	pc := c.pc
	pc.mu.Lock()
	for c.off == len(c.buf) && !c.done {
		c.cond.Wait()
	}
	if c.off < len(c.buf) {
		n := copy(p, c.buf[c.off:])
		c.off += n
		if c.off == len(c.buf) {
			c.buf, c.off = c.buf[:0], 0
		}
		s := c.s
		pc.mu.Unlock()
		pc.do(func() { s.Consume(n) })
		return n, nil
	}
	err := c.err
	pc.mu.Unlock()
	if err == nil {
		return 0, io.EOF
	}
	return 0, err
}

// HeadOnly reports whether the response ended with its head (see
// Stream.HeadOnly); valid after Response.
func (c *Call) HeadOnly() bool {
	c.pc.mu.Lock()
	defer c.pc.mu.Unlock()
	return c.s.HeadOnly()
}

// Trailers is the trailer section, valid after Read returned io.EOF.
func (c *Call) Trailers() []hpack.HeaderField {
	c.pc.mu.Lock()
	defer c.pc.mu.Unlock()
	return c.trailer
}

// Cancel resets the stream if it is still open; buffered body bytes are
// returned to the connection window.
func (c *Call) Cancel() {
	c.pc.do(func() {
		if n := len(c.buf) - c.off; n > 0 {
			c.s.Consume(n)
			c.buf, c.off = nil, 0
		}
		c.s.Cancel()
	})
}

// Handler side: runs with pc.mu held (inside the Conn).

func (c *Call) OnResponse(s *Stream, status int, header []hpack.HeaderField) {
	c.status = status
	c.header = append([]hpack.HeaderField(nil), header...)
	c.cond.Broadcast()
}

func (c *Call) OnData(s *Stream, p []byte) {
	c.buf = append(c.buf, p...)
	c.cond.Broadcast()
}

func (c *Call) OnTrailers(s *Stream, trailer []hpack.HeaderField) {
	c.trailer = append([]hpack.HeaderField(nil), trailer...)
}

func (c *Call) OnWritable(s *Stream) { c.cond.Broadcast() }

func (c *Call) OnEnd(s *Stream, err error) {
	if s != c.s {
		return
	}
	c.done, c.err = true, err
	c.pc.freed = true
	c.cond.Broadcast()
}
