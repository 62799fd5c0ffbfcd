package h2client

import "golang.org/x/net/http2"

// Stream is one request/response exchange on a Conn. Its methods follow the
// Conn's rule: called only by whoever holds the Conn.
type Stream struct {
	c  *Conn
	id uint32
	h  Handler

	sendWindow int64
	recvWindow int64 // receive window left
	unacked    int64 // consumed, not yet returned by WINDOW_UPDATE
	received   int64 // response body bytes

	reqContentLength  int64 // -1: unknown
	respContentLength int64 // -1: unknown
	sent              int64

	sentEnd     bool // END_STREAM sent (or the request has no body)
	recvEnd     bool
	gotResponse bool
	headEnded   bool // the response head carried END_STREAM (gRPC's trailers-only form)
	blocked     bool // a Write could not take everything: Writable follows
	done        bool // End ran

	// Value is free for the owner of the stream.
	Value any
}

// ID is the stream identifier.
func (s *Stream) ID() uint32 { return s.id }

// HeadOnly reports whether the response ended with its head (no body, no
// trailers: gRPC's "trailers-only" response).
func (s *Stream) HeadOnly() bool { return s.headEnded }

// Done reports whether the stream ended (End ran).
func (s *Stream) Done() bool { return s.done }

// Write sends request body bytes as DATA frames, as far as the stream's and
// the connection's send windows allow, and reports how many it took; end
// ends the request body once all of p is taken. If it takes less than
// len(p), Handler.Writable runs when the windows open: the caller holds the
// rest (this is the bound on buffered request bytes: none are kept here).
func (s *Stream) Write(p []byte, end bool) int {
	c := s.c
	if s.done || s.sentEnd || c.err != nil {
		return 0
	}
	n := 0
	for len(p) > 0 {
		allowed := min(s.sendWindow, c.sendWindow, int64(c.peerMaxFrame), int64(len(p)))
		if allowed <= 0 {
			break
		}
		chunk := p[:allowed]
		p = p[allowed:]
		last := end && len(p) == 0
		c.fr.WriteData(s.id, last, chunk)
		s.sendWindow -= allowed
		c.sendWindow -= allowed
		s.sent += allowed
		n += int(allowed)
		if last {
			s.sentEnd = true
		}
	}
	if len(p) > 0 {
		if !s.blocked {
			s.blocked = true
			c.blockedWriters++
		}
		return n
	}
	if end && !s.sentEnd {
		c.fr.WriteData(s.id, true, nil)
		s.sentEnd = true
	}
	return n
}

// CloseWrite ends the request body (an empty DATA frame with END_STREAM).
func (s *Stream) CloseWrite() { s.Write(nil, true) }

// Consume returns n body bytes the consumer handed on to the windows, so
// the backend may send more (WINDOW_UPDATE once a quarter of a window is
// consumed). It may be called after End for bytes still buffered then.
func (s *Stream) Consume(n int) {
	c := s.c
	if n <= 0 || c.err != nil {
		return
	}
	c.returnConn(int64(n))
	s.returnStream(int64(n))
}

func (s *Stream) returnStream(n int64) {
	c := s.c
	if s.done || s.recvEnd || c.err != nil {
		return
	}
	s.unacked += n
	if s.unacked >= int64(c.cfg.StreamWindow)/4 {
		c.fr.WriteWindowUpdate(s.id, uint32(s.unacked))
		s.recvWindow += s.unacked
		s.unacked = 0
	}
}

// Cancel resets the stream (RST_STREAM CANCEL); End runs with ErrCanceled.
func (s *Stream) Cancel() {
	if s.done || s.c.err != nil {
		return
	}
	s.c.resetStream(s, http2.ErrCodeCancel, ErrCanceled)
}

func (s *Stream) unblock() {
	s.blocked = false
	s.c.blockedWriters--
	s.h.OnWritable(s)
}
