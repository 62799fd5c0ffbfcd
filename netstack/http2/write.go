package http2

import (
	"strconv"
	"strings"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// WriteHeaders sends the response head of stream id: status and fields
// (names are lower-cased; pseudo-header and connection-specific fields are
// dropped). end means no body follows. A status below 200 is interim (100
// Continue) and may be followed by another head.
func (c *Conn) WriteHeaders(id uint32, status int, fields []Field, end bool) error {
	st := c.streams[id]
	if c.closed || st == nil || st.localClosed || st.endPending || st.answered {
		return ErrNoStream
	}
	c.encBuf.Reset()
	c.enc.WriteField(hpack.HeaderField{Name: ":status", Value: statusString(status)})
	for _, f := range fields {
		name := c.lower(f.Name)
		if name == "" || name[0] == ':' || connectionSpecific(name) || name == "te" {
			continue
		}
		c.enc.WriteField(hpack.HeaderField{Name: name, Value: f.Value})
	}
	c.writeBlock(id, end)
	if status >= 200 {
		st.answered = true
	}
	if end {
		st.localClosed = true
		c.streamDone(st)
	}
	return nil
}

// writeBlock sends the header block in c.encBuf for stream id as HEADERS
// and as many CONTINUATION frames as the peer's frame size needs; end sets
// END_STREAM.
func (c *Conn) writeBlock(id uint32, end bool) {
	block := c.encBuf.Bytes()
	max := int(c.peerMaxFrame)
	first := true
	for first || len(block) > 0 {
		n := min(len(block), max)
		frag, last := block[:n], n == len(block)
		block = block[n:]
		if first {
			c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: frag, EndStream: end, EndHeaders: last})
			first = false
		} else {
			c.fr.WriteContinuation(id, last, frag)
		}
	}
}

// statusStrings holds "100" to "599", so a status costs no allocation.
var statusStrings = func() (t [600]string) {
	for i := 100; i < len(t); i++ {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

func statusString(status int) string {
	if status >= 100 && status < len(statusStrings) {
		return statusStrings[status]
	}
	return strconv.Itoa(status)
}

// commonLower maps the usual canonical header names to lower case.
var commonLower = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{"Content-Type", "Content-Length", "Date", "Server", "Cache-Control",
		"Etag", "ETag", "Expires", "Last-Modified", "Location", "Set-Cookie", "Vary", "Content-Encoding",
		"Content-Language", "Content-Disposition", "Access-Control-Allow-Origin", "Retry-After",
		"Www-Authenticate", "WWW-Authenticate", "X-Content-Type-Options", "Strict-Transport-Security",
		"Request-Context", "X-Request-Id", "Accept-Ranges", "Age", "Allow", "Link", "Pragma"} {
		m[n] = strings.ToLower(n)
	}
	return m
}()

// lower returns name in lower case, without allocating when it already is
// or is a common header name.
func (c *Conn) lower(name string) string {
	if l, ok := commonLower[name]; ok {
		return l
	}
	for i := 0; i < len(name); i++ {
		if 'A' <= name[i] && name[i] <= 'Z' {
			b := append(c.lname[:0], name...)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			c.lname = b
			return string(b)
		}
	}
	return name
}

// WriteData queues response body bytes of stream id (copied) and sends
// what the flow-control windows allow; end ends the stream after them.
// Buffered tells how much still waits: the caller bounds it (a client that
// opens no window must not make it grow without end).
func (c *Conn) WriteData(id uint32, data []byte, end bool) error {
	st := c.streams[id]
	if c.closed || st == nil || st.localClosed || st.endPending {
		return ErrNoStream
	}
	if len(st.pending) == st.off {
		// Nothing queued: send what the windows allow straight from data,
		// and queue only the rest.
		for len(data) > 0 {
			n := int64(min(len(data), int(c.peerMaxFrame)))
			n = min(n, st.sendWindow, c.sendWindow)
			if n <= 0 {
				break
			}
			last := int(n) == len(data) && end
			c.fr.WriteData(st.id, last, data[:n])
			data = data[n:]
			st.sendWindow -= n
			c.sendWindow -= n
			if last {
				st.localClosed = true
				c.streamDone(st)
				return nil
			}
		}
	}
	st.pending = append(st.pending, data...)
	st.endPending = end
	c.flush(st)
	return nil
}

// WriteTrailers ends stream id with a trailer section (a HEADERS frame with
// END_STREAM, no pseudo-headers) after the body bytes still waiting for
// window: how gRPC's grpc-status and grpc-message reach the client. Names
// are lower-cased; pseudo-header and connection-specific fields are dropped.
func (c *Conn) WriteTrailers(id uint32, fields []Field) error {
	st := c.streams[id]
	if c.closed || st == nil || st.localClosed || st.endPending || !st.answered {
		return ErrNoStream
	}
	for _, f := range fields {
		name := c.lower(f.Name)
		if name == "" || name[0] == ':' || connectionSpecific(name) || name == "te" {
			continue
		}
		st.respTrailers = append(st.respTrailers, Field{Name: name, Value: f.Value})
	}
	st.endPending = true
	c.flush(st)
	return nil
}

// writeTrailerBlock sends st's trailers as HEADERS (+ CONTINUATION) with
// END_STREAM.
func (c *Conn) writeTrailerBlock(st *stream) {
	c.encBuf.Reset()
	for _, f := range st.respTrailers {
		c.enc.WriteField(hpack.HeaderField{Name: f.Name, Value: f.Value})
	}
	c.writeBlock(st.id, true)
	st.respTrailers = nil
}

// Buffered returns the response body bytes of stream id waiting for flow
// control window.
func (c *Conn) Buffered(id uint32) int {
	if st := c.streams[id]; st != nil {
		return len(st.pending) - st.off
	}
	return 0
}

// ResetStream ends stream id with RST_STREAM(code), without an event.
func (c *Conn) ResetStream(id uint32, code ErrCode) {
	st := c.streams[id]
	if c.closed || st == nil {
		return
	}
	c.fr.WriteRSTStream(id, code)
	c.removeStream(st)
}

// flush sends as much of st's pending body as the windows allow.
func (c *Conn) flush(st *stream) {
	if st.localClosed {
		return
	}
	for !c.closed && !st.localClosed {
		avail := len(st.pending) - st.off
		if avail == 0 {
			if st.endPending {
				if len(st.respTrailers) > 0 {
					c.writeTrailerBlock(st)
				} else {
					c.fr.WriteData(st.id, true, nil)
				}
				st.localClosed = true
			}
			break
		}
		n := int64(min(avail, int(c.peerMaxFrame)))
		n = min(n, st.sendWindow, c.sendWindow)
		if n <= 0 {
			break
		}
		last := int(n) == avail && st.endPending && len(st.respTrailers) == 0
		c.fr.WriteData(st.id, last, st.pending[st.off:st.off+int(n)])
		st.off += int(n)
		st.sendWindow -= n
		c.sendWindow -= n
		if last {
			st.localClosed = true
		}
	}
	if st.off == len(st.pending) {
		st.off = 0
		if cap(st.pending) > 64<<10 {
			st.pending = nil
		} else {
			st.pending = st.pending[:0]
		}
	} else if st.off > 32<<10 && st.off > len(st.pending)/2 {
		st.pending = append(st.pending[:0], st.pending[st.off:]...)
		st.off = 0
	}
	if st.localClosed {
		c.streamDone(st)
	}
}

// flushAll gives every stream with pending data a turn (a window opened).
func (c *Conn) flushAll() {
	for _, st := range c.streams {
		if c.sendWindow <= 0 {
			return
		}
		if !st.localClosed && (len(st.pending) > st.off || st.endPending) {
			c.flush(st)
		}
	}
}

// streamDone runs once this side ended st: an answered stream refunds the
// reset budget, and a stream closed both ways is forgotten.
func (c *Conn) streamDone(st *stream) {
	if c.resetBudget < c.lim.ResetBudget {
		c.resetBudget++
	}
	if st.remoteClosed {
		c.removeStream(st)
	}
}
