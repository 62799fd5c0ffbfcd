package netstack

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestTimeouts(t *testing.T) {
	b := newBackend(t)
	h := &testHandler{upstream: b.Listener.Addr().String()}
	s := startProxy(t, h, Config{HeaderTimeout: 300 * time.Millisecond, IdleTimeout: 400 * time.Millisecond,
		BodyIdleTimeout: 300 * time.Millisecond})
	addr := s.Addr().String()

	// A head that never completes gets 408 and the connection closes.
	start := time.Now()
	out := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\n")
	if !strings.HasPrefix(out, "HTTP/1.1 408 ") || time.Since(start) > 2*time.Second {
		t.Errorf("header timeout: %q after %v", out, time.Since(start))
	}

	// An idle keep-alive connection is closed after the idle timeout.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /direct HTTP/1.1\r\nHost: a\r\n\r\n")
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	start = time.Now()
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := r.ReadByte(); err != io.EOF {
		t.Errorf("idle connection: %v, want EOF", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 2*time.Second {
		t.Errorf("idle connection closed after %v", d)
	}

	// A body that stops arriving: 408, the upstream exchange is dropped.
	out = rawExchange(t, addr, "POST /sha HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nonly part")
	if !strings.HasPrefix(out, "HTTP/1.1 408 ") {
		t.Errorf("body timeout: %q", out)
	}
}

// TestStalePooledConnection: the upstream answers one request per connection
// and closes the connection when the next request arrives on it (as a server
// does whose idle timeout fired just then). That request, sent on a pooled
// connection, fails before any byte comes back and is retried once on a fresh
// connection; the client never sees the failure.
func TestStalePooledConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				var got []byte
				for !bytes.Contains(got, []byte("\r\n\r\n")) {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					got = append(got, buf[:n]...)
				}
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				c.Read(buf) // the next request: closed unanswered
			}()
		}
	}()
	s := startProxy(t, &testHandler{upstream: ln.Addr().String()}, Config{Loops: 1})
	c := &http.Client{}
	for i := 0; i < 5; i++ {
		st, body, _ := get(t, c, "http://"+s.Addr().String()+"/x")
		if st != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q", i, st, body)
		}
	}
	if conns.Load() != 5 {
		t.Fatalf("expected a fresh upstream connection per request, got %d", conns.Load())
	}
}

// TestCloseFlushesOutput: a large answer to a Connection: close request, read
// slowly, arrives whole (gnet drops queued output if a connection is closed early).
func TestCloseFlushesOutput(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
	s := startProxy(t, bigHandler{big}, Config{Loops: 1})
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /big HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	time.Sleep(200 * time.Millisecond) // let the proxy queue what the socket does not take
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("got %d bytes (%v), want %d", len(got), err, len(big))
	}
}

type bigHandler struct{ body []byte }

func (h bigHandler) Serve(x *Exchange) { x.Respond(200, "", nil, h.body) }
