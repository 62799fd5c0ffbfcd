package netstack

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestBodyFramingErrorCloses: a request body whose chunked framing is broken
// (invalid or non-hex chunk size, a bare LF ending the size line) gets a 400
// with Connection: close, and the connection is closed: the bytes after the
// error cannot be told apart from the body, so a request pipelined behind it
// is never served. When the gateway had already answered (the body was being
// read only to be dropped), the answer stands and the connection is closed
// the same way. Over the plain and the TLS listener.
func TestBodyFramingErrorCloses(t *testing.T) {
	_, _, s, _ := setup(t)
	cert, pool := selfSigned(t)
	tlsAddr, err := s.ServeTLS("127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	dial := map[string]func() (net.Conn, error){
		"http": func() (net.Conn, error) { return net.Dial("tcp", s.Addr().String()) },
		"https": func() (net.Conn, error) {
			return tls.Dial("tcp", tlsAddr.String(), &tls.Config{RootCAs: pool})
		},
	}
	bodies := map[string]string{
		"invalid size":  "zz\r\nhello\r\n0\r\n\r\n",
		"non-hex size":  "1g\r\nx\r\n0\r\n\r\n",
		"bare LF":       "5\nhello\r\n0\r\n\r\n",
		"size overflow": "1ffffffffffffffff\r\n",
	}
	const pipelined = "GET /direct HTTP/1.1\r\nHost: a\r\n\r\n"
	for scheme, d := range dial {
		for name, body := range bodies {
			for _, target := range []string{"/sha", "/direct"} {
				c, err := d()
				if err != nil {
					t.Fatal(err)
				}
				c.SetDeadline(time.Now().Add(5 * time.Second))
				io.WriteString(c, "POST "+target+" HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"+body+pipelined)
				start := time.Now()
				out, err := io.ReadAll(c)
				c.Close()
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Errorf("%s %s %s: connection still open after %v (got %q)", scheme, name, target, time.Since(start), out)
					continue
				}
				got := string(out)
				if n := strings.Count(got, "HTTP/1.1 "); n != 1 {
					t.Errorf("%s %s %s: %d responses, want 1 (the pipelined request must not be served): %q", scheme, name, target, n, got)
				}
				want := "HTTP/1.1 400 "
				if target == "/direct" {
					want = "HTTP/1.1 200 " // answered before the body was read
				}
				if !strings.HasPrefix(got, want) {
					t.Errorf("%s %s %s: got %q, want %s…", scheme, name, target, got, want)
				}
				if target == "/sha" && (!strings.Contains(got, "Connection: close\r\n") || !strings.Contains(got, `"statusCode":400`)) {
					t.Errorf("%s %s %s: want Connection: close and a JSON 400: %q", scheme, name, target, got)
				}
			}
		}
	}
}
