package http1

import (
	"bytes"
	"strings"
	"testing"
)

// crlf turns "\n" into "\r\n" so that cases stay readable; a case that needs a
// bare LF writes "\\n" literally as \x0a via the raw string "␊".
func crlf(s string) []byte {
	s = strings.ReplaceAll(s, "\n", "\r\n")
	s = strings.ReplaceAll(s, "␊", "\n")
	s = strings.ReplaceAll(s, "␍", "\r")
	return []byte(s)
}

var requestCases = []struct {
	name    string
	in      string
	err     error // nil: accepted
	framing Framing
	cl      int64
	keep    bool
}{
	{"get", "GET /a?b=c HTTP/1.1\nHost: x\n\n", nil, NoBody, 0, true},
	{"http10", "GET / HTTP/1.0\n\n", nil, NoBody, 0, false},
	{"http10 keep-alive", "GET / HTTP/1.0\nConnection: keep-alive\n\n", nil, NoBody, 0, true},
	{"close", "GET / HTTP/1.1\nHost: x\nConnection: close\n\n", nil, NoBody, 0, false},
	{"close wins", "GET / HTTP/1.1\nHost: x\nConnection: keep-alive, close\n\n", nil, NoBody, 0, false},
	{"content-length", "POST / HTTP/1.1\nHost: x\nContent-Length: 5\n\nhello", nil, Length, 5, true},
	{"content-length zero", "POST / HTTP/1.1\nHost: x\nContent-Length: 0\n\n", nil, NoBody, 0, true},
	{"same duplicate CL", "POST / HTTP/1.1\nHost: x\nContent-Length: 5\nContent-Length: 5\n\n", nil, Length, 5, true},
	{"same CL list", "POST / HTTP/1.1\nHost: x\nContent-Length: 5, 5\n\n", nil, Length, 5, true},
	{"chunked", "POST / HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n\n", nil, Chunked, 0, true},
	{"chunked case", "POST / HTTP/1.1\nHost: x\nTransfer-Encoding: CHUNKED\n\n", nil, Chunked, 0, true},
	{"leading empty line", "\nGET / HTTP/1.1\nHost: x\n\n", nil, NoBody, 0, true},
	{"value whitespace trimmed", "GET / HTTP/1.1\nHost:  \tx \t\n\n", nil, NoBody, 0, true},
	{"obs-text in value", "GET / HTTP/1.1\nHost: x\nX: caf\xc3\xa9\n\n", nil, NoBody, 0, true},
	{"empty value", "GET / HTTP/1.1\nHost: x\nX:\n\n", nil, NoBody, 0, true},
	{"expect", "POST / HTTP/1.1\nHost: x\nExpect: 100-continue\nContent-Length: 1\n\n", nil, Length, 1, true},

	{"CL and TE", "POST / HTTP/1.1\nHost: x\nContent-Length: 5\nTransfer-Encoding: chunked\n\n", ErrCLAndTE, 0, 0, false},
	{"TE and CL", "POST / HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\nContent-Length: 5\n\n", ErrCLAndTE, 0, 0, false},
	{"differing CL", "POST / HTTP/1.1\nHost: x\nContent-Length: 5\nContent-Length: 6\n\n", ErrDupContentLength, 0, 0, false},
	{"differing CL list", "POST / HTTP/1.1\nHost: x\nContent-Length: 5, 6\n\n", ErrDupContentLength, 0, 0, false},
	{"CL sign", "POST / HTTP/1.1\nHost: x\nContent-Length: +5\n\n", ErrContentLength, 0, 0, false},
	{"CL negative", "POST / HTTP/1.1\nHost: x\nContent-Length: -1\n\n", ErrContentLength, 0, 0, false},
	{"CL hex", "POST / HTTP/1.1\nHost: x\nContent-Length: 0x5\n\n", ErrContentLength, 0, 0, false},
	{"CL empty", "POST / HTTP/1.1\nHost: x\nContent-Length:\n\n", ErrContentLength, 0, 0, false},
	{"CL overflow", "POST / HTTP/1.1\nHost: x\nContent-Length: 99999999999999999999\n\n", ErrContentLength, 0, 0, false},
	{"TE gzip", "POST / HTTP/1.1\nHost: x\nTransfer-Encoding: gzip\n\n", ErrTEUnsupported, 0, 0, false},
	{"TE gzip chunked", "POST / HTTP/1.1\nHost: x\nTransfer-Encoding: gzip, chunked\n\n", ErrTEUnsupported, 0, 0, false},
	{"TE chunked gzip", "POST / HTTP/1.1\nHost: x\nTransfer-Encoding: chunked, gzip\n\n", ErrTENotChunkedLast, 0, 0, false},
	{"TE chunked twice", "POST / HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\nTransfer-Encoding: chunked\n\n", ErrTENotChunkedLast, 0, 0, false},
	{"TE chunkedx", "POST / HTTP/1.1\nHost: x\nTransfer-Encoding: chunkedx\n\n", ErrTEUnsupported, 0, 0, false},
	{"TE empty", "POST / HTTP/1.1\nHost: x\nTransfer-Encoding: \n\n", ErrTENotChunkedLast, 0, 0, false},
	{"TE on 1.0", "POST / HTTP/1.0\nTransfer-Encoding: chunked\n\n", ErrTEOnHTTP10, 0, 0, false},
	{"space before colon", "GET / HTTP/1.1\nHost: x\nContent-Length : 5\n\n", ErrSpaceBeforeColon, 0, 0, false},
	{"tab before colon", "GET / HTTP/1.1\nHost\t: x\n\n", ErrSpaceBeforeColon, 0, 0, false},
	{"obs-fold", "GET / HTTP/1.1\nHost: x\nX: a\n b\n\n", ErrObsFold, 0, 0, false},
	{"bare LF in header", "GET / HTTP/1.1\nHost: x␊X: a\n\n", ErrBareLF, 0, 0, false},
	{"bare LF request line", "GET / HTTP/1.1␊Host: x\n\n", ErrBareLF, 0, 0, false},
	{"bare CR in value", "GET / HTTP/1.1\nHost: x\nX: a␍b\n\n", ErrBareCR, 0, 0, false},
	{"NUL in value", "GET / HTTP/1.1\nHost: x\nX: a\x00b\n\n", ErrHeaderValue, 0, 0, false},
	{"ctl in value", "GET / HTTP/1.1\nHost: x\nX: a\x01b\n\n", ErrHeaderValue, 0, 0, false},
	{"DEL in value", "GET / HTTP/1.1\nHost: x\nX: a\x7fb\n\n", ErrHeaderValue, 0, 0, false},
	{"non-token name", "GET / HTTP/1.1\nHost: x\nX(y): a\n\n", ErrHeaderName, 0, 0, false},
	{"empty name", "GET / HTTP/1.1\nHost: x\n: a\n\n", ErrHeaderName, 0, 0, false},
	{"no colon", "GET / HTTP/1.1\nHost: x\nnocolon\n\n", ErrNoColon, 0, 0, false},
	{"missing host", "GET / HTTP/1.1\n\n", ErrNoHost, 0, 0, false},
	{"duplicate host", "GET / HTTP/1.1\nHost: a\nHost: b\n\n", ErrDupHost, 0, 0, false},
	{"duplicate host 1.0", "GET / HTTP/1.0\nHost: a\nhost: a\n\n", ErrDupHost, 0, 0, false},
	{"version 2.0", "GET / HTTP/2.0\nHost: x\n\n", ErrVersionUnsupported, 0, 0, false},
	{"version 1.2", "GET / HTTP/1.2\nHost: x\n\n", ErrVersionUnsupported, 0, 0, false},
	{"version 0.9", "GET / HTTP/0.9\nHost: x\n\n", ErrVersionUnsupported, 0, 0, false},
	{"version lower", "GET / http/1.1\nHost: x\n\n", ErrVersion, 0, 0, false},
	{"version long", "GET / HTTP/1.10\nHost: x\n\n", ErrVersion, 0, 0, false},
	{"no version", "GET /\nHost: x\n\n", ErrRequestLine, 0, 0, false},
	{"double space", "GET  / HTTP/1.1\nHost: x\n\n", ErrRequestLine, 0, 0, false},
	{"method non-token", "G(T / HTTP/1.1\nHost: x\n\n", ErrMethod, 0, 0, false},
	{"target ctl", "GET /a\x01 HTTP/1.1\nHost: x\n\n", ErrTarget, 0, 0, false},
	{"target high", "GET /\x80 HTTP/1.1\nHost: x\n\n", ErrTarget, 0, 0, false},
	{"expect other", "GET / HTTP/1.1\nHost: x\nExpect: 200-ok\n\n", ErrExpectation, 0, 0, false},
	{"smuggle via CL list", "POST / HTTP/1.1\nHost: x\nContent-Length: 1,\n\n", nil, Length, 1, true},
}

func TestParseRequestCases(t *testing.T) {
	for i, tc := range requestCases {
		var h Head
		buf := crlf(tc.in)
		n, err := ParseRequest(buf, &h, nil)
		if err != tc.err {
			t.Errorf("%d %s: err = %v, want %v", i, tc.name, err, tc.err)
			continue
		}
		if err != nil {
			continue
		}
		if h.Framing != tc.framing || h.ContentLength != tc.cl || h.KeepAlive != tc.keep {
			t.Errorf("%d %s: framing %v cl %d keep %v, want %v %d %v", i, tc.name, h.Framing, h.ContentLength, h.KeepAlive, tc.framing, tc.cl, tc.keep)
		}
		if n != h.Len || !bytes.HasSuffix(buf[:n], []byte("\r\n\r\n")) {
			t.Errorf("%d %s: length %d does not end at the empty line", i, tc.name, n)
		}
		// Every prefix of an accepted head needs more data, or fails the same way
		// a shorter message would; never succeeds and never panics.
		for k := 0; k < n; k++ {
			if _, err := ParseRequest(buf[:k], &h, nil); err == nil {
				t.Errorf("%d %s: prefix of %d bytes accepted", i, tc.name, k)
			}
		}
	}
}

func TestParseRequestFields(t *testing.T) {
	var h Head
	buf := crlf("PUT /p/q?x=1 HTTP/1.1\nHost: example.com\nX-A:  one \nConnection: X-A, keep-alive\nUpgrade: websocket\nConnection: upgrade\n\nBODY")
	n, err := ParseRequest(buf, &h, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(buf[n:]); got != "BODY" {
		t.Fatalf("rest = %q", got)
	}
	if string(h.Bytes(h.Method)) != "PUT" || string(h.Bytes(h.Target)) != "/p/q?x=1" || h.Minor != 1 {
		t.Fatalf("request line: %q %q %d", h.Bytes(h.Method), h.Bytes(h.Target), h.Minor)
	}
	if string(h.Bytes(h.Host)) != "example.com" {
		t.Fatalf("host %q", h.Bytes(h.Host))
	}
	if v, _ := h.Get("x-a"); string(v) != "one" {
		t.Fatalf("X-A = %q", v)
	}
	if !h.ConnUpgrade || string(h.Bytes(h.Upgrade)) != "websocket" {
		t.Fatal("upgrade not seen")
	}
	for _, tc := range []struct {
		name string
		hop  bool
	}{{"X-A", true}, {"x-a", true}, {"Keep-Alive", true}, {"Host", false}, {"Content-Type", false},
		{"TE", true}, {"Transfer-Encoding", true}, {"Content-Length", true}, {"Proxy-Authorization", true}} {
		if got := h.IsHopByHop([]byte(tc.name)); got != tc.hop {
			t.Errorf("IsHopByHop(%s) = %v", tc.name, got)
		}
	}
	// Connection may not remove Host or Authorization.
	buf = crlf("GET / HTTP/1.1\nHost: x\nAuthorization: a\nConnection: host, authorization\n\n")
	if _, err := ParseRequest(buf, &h, nil); err != nil {
		t.Fatal(err)
	}
	if h.IsHopByHop([]byte("Host")) || h.IsHopByHop([]byte("Authorization")) {
		t.Fatal("Connection removed Host or Authorization")
	}
	// Own keeps spans valid after the original buffer changes.
	h.Own()
	for i := range buf {
		buf[i] = 'Z'
	}
	if string(h.Bytes(h.Host)) != "x" {
		t.Fatalf("after Own host = %q", h.Bytes(h.Host))
	}
}

func TestParseRequestLimits(t *testing.T) {
	long := "GET /" + strings.Repeat("a", 9000) + " HTTP/1.1\nHost: x\n\n"
	var h Head
	if _, err := ParseRequest(crlf(long), &h, nil); err != ErrRequestLineTooLong {
		t.Errorf("long line: %v", err)
	}
	if _, err := ParseRequest(crlf(long[:8500]), &h, nil); err != ErrRequestLineTooLong {
		t.Errorf("long partial line: %v", err)
	}
	lim := &Limits{MaxRequestLine: 100000, MaxHeadBytes: 4096}
	if _, err := ParseRequest(crlf(long), &h, lim); err != ErrHeadTooLarge {
		t.Errorf("long line within line limit but over head limit: %v", err)
	}
	big := "GET / HTTP/1.1\nHost: x\nX: " + strings.Repeat("b", 33000) + "\n\n"
	if _, err := ParseRequest(crlf(big), &h, nil); err != ErrHeadTooLarge {
		t.Errorf("big head: %v", err)
	}
	if _, err := ParseRequest(crlf(big[:33010]), &h, nil); err != ErrHeadTooLarge {
		t.Errorf("big partial head: %v", err)
	}
	many := "GET / HTTP/1.1\nHost: x\n" + strings.Repeat("X: y\n", 100) + "\n"
	if _, err := ParseRequest(crlf(many), &h, nil); err != ErrTooManyHeaders {
		t.Errorf("101 headers: %v", err)
	}
	if _, err := ParseRequest(crlf(many), &h, &Limits{MaxHeaders: 200}); err != nil {
		t.Errorf("101 headers with a raised limit: %v", err)
	}
	if _, err := ParseRequest(crlf("POST / HTTP/1.1\nHost: x\nContent-Length: 11\n\n"), &h, &Limits{MaxBodyBytes: 10}); err != ErrBodyTooLarge {
		t.Errorf("body limit: %v", err)
	}
}

func TestParseResponse(t *testing.T) {
	cases := []struct {
		in      string
		method  string
		status  int
		framing Framing
		cl      int64
		keep    bool
		err     error
	}{
		{"HTTP/1.1 200 OK\nContent-Length: 3\n\nabc", "GET", 200, Length, 3, true, nil},
		{"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n", "GET", 200, Chunked, 0, true, nil},
		{"HTTP/1.1 200 OK\n\n", "GET", 200, CloseDelimited, 0, false, nil},
		{"HTTP/1.1 200\n\n", "GET", 200, CloseDelimited, 0, false, nil},
		{"HTTP/1.1 200 OK\nContent-Length: 3\n\n", "HEAD", 200, NoBody, 0, true, nil},
		{"HTTP/1.1 204 No Content\n\n", "GET", 204, NoBody, 0, true, nil},
		{"HTTP/1.1 304 Not Modified\nContent-Length: 10\n\n", "GET", 304, NoBody, 0, true, nil},
		{"HTTP/1.1 100 Continue\n\n", "POST", 100, NoBody, 0, true, nil},
		{"HTTP/1.1 101 Switching Protocols\nConnection: upgrade\nUpgrade: websocket\n\n", "GET", 101, NoBody, 0, false, nil},
		{"HTTP/1.0 200 OK\nContent-Length: 1\n\n", "GET", 200, Length, 1, false, nil},
		{"HTTP/1.1 200 OK\nTransfer-Encoding: gzip\n\n", "GET", 200, CloseDelimited, 0, false, nil},
		{"HTTP/1.1 200 OK\nContent-Length: 1\nTransfer-Encoding: chunked\n\n", "GET", 0, 0, 0, false, ErrCLAndTE},
		{"HTTP/1.1 20 OK\n\n", "GET", 0, 0, 0, false, ErrStatusLine},
		{"HTTP/1.1 2000 OK\n\n", "GET", 0, 0, 0, false, ErrStatusLine},
		{"HTTP/2.0 200 OK\n\n", "GET", 0, 0, 0, false, ErrVersionUnsupported},
		{"HTTP/1.1 200 OK\nContent-Length: x\n\n", "GET", 0, 0, 0, false, ErrContentLength},
		{"HTTP/1.1 200 OK␊\n", "GET", 0, 0, 0, false, ErrBareLF},
	}
	for i, tc := range cases {
		var h Head
		_, err := ParseResponse(crlf(tc.in), &h, nil, []byte(tc.method))
		if err != tc.err {
			t.Errorf("%d: err %v, want %v", i, err, tc.err)
			continue
		}
		if err != nil {
			continue
		}
		if h.Status != tc.status || h.Framing != tc.framing || h.ContentLength != tc.cl || h.KeepAlive != tc.keep {
			t.Errorf("%d: got %d %v %d %v", i, h.Status, h.Framing, h.ContentLength, h.KeepAlive)
		}
	}
}

// TestSmuggling feeds classic request-smuggling payloads: each must be rejected
// as a whole, so that no second request is ever parsed from its body.
func TestSmuggling(t *testing.T) {
	payloads := []string{
		"POST / HTTP/1.1\nHost: x\nContent-Length: 13\nTransfer-Encoding: chunked\n\n0\n\nGET /admin HTTP/1.1\nHost: x\n\n",
		"POST / HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\nTransfer-Encoding: identity\n\n0\n\n",
		"POST / HTTP/1.1\nHost: x\nTransfer-Encoding : chunked\n\n0\n\n",
		"POST / HTTP/1.1\nHost: x\nTransfer-Encoding:\n chunked\n\n0\n\n",
		"POST / HTTP/1.1\nHost: x\nContent-Length: 0\nContent-Length: 44\n\nGET /admin HTTP/1.1\nHost: x\n\n",
		"POST / HTTP/1.1\nHost: x\nTransfer-Encoding: xchunked\n\n",
		"POST / HTTP/1.1\nHost: x\nTransfer-Encoding: chunked␊\n0\n\n",
	}
	for i, p := range payloads {
		var h Head
		if _, err := ParseRequest(crlf(p), &h, nil); err == nil {
			t.Errorf("payload %d accepted", i)
		}
	}
}
