package http1

import "bytes"

// Limits bound what a peer may send in a message head. The zero value of a field
// means its default.
type Limits struct {
	MaxRequestLine int   // bytes in the request line, CRLF excluded (default 8 KiB)
	MaxHeadBytes   int   // bytes in the whole head, request line included (default 32 KiB)
	MaxHeaders     int   // header fields (default 100)
	MaxBodyBytes   int64 // request body bytes; 0 means no limit
}

// Default limits.
const (
	DefaultMaxRequestLine = 8 << 10
	DefaultMaxHeadBytes   = 32 << 10
	DefaultMaxHeaders     = 100
)

func (l *Limits) requestLine() int {
	if l == nil || l.MaxRequestLine <= 0 {
		return DefaultMaxRequestLine
	}
	return l.MaxRequestLine
}

func (l *Limits) headBytes() int {
	if l == nil || l.MaxHeadBytes <= 0 {
		return DefaultMaxHeadBytes
	}
	return l.MaxHeadBytes
}

func (l *Limits) headers() int {
	if l == nil || l.MaxHeaders <= 0 {
		return DefaultMaxHeaders
	}
	return l.MaxHeaders
}

// Span is a range of bytes in the buffer a head was parsed from. Spans stay valid
// as long as those bytes do: copy the head (see Head.Buf) before the buffer is
// reused, and the spans stay valid against the copy.
type Span struct {
	Off, Len int32
}

// In returns the bytes of s in buf.
func (s Span) In(buf []byte) []byte { return buf[s.Off : s.Off+s.Len] }

// Header is one header field: its name and its value with surrounding
// whitespace trimmed.
type Header struct {
	Name, Value Span
}

// Framing says how a message body is delimited.
type Framing uint8

const (
	NoBody         Framing = iota // no body at all (or Content-Length: 0)
	Length                        // Content-Length bytes
	Chunked                       // chunked transfer coding
	CloseDelimited                // responses only: until the connection closes
)

// Head is a parsed request or response head. All spans point into Buf.
// A Head is reused across messages: Parse* resets it.
type Head struct {
	// Buf holds the head's bytes: the caller's buffer after parsing. Call Own to
	// copy them when the head must outlive that buffer.
	Buf []byte
	// Len is the head's length in bytes, terminating empty line included.
	Len int

	// Request line.
	Method, Target Span
	// Status line.
	Status int
	Reason Span

	Minor   int // HTTP/1.Minor: 0 or 1
	Headers []Header

	Framing       Framing
	ContentLength int64 // valid when Framing == Length

	Host           Span // requests: the Host header (Len 0 if absent on HTTP/1.0)
	KeepAlive      bool // the connection may carry another message after this one
	ConnUpgrade    bool // Connection lists "upgrade"
	Upgrade        Span // the Upgrade header, if any
	ExpectContinue bool // requests: Expect: 100-continue
	// Connection holds the Connection header values, for removing the fields they
	// name (hop-by-hop) when the message is forwarded.
	Connection []Span

	own []byte
}

// Own copies the head's bytes into storage owned by h, so that it outlives the
// buffer it was parsed from. The spans stay valid. The storage is reused by later
// calls to Own, so it costs no allocation once grown.
func (h *Head) Own() {
	h.own = append(h.own[:0], h.Buf[:h.Len]...)
	h.Buf = h.own
}

// Owned reports whether the head's bytes are in h's own storage (Own), so
// they outlive the buffer the head was parsed from.
func (h *Head) Owned() bool {
	return h.Len > 0 && len(h.own) >= h.Len && len(h.Buf) > 0 && &h.Buf[0] == &h.own[0]
}

// Bytes returns the bytes of s in the head.
func (h *Head) Bytes(s Span) []byte { return h.Buf[s.Off : s.Off+s.Len] }

// IsHopByHopName reports whether name is one of the fixed hop-by-hop fields
// (RFC 9110 §7.6.1) or a framing field (Content-Length, Transfer-Encoding),
// which a forwarder always writes itself.
func IsHopByHopName(name []byte) bool {
	switch len(name) {
	case 2:
		return equalFold(name, "te")
	case 7:
		return equalFold(name, "trailer") || equalFold(name, "upgrade")
	case 10:
		return equalFold(name, "connection") || equalFold(name, "keep-alive")
	case 14:
		return equalFold(name, "content-length")
	case 16:
		return equalFold(name, "proxy-connection")
	case 17:
		return equalFold(name, "transfer-encoding")
	case 18:
		return equalFold(name, "proxy-authenticate")
	case 19:
		return equalFold(name, "proxy-authorization")
	}
	return false
}

// Get returns the value of the first header field named name (ASCII case-
// insensitive), and whether there was one.
func (h *Head) Get(name string) ([]byte, bool) {
	for _, f := range h.Headers {
		if equalFold(h.Bytes(f.Name), name) {
			return h.Bytes(f.Value), true
		}
	}
	return nil, false
}

// IsHopByHop reports whether the header field named name must not be forwarded:
// the fixed hop-by-hop fields, the framing fields (the forwarder writes its own),
// and any field named in this message's Connection header — except Host and
// Authorization, which a Connection header may not remove.
func (h *Head) IsHopByHop(name []byte) bool {
	if IsHopByHopName(name) {
		return true
	}
	if len(h.Connection) == 0 || equalFold(name, "host") || equalFold(name, "authorization") {
		return false
	}
	for _, c := range h.Connection {
		found := false
		eachToken(h.Bytes(c), func(tok []byte) bool {
			if bytes.EqualFold(tok, name) {
				found = true
				return false
			}
			return true
		})
		if found {
			return true
		}
	}
	return false
}

func (h *Head) reset(buf []byte) {
	h.Buf = buf
	h.Len = 0
	h.Method, h.Target, h.Reason = Span{}, Span{}, Span{}
	h.Status = 0
	h.Minor = 0
	h.Headers = h.Headers[:0]
	h.Framing = NoBody
	h.ContentLength = 0
	h.Host = Span{}
	h.KeepAlive = false
	h.ConnUpgrade = false
	h.Upgrade = Span{}
	h.ExpectContinue = false
	h.Connection = h.Connection[:0]
}

// ParseRequest parses a request head at the start of buf into h. It returns the
// head's length, ErrNeedMore if buf holds no complete head yet, or an *Error.
// Empty lines before the request line are skipped (RFC 9112 §2.2) and counted in
// the length. On success h.Buf is buf; the body, if any, starts at buf[n:].
func ParseRequest(buf []byte, h *Head, lim *Limits) (int, error) {
	h.reset(buf)
	start := 0
	for start+1 < len(buf) && buf[start] == '\r' && buf[start+1] == '\n' && start < 8 {
		start += 2
	}
	eol := bytes.IndexByte(buf[start:], '\n')
	if eol < 0 {
		if len(buf)-start > lim.requestLine() {
			return 0, ErrRequestLineTooLong
		}
		return 0, ErrNeedMore
	}
	if eol > lim.requestLine()+1 {
		return 0, ErrRequestLineTooLong
	}
	if eol == 0 || buf[start+eol-1] != '\r' {
		return 0, ErrBareLF
	}
	line := buf[start : start+eol-1]
	// method SP request-target SP HTTP-version
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return 0, ErrRequestLine
	}
	for _, c := range line[:sp1] {
		if !isTokenChar(c) {
			return 0, ErrMethod
		}
	}
	rest := line[sp1+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 <= 0 {
		return 0, ErrRequestLine
	}
	for _, c := range rest[:sp2] {
		if c <= ' ' || c >= 0x7f {
			return 0, ErrTarget
		}
	}
	minor, err := parseVersion(rest[sp2+1:])
	if err != nil {
		return 0, err
	}
	h.Method = Span{int32(start), int32(sp1)}
	h.Target = Span{int32(start + sp1 + 1), int32(sp2)}
	h.Minor = minor
	n, err := parseFields(buf, start+eol+1, h, lim, true)
	if err != nil {
		return 0, err
	}
	if err := h.requestSemantics(lim); err != nil {
		return 0, err
	}
	return n, nil
}

// ParseResponse parses a response head at the start of buf into h, for a request
// whose method was method (HEAD responses have no body). It returns the head's
// length, ErrNeedMore, or an *Error. Interim (1xx) responses parse like any other:
// check h.Status.
func ParseResponse(buf []byte, h *Head, lim *Limits, method []byte) (int, error) {
	h.reset(buf)
	eol := bytes.IndexByte(buf, '\n')
	if eol < 0 {
		if len(buf) > lim.headBytes() {
			return 0, ErrHeadTooLarge
		}
		return 0, ErrNeedMore
	}
	if eol == 0 || buf[eol-1] != '\r' {
		return 0, ErrBareLF
	}
	line := buf[:eol-1]
	// HTTP-version SP status-code SP [reason-phrase]
	if len(line) < 12 || line[8] != ' ' || len(line) > 12 && line[12] != ' ' {
		return 0, ErrStatusLine
	}
	minor, err := parseVersion(line[:8])
	if err != nil {
		return 0, err
	}
	status := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return 0, ErrStatusLine
		}
		status = status*10 + int(c-'0')
	}
	if status < 100 {
		return 0, ErrStatusLine
	}
	if len(line) > 13 {
		for _, c := range line[13:] {
			if c < ' ' && c != '\t' || c == 0x7f {
				return 0, ErrStatusLine
			}
		}
		h.Reason = Span{13, int32(len(line) - 13)}
	}
	h.Minor = minor
	h.Status = status
	n, err := parseFields(buf, eol+1, h, lim, false)
	if err != nil {
		return 0, err
	}
	if err := h.responseSemantics(method); err != nil {
		return 0, err
	}
	return n, nil
}

func parseVersion(v []byte) (int, error) {
	if len(v) != 8 || string(v[:5]) != "HTTP/" || v[6] != '.' ||
		v[5] < '0' || v[5] > '9' || v[7] < '0' || v[7] > '9' {
		return 0, ErrVersion
	}
	if v[5] != '1' || v[7] > '1' {
		return 0, ErrVersionUnsupported
	}
	return int(v[7] - '0'), nil
}

// parseFields parses header field lines from buf[pos:] up to and including the
// empty line, appending to h.Headers. It enforces the head limits.
func parseFields(buf []byte, pos int, h *Head, lim *Limits, request bool) (int, error) {
	maxHead := lim.headBytes()
	maxFields := lim.headers()
	tooLarge := ErrHeadTooLarge
	for {
		eol := bytes.IndexByte(buf[pos:], '\n')
		if eol < 0 {
			if len(buf) > maxHead {
				return 0, tooLarge
			}
			return 0, ErrNeedMore
		}
		end := pos + eol + 1
		if end > maxHead {
			return 0, tooLarge
		}
		if eol == 0 || buf[pos+eol-1] != '\r' {
			return 0, ErrBareLF
		}
		line := buf[pos : pos+eol-1]
		if len(line) == 0 {
			h.Len = end
			return end, nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			return 0, ErrObsFold
		}
		colon := -1
		for i, c := range line {
			if c == ':' {
				colon = i
				break
			}
			if !isTokenChar(c) {
				if c == ' ' || c == '\t' {
					return 0, ErrSpaceBeforeColon
				}
				if c == '\r' {
					return 0, ErrBareCR
				}
				return 0, ErrHeaderName
			}
		}
		if colon < 0 {
			return 0, ErrNoColon
		}
		if colon == 0 {
			return 0, ErrHeaderName
		}
		vs, ve := colon+1, len(line)
		for vs < ve && (line[vs] == ' ' || line[vs] == '\t') {
			vs++
		}
		for ve > vs && (line[ve-1] == ' ' || line[ve-1] == '\t') {
			ve--
		}
		for _, c := range line[vs:ve] {
			if c < ' ' && c != '\t' || c == 0x7f {
				if c == '\r' {
					return 0, ErrBareCR
				}
				return 0, ErrHeaderValue
			}
		}
		if len(h.Headers) >= maxFields {
			return 0, ErrTooManyHeaders
		}
		h.Headers = append(h.Headers, Header{
			Name:  Span{int32(pos), int32(colon)},
			Value: Span{int32(pos + vs), int32(ve - vs)},
		})
		pos = end
	}
}

// framingFields scans the fields that decide framing and connection handling,
// and sets KeepAlive from the version and the Connection header.
func (h *Head) framingFields() (cl int64, hasCL bool, te []Span, err error) {
	cl = -1
	closeSeen, keepAliveSeen := false, false
	defer func() {
		h.KeepAlive = !closeSeen && (h.Minor == 1 || keepAliveSeen)
	}()
	for _, f := range h.Headers {
		name := h.Bytes(f.Name)
		switch len(name) {
		case 14:
			if !equalFold(name, "content-length") {
				continue
			}
			ok := true
			eachListElem(h.Bytes(f.Value), func(v []byte) bool {
				n, valid := parseDecimal(v)
				if !valid {
					err, ok = ErrContentLength, false
					return false
				}
				if hasCL && n != cl {
					err, ok = ErrDupContentLength, false
					return false
				}
				cl, hasCL = n, true
				return true
			})
			if !ok {
				return
			}
			if !hasCL { // an empty value
				return 0, false, nil, ErrContentLength
			}
		case 17:
			if equalFold(name, "transfer-encoding") {
				te = append(te, f.Value)
			}
		case 10:
			if equalFold(name, "connection") {
				h.Connection = append(h.Connection, f.Value)
				eachToken(h.Bytes(f.Value), func(tok []byte) bool {
					switch {
					case equalFold(tok, "close"):
						closeSeen = true
					case equalFold(tok, "keep-alive"):
						keepAliveSeen = true
					case equalFold(tok, "upgrade"):
						h.ConnUpgrade = true
					}
					return true
				})
			}
		case 7:
			if equalFold(name, "upgrade") {
				h.Upgrade = f.Value
			}
		}
	}
	return
}

// transferCoding checks Transfer-Encoding values: the codings must end with
// exactly one "chunked", and we support no other coding.
func (h *Head) transferCoding(te []Span) error {
	if h.Minor == 0 {
		return ErrTEOnHTTP10
	}
	var codings, chunkedAt, n int
	chunkedAt = -1
	var bad error
	for _, s := range te {
		eachListElem(h.Bytes(s), func(v []byte) bool {
			if equalFold(v, "chunked") {
				if chunkedAt >= 0 {
					bad = ErrTENotChunkedLast // chunked twice
					return false
				}
				chunkedAt = n
			} else {
				codings++
			}
			n++
			return true
		})
	}
	switch {
	case bad != nil:
		return bad
	case n == 0:
		return ErrTENotChunkedLast
	case chunkedAt != n-1:
		if codings > 0 && chunkedAt < 0 {
			return ErrTEUnsupported
		}
		return ErrTENotChunkedLast
	case codings > 0:
		return ErrTEUnsupported
	}
	return nil
}

func (h *Head) requestSemantics(lim *Limits) error {
	cl, hasCL, te, err := h.framingFields()
	if err != nil {
		return err
	}
	if len(te) > 0 {
		if hasCL {
			return ErrCLAndTE
		}
		if err := h.transferCoding(te); err != nil {
			return err
		}
		h.Framing = Chunked
	} else if hasCL && cl > 0 {
		h.Framing, h.ContentLength = Length, cl
		if lim != nil && lim.MaxBodyBytes > 0 && cl > lim.MaxBodyBytes {
			return ErrBodyTooLarge
		}
	}
	hosts := 0
	for _, f := range h.Headers {
		name := h.Bytes(f.Name)
		switch len(name) {
		case 4:
			if equalFold(name, "host") {
				hosts++
				h.Host = f.Value
			}
		case 6:
			if equalFold(name, "expect") {
				v := h.Bytes(f.Value)
				if !equalFold(v, "100-continue") {
					return ErrExpectation
				}
				if h.Minor == 1 {
					h.ExpectContinue = true
				}
			}
		}
	}
	if hosts > 1 {
		return ErrDupHost
	}
	if hosts == 0 && h.Minor == 1 {
		return ErrNoHost
	}
	return nil
}

func (h *Head) responseSemantics(method []byte) error {
	cl, hasCL, te, err := h.framingFields()
	if err != nil {
		return err
	}
	if h.Status < 200 || h.Status == 204 || h.Status == 304 || string(method) == "HEAD" {
		h.Framing = NoBody
		if h.Status == 101 {
			h.KeepAlive = false
		}
		return nil
	}
	if len(te) > 0 {
		if hasCL {
			return ErrCLAndTE
		}
		if err := h.transferCoding(te); err != nil {
			if err == ErrTEOnHTTP10 {
				return err
			}
			// A response whose codings do not end in chunked is delimited by
			// closing the connection (RFC 9112 §6.3 rule 4). We do not decode
			// other codings, so forward such a body unchanged and close.
			h.Framing = CloseDelimited
			h.KeepAlive = false
			return nil
		}
		h.Framing = Chunked
		return nil
	}
	if hasCL {
		if cl > 0 {
			h.Framing, h.ContentLength = Length, cl
		}
		return nil
	}
	h.Framing = CloseDelimited
	h.KeepAlive = false
	return nil
}
