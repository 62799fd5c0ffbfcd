package http2

import (
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Request is a request head as HTTP/2 carries it, validated per RFC 9113
// §8.2-8.3: pseudo-header fields first and each once, names in lower case,
// no connection-specific fields, TE only "trailers", :authority and Host
// agreeing. Fields holds the regular fields in order, with the cookie
// crumbs joined into one field (§8.2.3), so it maps onto an HTTP/1.1 head.
type Request struct {
	Method, Scheme, Authority, Path string
	Fields                          []Field
	// ContentLength is the declared body length, -1 when none was given.
	ContentLength int64
}

// Field is one header field.
type Field struct {
	Name, Value string
}

// connection-specific fields a request must not carry (RFC 9113 §8.2.2).
func connectionSpecific(name string) bool {
	switch name {
	case "connection", "proxy-connection", "keep-alive", "transfer-encoding", "upgrade":
		return true
	}
	return false
}

// emit collects decoded fields within MaxHeaderListSize.
func (c *Conn) emit(hf hpack.HeaderField) {
	if c.tooLarge {
		return
	}
	c.listSize += hf.Size()
	if c.listSize > c.lim.MaxHeaderListSize {
		c.tooLarge = true
		c.dec.SetEmitEnabled(false)
		return
	}
	c.fields = append(c.fields, hf)
}

// endHeaders decodes a complete header block and acts on it (a new
// request, trailers, or an error).
func (c *Conn) endHeaders() {
	id, end, selfDep := c.hdrID, c.hdrEnd, c.hdrSelfDep
	c.fields, c.listSize, c.tooLarge = c.fields[:0], 0, false
	c.dec.SetEmitEnabled(true)
	_, err := c.dec.Write(c.hdrBlock)
	if err == nil {
		err = c.dec.Close()
	}
	c.hdrBlock = c.hdrBlock[:0]
	if cap(c.hdrBlock) > 64<<10 {
		c.hdrBlock = nil
	}
	if err != nil {
		c.fail(http2.ErrCodeCompression, ErrProtocol, "header block: "+err.Error())
		return
	}
	if id%2 == 0 {
		c.fail(http2.ErrCodeProtocol, ErrProtocol, "HEADERS on an even stream")
		return
	}
	if st := c.streams[id]; st != nil {
		c.trailers(st, end)
		return
	}
	if id <= c.maxClientID {
		c.fail(http2.ErrCodeProtocol, ErrProtocol, "HEADERS on a closed or lower stream")
		return
	}
	if c.goingAway {
		return // after our GOAWAY: ignored (RFC 9113 §6.8)
	}
	c.maxClientID = id
	if uint32(len(c.streams)) >= c.lim.MaxConcurrentStreams {
		c.streamError(id, http2.ErrCodeRefusedStream)
		return
	}
	if selfDep {
		c.streamError(id, http2.ErrCodeProtocol)
		return
	}
	if c.tooLarge {
		st := c.newStream(id, end)
		c.WriteHeaders(id, 431, nil, true)
		if c.streams[id] == st {
			c.ResetStream(id, http2.ErrCodeNo)
		}
		return
	}
	req, ok := c.request()
	if !ok || end && req.ContentLength > 0 {
		c.streamError(id, http2.ErrCodeProtocol)
		return
	}
	st := c.newStream(id, end)
	st.declLen = req.ContentLength
	c.ev = Event{Kind: EventRequest, Stream: id, Req: req, End: end}
	if c.fn != nil {
		c.fn(&c.ev)
	}
	if st := c.streams[id]; st != nil && st.remoteClosed && st.localClosed {
		c.removeStream(st)
	}
}

func (c *Conn) newStream(id uint32, end bool) *stream {
	st := &stream{id: id, remoteClosed: end, sendWindow: c.peerInitWindow,
		recvWindow: int64(c.lim.StreamWindow), declLen: -1}
	c.streams[id] = st
	return st
}

// trailers handles a second header block on an open stream: it must end
// the stream and carry no pseudo-header field (RFC 9113 §8.1).
func (c *Conn) trailers(st *stream, end bool) {
	if st.remoteClosed {
		c.streamError(st.id, http2.ErrCodeStreamClosed)
		return
	}
	if st.trailers {
		c.fail(http2.ErrCodeProtocol, ErrProtocol, "a third header block on a stream")
		return
	}
	st.trailers = true
	if !end {
		c.streamError(st.id, http2.ErrCodeProtocol)
		return
	}
	for _, hf := range c.fields {
		if hf.IsPseudo() || !validName(hf.Name) || !httpguts.ValidHeaderFieldValue(hf.Value) {
			c.streamError(st.id, http2.ErrCodeProtocol)
			return
		}
	}
	if st.declLen >= 0 && st.gotLen != st.declLen {
		c.streamError(st.id, http2.ErrCodeProtocol)
		return
	}
	st.remoteClosed = true
	id := st.id
	c.emitData(id, nil, true)
	if st := c.streams[id]; st != nil && st.localClosed {
		c.removeStream(st)
	}
}

// validName: a token in lower case (RFC 9113 §8.2.1), or a pseudo-header name.
func validName(n string) bool {
	if strings.HasPrefix(n, ":") {
		n = n[1:]
	}
	if n == "" || !httpguts.ValidHeaderFieldName(n) {
		return false
	}
	for i := 0; i < len(n); i++ {
		if 'A' <= n[i] && n[i] <= 'Z' {
			return false
		}
	}
	return true
}

// request validates the decoded fields into a Request.
func (c *Conn) request() (*Request, bool) {
	req := &Request{ContentLength: -1}
	var host, cookie string
	hasHost, hasCookie, regular := false, false, false
	for _, hf := range c.fields {
		if !validName(hf.Name) || !httpguts.ValidHeaderFieldValue(hf.Value) {
			return nil, false
		}
		if hf.IsPseudo() {
			if regular {
				return nil, false
			}
			var p *string
			switch hf.Name {
			case ":method":
				p = &req.Method
			case ":scheme":
				p = &req.Scheme
			case ":authority":
				p = &req.Authority
			case ":path":
				p = &req.Path
			default:
				return nil, false
			}
			if *p != "" || hf.Value == "" {
				return nil, false
			}
			*p = hf.Value
			continue
		}
		regular = true
		switch hf.Name {
		case "te":
			if hf.Value != "trailers" {
				return nil, false
			}
		case "host":
			if hasHost {
				return nil, false
			}
			host, hasHost = hf.Value, true
		case "content-length":
			n, err := strconv.ParseInt(hf.Value, 10, 64)
			if err != nil || n < 0 || req.ContentLength >= 0 && req.ContentLength != n {
				return nil, false
			}
			req.ContentLength = n
		case "cookie":
			if hasCookie {
				cookie += "; " + hf.Value
			} else {
				cookie, hasCookie = hf.Value, true
			}
			continue
		default:
			if connectionSpecific(hf.Name) {
				return nil, false
			}
		}
		req.Fields = append(req.Fields, Field{hf.Name, hf.Value})
	}
	if hasCookie {
		req.Fields = append(req.Fields, Field{"cookie", cookie})
	}
	if req.Method == "CONNECT" {
		// RFC 9113 §8.5: only :method and :authority.
		if req.Scheme != "" || req.Path != "" || req.Authority == "" {
			return nil, false
		}
		return req, true
	}
	if req.Method == "" || req.Path == "" || req.Scheme != "http" && req.Scheme != "https" {
		return nil, false
	}
	if req.Path[0] != '/' && !(req.Path == "*" && req.Method == "OPTIONS") {
		return nil, false
	}
	if req.Authority == "" {
		req.Authority = host
	} else if hasHost && !strings.EqualFold(host, req.Authority) {
		// RFC 9113 §8.3.1: a Host that names another entity is malformed.
		return nil, false
	}
	return req, true
}
