package h2client

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
	"golang.org/x/net/http2/hpack"
)

// scriptedServer accepts HTTP/2 connections on loopback and runs serve on
// each (its index counts from 0), with a Framer that decodes headers.
func scriptedServer(t *testing.T, serve func(i int, fr *http2.Framer, enc func(...string) []byte)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for i := 0; ; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(i int, c net.Conn) {
				defer c.Close()
				pre := make([]byte, len(http2.ClientPreface))
				if _, err := io.ReadFull(c, pre); err != nil {
					return
				}
				fr := http2.NewFramer(c, c)
				fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
				var hb bytes.Buffer
				henc := hpack.NewEncoder(&hb)
				enc := func(kv ...string) []byte {
					hb.Reset()
					for j := 0; j+1 < len(kv); j += 2 {
						henc.WriteField(hpack.HeaderField{Name: kv[j], Value: kv[j+1]})
					}
					return append([]byte(nil), hb.Bytes()...)
				}
				fr.WriteSettings()
				serve(i, fr, enc)
			}(i, c)
		}
	}()
	return ln.Addr().String()
}

func tcpDial(addr string) DialFunc {
	return func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
}

// TestPoolGoAwayRetries: the backend answers stream 1 and sends GOAWAY with
// last-stream-id 1 while streams 3 and 5 are open: those were not processed
// and are sent again on a new connection; every call succeeds.
func TestPoolGoAwayRetries(t *testing.T) {
	addr := scriptedServer(t, func(i int, fr *http2.Framer, enc func(...string) []byte) {
		heads := 0
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				return
			}
			h, ok := f.(*http2.MetaHeadersFrame)
			if !ok {
				continue
			}
			if i > 0 {
				fr.WriteHeaders(http2.HeadersFrameParam{StreamID: h.StreamID, BlockFragment: enc(":status", "200"), EndHeaders: true})
				fr.WriteData(h.StreamID, true, []byte(fmt.Sprint("conn", i)))
				continue
			}
			if heads++; heads == 3 {
				fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: enc(":status", "200"), EndHeaders: true})
				fr.WriteData(1, true, []byte("conn0"))
				fr.WriteGoAway(1, http2.ErrCodeNo, nil)
				time.Sleep(200 * time.Millisecond)
				return
			}
		}
	})
	p := NewPool(Config{}, tcpDial(addr))
	defer p.Close()
	if err := p.Warm(context.Background()); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	bodies := make([]string, 3)
	calls := make([]*Call, 3)
	for i := range calls {
		c, err := p.Open(context.Background(), get(fmt.Sprint("/", i)))
		if err != nil {
			t.Fatal(err)
		}
		calls[i] = c
	}
	for i, c := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, _, err := c.Response(context.Background())
			if err != nil || st != 200 {
				t.Errorf("call %d: %d %v", i, st, err)
				return
			}
			b, err := io.ReadAll(c)
			if err != nil {
				t.Errorf("call %d body: %v", i, err)
			}
			bodies[i] = string(b)
		}()
	}
	wg.Wait()
	if bodies[0] != "conn0" || bodies[1] != "conn1" || bodies[2] != "conn1" {
		t.Errorf("bodies %q: want stream 1 from the first connection, the refused two from the second", bodies)
	}
	if n := p.Dials(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

// TestPoolStreamLimitWaits: with MAX_CONCURRENT_STREAMS 1 and MaxConns 1, a
// second call waits for the first to end instead of exceeding the limit.
func TestPoolStreamLimitWaits(t *testing.T) {
	release := make(chan struct{})
	b := httptest.NewUnstartedServer(h2c.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			<-release
		}
		io.WriteString(w, r.URL.Path)
	}), &http2.Server{MaxConcurrentStreams: 1}))
	b.Start()
	defer b.Close()
	p := NewPool(Config{}, tcpDial(b.Listener.Addr().String()))
	p.MaxConns = 1
	defer p.Close()
	first, err := p.Open(context.Background(), get("/hold"))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the server's SETTINGS arrive
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	_, err = p.Open(ctx, get("/next"))
	cancel()
	if err == nil {
		t.Fatal("a second stream opened beyond MAX_CONCURRENT_STREAMS 1")
	}
	close(release)
	if st, _, err := first.Response(context.Background()); st != 200 || err != nil {
		t.Fatal(st, err)
	}
	io.ReadAll(first)
	next, err := p.Open(context.Background(), get("/next"))
	if err != nil {
		t.Fatal(err)
	}
	next.Response(context.Background())
	if body, _ := io.ReadAll(next); string(body) != "/next" {
		t.Errorf("next: %q", body)
	}
}

// TestBridge: HTTP/1.1 in on one end of a socket pair, HTTP/2 to an h2c
// backend, HTTP/1.1 back: chunked request bodies, trailers as the chunked
// trailer section, keep-alive across requests.
func TestBridge(t *testing.T) {
	b := httptest.NewUnstartedServer(h2c.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "Grpc-Status")
		w.WriteHeader(200)
		w.(http.Flusher).Flush() // no content-length: trailers can be carried
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s %q", r.Proto, r.Method, r.Host, body)
		w.Header().Set("Grpc-Status", "0")
	}), &http2.Server{}))
	b.Start()
	defer b.Close()
	p := NewPool(Config{}, tcpDial(b.Listener.Addr().String()))
	defer p.Close()
	near, far := net.Pipe()
	done := make(chan struct{})
	go func() { Bridge(near, p, BridgeConfig{Scheme: "http"}); close(done) }()
	br := bufio.NewReader(far)
	for i, raw := range []string{
		"GET /a HTTP/1.1\r\nHost: api.test\r\nConnection: keep-alive\r\n\r\n",
		"POST /b HTTP/1.1\r\nHost: api.test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
		"PUT /c HTTP/1.1\r\nHost: api.test\r\nContent-Length: 4\r\n\r\nwxyz",
	} {
		go far.Write([]byte(raw))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("request %d body: %v", i, err)
		}
		want := []string{`HTTP/2.0 GET api.test ""`, `HTTP/2.0 POST api.test "abcde"`, `HTTP/2.0 PUT api.test "wxyz"`}[i]
		if string(body) != want {
			t.Errorf("request %d: %q, want %q", i, body, want)
		}
		if got := resp.Trailer.Get("Grpc-Status"); got != "0" {
			t.Errorf("request %d: trailer Grpc-Status %q (trailers %v)", i, got, resp.Trailer)
		}
		if !strings.EqualFold(strings.Join(resp.TransferEncoding, ","), "chunked") {
			t.Errorf("request %d: framing %v", i, resp.TransferEncoding)
		}
	}
	far.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Bridge did not end after its connection closed")
	}
	if n := p.Dials(); n != 1 {
		t.Errorf("%d backend connections, want 1", n)
	}
}
