package http1

import (
	"bytes"
	"strings"
	"testing"
)

// decodeAll runs a Body over in, fed in pieces of at most step bytes the way a
// connection would deliver them (unconsumed bytes are offered again with the
// next piece). It returns the data, the re-encoded chunk structure, and the
// first error.
func decodeAll(f Framing, cl int64, in []byte, step int) (data []byte, reenc []byte, done bool, err error) {
	var b Body
	b.Reset(f, cl)
	var pending []byte
	for off := 0; off < len(in) || len(pending) > 0; {
		end := off + step
		if end > len(in) {
			end = len(in)
		}
		pending = append(pending, in[off:end]...)
		off = end
		for {
			n, ev, d, e := b.Next(pending)
			if e != nil {
				return data, reenc, false, e
			}
			pending = pending[n:]
			switch ev {
			case BodyData:
				data = append(data, d...)
				reenc = append(reenc, d...)
				continue
			case BodyChunkStart:
				reenc = AppendChunkStart(reenc, b.Size)
				continue
			case BodyChunkEnd:
				reenc = append(reenc, "\r\n"...)
				continue
			case BodyEnd:
				if f == Chunked {
					reenc = append(reenc, LastChunk...)
				}
				return data, reenc, true, nil
			}
			if n == 0 {
				break
			}
		}
		if off == len(in) && len(pending) > 0 {
			// No more input will come; what is left cannot complete.
			return data, reenc, b.Done(), nil
		}
	}
	return data, reenc, b.Done(), nil
}

func TestChunkedBody(t *testing.T) {
	cases := []struct {
		in   string
		data string
		err  error
	}{
		{"5\r\nhello\r\n0\r\n\r\n", "hello", nil},
		{"5;ext=1;x=\"q\"\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world", nil},
		{"A\r\n0123456789\r\n0\r\nTrailer: x\r\nOther: y\r\n\r\n", "0123456789", nil},
		{"a\r\n0123456789\r\n0\r\n\r\n", "0123456789", nil},
		{"5 ;ext\r\nhello\r\n0\r\n\r\n", "hello", nil},
		{"00000000000000005\r\nhello\r\n0\r\n\r\n", "", ErrChunkSizeTooLong},
		{"0000000000000005\r\nhello\r\n0\r\n\r\n", "hello", nil},
		{"g\r\n", "", ErrChunkSize},
		{"\r\n", "", ErrChunkSize},
		{"5x\r\nhello\r\n0\r\n\r\n", "", ErrChunkSize},
		{"5\nhello\r\n0\r\n\r\n", "", ErrBareLF},
		{"5\r\nhelloXX0\r\n\r\n", "hello", ErrChunkData},
		{"5;a\x01\r\nhello\r\n0\r\n\r\n", "", ErrChunkExtension},
		{"0\r\nBad Trailer\r\n\r\n", "", ErrTrailer},
		{"0\r\n\nx", "", ErrBareLF},
		{"-1\r\n", "", ErrChunkSize},
	}
	for i, tc := range cases {
		for _, step := range []int{1, 2, 3, 7, 1 << 20} {
			data, reenc, done, err := decodeAll(Chunked, 0, []byte(tc.in), step)
			if err != tc.err {
				t.Errorf("%d step %d: err %v, want %v", i, step, err, tc.err)
				break
			}
			if err != nil {
				continue
			}
			if !done || string(data) != tc.data {
				t.Errorf("%d step %d: data %q done %v", i, step, data, done)
			}
			// Re-encoded: same chunks, extensions and trailers dropped.
			d2, _, done2, err2 := decodeAll(Chunked, 0, reenc, 1<<20)
			if err2 != nil || !done2 || !bytes.Equal(d2, data) {
				t.Errorf("%d: re-encoded body %q does not decode back: %v", i, reenc, err2)
			}
		}
	}
}

func TestLengthBody(t *testing.T) {
	data, _, done, err := decodeAll(Length, 5, []byte("helloGET / HTTP/1.1"), 3)
	if err != nil || !done || string(data) != "hello" {
		t.Fatalf("got %q %v %v", data, done, err)
	}
	var b Body
	b.Max = 4
	b.Reset(Length, 5)
	if _, _, _, err := b.Next([]byte("hello")); err != ErrBodyTooLarge {
		t.Fatalf("max: %v", err)
	}
	b.Reset(Chunked, 0)
	if b.Max != 4 {
		t.Fatal("Reset dropped Max")
	}
	_, _, _, err = decodeAll(Chunked, 0, []byte("5\r\nhello\r\n0\r\n\r\n"), 100)
	if err != nil {
		t.Fatal(err)
	}
}

func TestChunkedMax(t *testing.T) {
	var b Body
	b.Max = 3
	b.Reset(Chunked, 0)
	in := []byte("5\r\nhello\r\n0\r\n\r\n")
	for {
		n, ev, _, err := b.Next(in)
		if err == ErrBodyTooLarge {
			return
		}
		if err != nil || ev == BodyEnd {
			t.Fatalf("no ErrBodyTooLarge: %v %v", ev, err)
		}
		in = in[n:]
	}
}

// TestBodyErrorSticks: after a framing error every later Next fails the same
// way, whatever bytes follow (a well-formed chunk, a pipelined request), and
// Err reports it; Reset clears it for the next message.
func TestBodyErrorSticks(t *testing.T) {
	for _, tc := range []struct {
		in  string
		err error
	}{
		{"zz\r\n", ErrChunkSize},
		{"5\nhello\r\n", ErrBareLF},
		{"1g\r\nx\r\n", ErrChunkSize},
		{"5\r\nhelloXX", ErrChunkData},
	} {
		var b Body
		b.Reset(Chunked, 0)
		in := []byte(tc.in)
		var err error
		for err == nil && len(in) > 0 {
			var n int
			n, _, _, err = b.Next(in)
			in = in[n:]
		}
		if err != tc.err || b.Err() != tc.err {
			t.Fatalf("%q: err %v, Err() %v, want %v", tc.in, err, b.Err(), tc.err)
		}
		for _, more := range []string{"5\r\nhello\r\n0\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", ""} {
			if n, ev, _, err := b.Next([]byte(more)); err != tc.err || n != 0 || ev != BodyNeedMore {
				t.Errorf("%q then %q: %d %v %v, want the same error again", tc.in, more, n, ev, err)
			}
		}
		if b.Done() {
			t.Errorf("%q: Done after an error", tc.in)
		}
		b.Reset(Chunked, 0)
		if b.Err() != nil {
			t.Errorf("Reset kept the error")
		}
	}
}

// TestChunkedTrailersKept: with KeepTrailers each trailer field is reported
// (fed in any piece sizes), and still validated.
func TestChunkedTrailersKept(t *testing.T) {
	in := "3\r\nabc\r\n0\r\nGrpc-Status: 0\r\nGrpc-Message: ok\r\n\r\n"
	for _, step := range []int{1, 2, 5, 1 << 20} {
		var b Body
		b.Reset(Chunked, 0)
		b.KeepTrailers = true
		var trailers []string
		var data []byte
		buf, pos := []byte{}, 0
		done := false
		for !done {
			if pos < len(in) {
				end := min(pos+step, len(in))
				buf = append(buf, in[pos:end]...)
				pos = end
			}
			for {
				n, ev, d, err := b.Next(buf)
				if err != nil {
					t.Fatalf("step %d: %v", step, err)
				}
				switch ev {
				case BodyData:
					data = append(data, d...)
				case BodyTrailer:
					trailers = append(trailers, string(d))
				}
				buf = buf[n:]
				if ev == BodyEnd {
					done = true
					break
				}
				if ev == BodyNeedMore && (n == 0 || len(buf) == 0) {
					break
				}
			}
		}
		if string(data) != "abc" || strings.Join(trailers, "|") != "Grpc-Status: 0|Grpc-Message: ok" {
			t.Errorf("step %d: data %q trailers %q", step, data, trailers)
		}
	}
	var b Body
	b.Reset(Chunked, 0)
	b.KeepTrailers = true
	if _, _, _, err := b.Next([]byte("0\r\nBad Trailer\r\n\r\n")); err != ErrTrailer {
		// the first call reads the size line
		if _, _, _, err = b.Next([]byte("Bad Trailer\r\n\r\n")); err != ErrTrailer {
			t.Errorf("invalid trailer kept: %v", err)
		}
	}
}
