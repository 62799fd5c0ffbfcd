package http1

// BodyEvent is what Body.Next found in its input.
type BodyEvent uint8

const (
	// BodyNeedMore: the input is used up; call Next again with more bytes.
	BodyNeedMore BodyEvent = iota
	// BodyData: data holds body bytes (a sub-slice of the input).
	BodyData
	// BodyChunkStart: a chunk of Size bytes begins (chunked framing only; its
	// data follows as BodyData events). Extensions are dropped.
	BodyChunkStart
	// BodyChunkEnd: the CRLF after a chunk's data.
	BodyChunkEnd
	// BodyEnd: the body is complete (for chunked: after the last chunk and the
	// trailer section, which is validated and dropped unless KeepTrailers).
	BodyEnd
	// BodyTrailer: one field line of the trailer section (data: the line
	// without its CRLF, validated like a header field). Only with KeepTrailers.
	BodyTrailer
)

// Body decodes one message body incrementally. It is a state machine over the
// bytes the caller feeds it; it never buffers or copies. The zero value is not
// ready: call Reset with the message's framing.
type Body struct {
	framing   Framing
	remaining int64 // Length: bytes left; Chunked: bytes left in the current chunk
	state     chunkState
	// Size is the size of the chunk announced by the last BodyChunkStart.
	Size int64
	// Total counts the body bytes (data only) decoded so far.
	Total int64
	// Max, if positive, bounds Total: beyond it Next fails with ErrBodyTooLarge.
	Max int64
	// KeepTrailers makes Next report each trailer field as a BodyTrailer
	// event instead of dropping it. Reset clears it.
	KeepTrailers bool
	trailerSize  int
	// err is the framing error Next returned: it sticks, so that a caller
	// can never read on past a body it could not frame.
	err error
}

type chunkState uint8

const (
	chSize chunkState = iota
	chData
	chDataCRLF
	chTrailer
	chDone
)

// MaxChunkLine bounds a chunk-size line, extensions included.
const MaxChunkLine = 4096

// Reset prepares b for a body with the given framing and, for Length, size.
func (b *Body) Reset(f Framing, contentLength int64) {
	*b = Body{framing: f, remaining: contentLength, Max: b.Max}
	if f == Length && contentLength <= 0 {
		b.framing = NoBody
	}
}

// Err returns the error Next failed with, or nil. After a framing error the
// message's end is unknown: the rest of the connection's bytes cannot be
// told apart from the body, so the connection must be closed (RFC 9112
// §6.3: a server "MUST close the connection" after an invalid framing), not
// read on for another request.
func (b *Body) Err() error { return b.err }

// Done reports whether the body is complete.
func (b *Body) Done() bool {
	switch b.framing {
	case NoBody:
		return true
	case Length:
		return b.remaining == 0
	case Chunked:
		return b.state == chDone
	}
	return false
}

// Next decodes the start of in. It returns how many bytes of in it consumed, the
// event, and for BodyData the data (a sub-slice of in). Call it in a loop until
// it returns BodyNeedMore (all of in consumed or the rest incomplete) or BodyEnd.
// For CloseDelimited bodies every byte is data; the end is the peer's close.
// An error sticks: every later call returns it again (see Err).
func (b *Body) Next(in []byte) (int, BodyEvent, []byte, error) {
	if b.err != nil {
		return 0, BodyNeedMore, nil, b.err
	}
	n, ev, data, err := b.next(in)
	if err != nil {
		b.err = err
	}
	return n, ev, data, err
}

func (b *Body) next(in []byte) (int, BodyEvent, []byte, error) {
	switch b.framing {
	case NoBody:
		return 0, BodyEnd, nil, nil
	case Length:
		if b.remaining == 0 {
			return 0, BodyEnd, nil, nil
		}
		if len(in) == 0 {
			return 0, BodyNeedMore, nil, nil
		}
		n := int64(len(in))
		if n > b.remaining {
			n = b.remaining
		}
		b.remaining -= n
		return b.data(in[:n])
	case CloseDelimited:
		if len(in) == 0 {
			return 0, BodyNeedMore, nil, nil
		}
		return b.data(in)
	}
	return b.chunked(in)
}

func (b *Body) data(d []byte) (int, BodyEvent, []byte, error) {
	b.Total += int64(len(d))
	if b.Max > 0 && b.Total > b.Max {
		return 0, BodyNeedMore, nil, ErrBodyTooLarge
	}
	return len(d), BodyData, d, nil
}

func (b *Body) chunked(in []byte) (int, BodyEvent, []byte, error) {
	switch b.state {
	case chSize:
		return b.chunkSize(in)
	case chData:
		if len(in) == 0 {
			return 0, BodyNeedMore, nil, nil
		}
		n := int64(len(in))
		if n > b.remaining {
			n = b.remaining
		}
		b.remaining -= n
		if b.remaining == 0 {
			b.state = chDataCRLF
		}
		return b.data(in[:n])
	case chDataCRLF:
		if len(in) < 2 {
			if len(in) == 1 && in[0] != '\r' {
				return 0, BodyNeedMore, nil, ErrChunkData
			}
			return 0, BodyNeedMore, nil, nil
		}
		if in[0] != '\r' || in[1] != '\n' {
			return 0, BodyNeedMore, nil, ErrChunkData
		}
		b.state = chSize
		return 2, BodyChunkEnd, nil, nil
	case chTrailer:
		return b.trailer(in)
	}
	return 0, BodyEnd, nil, nil
}

func hexVal(c byte) int64 {
	switch {
	case '0' <= c && c <= '9':
		return int64(c - '0')
	case 'a' <= c && c <= 'f':
		return int64(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int64(c - 'A' + 10)
	}
	return -1
}

// chunkSize parses chunk-size [ chunk-ext ] CRLF.
func (b *Body) chunkSize(in []byte) (int, BodyEvent, []byte, error) {
	var size int64
	i := 0
	for ; i < len(in); i++ {
		v := hexVal(in[i])
		if v < 0 {
			break
		}
		if i >= 16 {
			return 0, BodyNeedMore, nil, ErrChunkSizeTooLong
		}
		size = size<<4 | v
	}
	if i == len(in) {
		return 0, BodyNeedMore, nil, nil
	}
	if i == 0 || size < 0 {
		return 0, BodyNeedMore, nil, ErrChunkSize
	}
	// chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ): we check the
	// characters and drop the extensions.
	j := i
	for ; j < len(in) && in[j] != '\n'; j++ {
		c := in[j]
		if j-i > MaxChunkLine {
			return 0, BodyNeedMore, nil, ErrChunkLineTooLong
		}
		if c == '\r' {
			if j+1 < len(in) && in[j+1] != '\n' {
				return 0, BodyNeedMore, nil, ErrChunkExtension
			}
			continue
		}
		if c < ' ' && c != '\t' || c == 0x7f {
			return 0, BodyNeedMore, nil, ErrChunkExtension
		}
		if j == i && c != ';' && c != ' ' && c != '\t' {
			return 0, BodyNeedMore, nil, ErrChunkSize
		}
	}
	if j == len(in) {
		if j-i > MaxChunkLine {
			return 0, BodyNeedMore, nil, ErrChunkLineTooLong
		}
		return 0, BodyNeedMore, nil, nil
	}
	if j == i || in[j-1] != '\r' {
		return 0, BodyNeedMore, nil, ErrBareLF
	}
	if ext := trimOWS(in[i : j-1]); len(ext) > 0 && ext[0] != ';' {
		return 0, BodyNeedMore, nil, ErrChunkSize
	}
	n := j + 1
	if size == 0 {
		b.state = chTrailer
		return n, BodyNeedMore, nil, nil
	}
	b.Size, b.remaining, b.state = size, size, chData
	return n, BodyChunkStart, nil, nil
}

// trailer consumes the trailer section up to and including its empty line. The
// fields are checked like header fields and dropped, or reported one by one
// (KeepTrailers).
func (b *Body) trailer(in []byte) (int, BodyEvent, []byte, error) {
	pos := 0
	for {
		eol := -1
		for k := pos; k < len(in); k++ {
			if in[k] == '\n' {
				eol = k
				break
			}
		}
		if eol < 0 {
			if b.trailerSize+len(in)-pos > DefaultMaxHeadBytes {
				return 0, BodyNeedMore, nil, ErrTrailerTooLarge
			}
			// Consume the complete lines only; the partial one comes again.
			return pos, BodyNeedMore, nil, nil
		}
		if eol == pos || in[eol-1] != '\r' {
			return 0, BodyNeedMore, nil, ErrBareLF
		}
		line := in[pos : eol-1]
		b.trailerSize += eol + 1 - pos
		if b.trailerSize > DefaultMaxHeadBytes {
			return 0, BodyNeedMore, nil, ErrTrailerTooLarge
		}
		pos = eol + 1
		if len(line) == 0 {
			b.state = chDone
			return pos, BodyEnd, nil, nil
		}
		if err := checkFieldLine(line); err != nil {
			return 0, BodyNeedMore, nil, ErrTrailer
		}
		if b.KeepTrailers {
			return pos, BodyTrailer, line, nil
		}
	}
}

// checkFieldLine validates one field line (without CRLF) like parseFields does.
func checkFieldLine(line []byte) error {
	if line[0] == ' ' || line[0] == '\t' {
		return ErrObsFold
	}
	i := 0
	for i < len(line) && isTokenChar(line[i]) {
		i++
	}
	if i == 0 || i == len(line) || line[i] != ':' {
		return ErrHeaderName
	}
	for _, c := range line[i+1:] {
		if c < ' ' && c != '\t' || c == 0x7f {
			return ErrHeaderValue
		}
	}
	return nil
}

// Framing returns the framing b was reset with.
func (b *Body) Framing() Framing { return b.framing }
