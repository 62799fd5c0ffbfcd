package http1

import (
	"bytes"
	"testing"
)

func FuzzParseRequest(f *testing.F) {
	for _, tc := range requestCases {
		f.Add(crlf(tc.in))
	}
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\nFoo: 1\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var h Head
		n, err := ParseRequest(in, &h, nil)
		if err != nil {
			if err != ErrNeedMore && n != 0 {
				t.Fatalf("error with length %d", n)
			}
			return
		}
		if n > len(in) || n != h.Len {
			t.Fatalf("length %d of %d", n, len(in))
		}
		check := func(s Span) {
			if s.Off < 0 || s.Len < 0 || int(s.Off+s.Len) > n {
				t.Fatalf("span %+v outside the head (%d bytes)", s, n)
			}
		}
		check(h.Method)
		check(h.Target)
		for _, f := range h.Headers {
			check(f.Name)
			check(f.Value)
		}
		// Re-serialize what was accepted and parse it again: an equivalent message.
		out := AppendRequestLine(nil, h.Bytes(h.Method), h.Bytes(h.Target))
		if h.Minor == 0 {
			out = append(out[:len(out)-3], "0\r\n"...)
		}
		for _, f := range h.Headers {
			out = AppendHeader(out, h.Bytes(f.Name), h.Bytes(f.Value))
		}
		out = append(out, "\r\n"...)
		var h2 Head
		n2, err := ParseRequest(out, &h2, nil)
		if err != nil {
			t.Fatalf("re-serialized head rejected: %v\n%q\n%q", err, in[:n], out)
		}
		if n2 != len(out) || !bytes.Equal(h.Bytes(h.Method), h2.Bytes(h2.Method)) ||
			!bytes.Equal(h.Bytes(h.Target), h2.Bytes(h2.Target)) || len(h.Headers) != len(h2.Headers) ||
			h.Framing != h2.Framing || h.ContentLength != h2.ContentLength || h.KeepAlive != h2.KeepAlive {
			t.Fatalf("re-serialized head differs:\n%q\n%q", in[:n], out)
		}
		for i := range h.Headers {
			if !bytes.Equal(h.Bytes(h.Headers[i].Name), h2.Bytes(h2.Headers[i].Name)) ||
				!bytes.Equal(h.Bytes(h.Headers[i].Value), h2.Bytes(h2.Headers[i].Value)) {
				t.Fatalf("header %d differs", i)
			}
		}
	})
}

func FuzzParseResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), true)
	f.Add([]byte("HTTP/1.0 304 x\r\n\r\n"), false)
	f.Fuzz(func(t *testing.T, in []byte, head bool) {
		var h Head
		method := []byte("GET")
		if head {
			method = []byte("HEAD")
		}
		n, err := ParseResponse(in, &h, nil, method)
		if err != nil {
			return
		}
		if n > len(in) || h.Status < 100 || h.Status > 999 {
			t.Fatalf("length %d status %d", n, h.Status)
		}
		if (h.Status < 200 || h.Status == 204 || h.Status == 304 || head) && h.Framing != NoBody {
			t.Fatalf("status %d head=%v has a body", h.Status, head)
		}
	})
}

func FuzzChunkedBody(f *testing.F) {
	f.Add([]byte("5\r\nhello\r\n0\r\n\r\n"), uint8(1))
	f.Add([]byte("5;a=b\r\nhello\r\n6\r\n world\r\n0\r\nT: x\r\n\r\n"), uint8(3))
	f.Add([]byte("ffffffffffffffff\r\n"), uint8(2))
	f.Fuzz(func(t *testing.T, in []byte, step uint8) {
		s := int(step)
		if s == 0 {
			s = 1
		}
		d1, _, done1, err1 := decodeAll(Chunked, 0, in, len(in)+1)
		d2, reenc, done2, err2 := decodeAll(Chunked, 0, in, s)
		// Feeding in pieces never changes the outcome.
		if (err1 == nil) != (err2 == nil) || done1 != done2 || !bytes.Equal(d1, d2) {
			t.Fatalf("split %d changed the result: %v/%v %v/%v", s, err1, err2, done1, done2)
		}
		if err1 == nil && done1 {
			d3, _, done3, err3 := decodeAll(Chunked, 0, reenc, len(reenc)+1)
			if err3 != nil || !done3 || !bytes.Equal(d3, d1) {
				t.Fatalf("re-encoded body does not decode back")
			}
		}
	})
}
