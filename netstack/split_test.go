package netstack

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// TestSplitReads: bytes that do not complete anything yet stay buffered for
// the next read (gnet's Discard(0) drops everything, so the engine must not
// call it). A response head split right after its status line (tinyproxy
// answers that way) and a request chunk-size line split in two both arrive
// whole.
func TestSplitReads(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(r)
					if err != nil {
						return
					}
					body, _ := io.ReadAll(req.Body)
					c.Write([]byte("HTTP/1.1 200 OK\r\n"))
					time.Sleep(30 * time.Millisecond)
					c.Write([]byte("Content-Type: text/plain\r\n"))
					time.Sleep(30 * time.Millisecond)
					c.Write([]byte("Content-Length: " + strconv.Itoa(len(body)+3) + "\r\n\r\nok " + string(body)))
				}
			}()
		}
	}()
	s := startProxy(t, &forwardAll{upstream: ln.Addr().String()}, Config{})
	for i := 0; i < 3; i++ {
		st, body, _ := get(t, &http.Client{}, "http://"+s.Addr().String()+"/x")
		if st != 200 || body != "ok " {
			t.Fatalf("split response head, request %d: %d %q", i, st, body)
		}
	}
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, part := range []string{"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", "5", "\r\nhel", "lo\r\n0", "\r\n\r\n"} {
		c.Write([]byte(part))
		time.Sleep(30 * time.Millisecond)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "ok hello" {
		t.Fatalf("split chunk-size line: %d %q", resp.StatusCode, body)
	}
}
