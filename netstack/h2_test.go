package netstack

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2Clients returns Go net/http clients that speak HTTP/2 to s: h2c with
// prior knowledge on the plain listener, and h2 by ALPN on a TLS listener.
func h2Clients(t *testing.T, s *Server) map[string]struct {
	c    *http.Client
	base string
} {
	cert, pool := selfSigned(t)
	addr, err := s.ServeTLS("127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	h2c := &http.Transport{Protocols: new(http.Protocols)}
	h2c.Protocols.SetUnencryptedHTTP2(true)
	h2 := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	t.Cleanup(h2c.CloseIdleConnections)
	t.Cleanup(h2.CloseIdleConnections)
	return map[string]struct {
		c    *http.Client
		base string
	}{
		"h2c": {&http.Client{Transport: h2c}, "http://" + s.Addr().String()},
		"h2":  {&http.Client{Transport: h2}, "https://" + addr.String()},
	}
}

func TestH2Proxy(t *testing.T) {
	b := newBackend(t)
	h := &testHandler{upstream: b.Listener.Addr().String()}
	s := startProxy(t, h, Config{})
	for name, cl := range h2Clients(t, s) {
		t.Run(name, func(t *testing.T) {
			c, base := cl.c, cl.base
			do := func(method, path string, body io.Reader) (*http.Response, string) {
				t.Helper()
				req, _ := http.NewRequest(method, base+path, body)
				req.Header.Set("X-Remove-Me", "1")
				req.Header.Add("Cookie", "a=1")
				req.Header.Add("Cookie", "b=2")
				resp, err := c.Do(req)
				if err != nil {
					t.Fatalf("%s %s: %v", method, path, err)
				}
				defer resp.Body.Close()
				got, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatalf("%s %s: body: %v", method, path, err)
				}
				if resp.ProtoMajor != 2 {
					t.Fatalf("%s %s: proto %s", method, path, resp.Proto)
				}
				return resp, string(got)
			}
			resp, body := do("GET", "/echo-headers", nil)
			proto := "http"
			if name == "h2" {
				proto = "https"
			}
			for _, want := range []string{"X-Forwarded-Proto: " + proto, "X-Gateway: apimgw", "Cookie: a=1; b=2", "Host: 127.0.0.1:"} {
				if !strings.Contains(body, want) {
					t.Fatalf("echo-headers lacks %q: %q", want, body)
				}
			}
			if strings.Contains(body, "X-Remove-Me") || strings.Contains(body, "Connection") {
				t.Fatalf("echo-headers: %q", body)
			}
			if resp.Header.Get("X-Served-By") != "apimgw" {
				t.Fatalf("headers %v", resp.Header)
			}
			if _, body := do("GET", "/direct", nil); body != "direct answer" {
				t.Fatalf("direct: %q", body)
			}
			if resp, body := do("GET", "/teapot", nil); resp.StatusCode != 200 || body != "replaced" {
				t.Fatalf("teapot: %d %q", resp.StatusCode, body)
			}
			if resp, body := do("GET", "/suspend", nil); resp.StatusCode != 202 || body != "resumed" {
				t.Fatalf("suspend: %d %q", resp.StatusCode, body)
			}
			if resp, _ := do("GET", "/down", nil); resp.StatusCode != 502 {
				t.Fatalf("down: %d", resp.StatusCode)
			}
			if resp, body := do("GET", "/nocontent", nil); resp.StatusCode != 204 || body != "" {
				t.Fatalf("nocontent: %d %q", resp.StatusCode, body)
			}
			if _, body := do("GET", "/chunked", nil); body != "part0;part1;part2;part3;part4;" {
				t.Fatalf("chunked: %q", body)
			}
			if resp, body := do("HEAD", "/direct", nil); resp.StatusCode != 200 || body != "" {
				t.Fatalf("head: %d %q", resp.StatusCode, body)
			}
			// Uploads: with a length, and streamed without one.
			up := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
			sum := sha256.Sum256(up)
			want := fmt.Sprintf("%d %s", len(up), hex.EncodeToString(sum[:]))
			if _, body := do("POST", "/sha", bytes.NewReader(up)); body != want {
				t.Fatalf("upload with length: %q", body)
			}
			pr, pw := io.Pipe()
			go func() {
				for i := 0; i < 16; i++ {
					pw.Write(up[i<<16 : (i+1)<<16])
				}
				pw.Close()
			}()
			if _, body := do("POST", "/sha", pr); body != want {
				t.Fatalf("streamed upload: %q", body)
			}
			// A large download through the stream's flow control.
			if _, body := do("GET", "/big", nil); len(body) != 8<<20 {
				t.Fatalf("big: %d bytes", len(body))
			}
			// Many streams at once on one connection.
			var wg sync.WaitGroup
			errs := make(chan string, 64)
			for i := 0; i < 64; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					resp, err := c.Get(fmt.Sprintf("%s/p%d", base, i))
					if err != nil {
						errs <- err.Error()
						return
					}
					got, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if string(got) != fmt.Sprintf(`{"path":"/p%d"}`, i) {
						errs <- string(got)
					}
				}(i)
			}
			wg.Wait()
			close(errs)
			for e := range errs {
				t.Fatal(e)
			}
		})
	}
	// An exchange ends on its loop just after its last bytes went out, so
	// the client may see them first: wait a moment.
	for deadline := time.Now().Add(2 * time.Second); s.Active() != 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if n := s.Active(); n != 0 {
		t.Fatalf("%d exchanges still active", n)
	}
}

// h2Raw is a raw HTTP/2 client on a TCP connection (h2c, prior knowledge).
type h2Raw struct {
	t    *testing.T
	conn net.Conn
	fr   *http2.Framer
	enc  *hpack.Encoder
	hbuf bytes.Buffer
}

func dialH2(t *testing.T, addr string, settings ...http2.Setting) *h2Raw {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	r := &h2Raw{t: t, conn: conn}
	r.fr = http2.NewFramer(conn, conn)
	r.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	r.enc = hpack.NewEncoder(&r.hbuf)
	io.WriteString(conn, http2.ClientPreface)
	r.fr.WriteSettings(settings...)
	return r
}

func (r *h2Raw) get(id uint32, path string) {
	r.hbuf.Reset()
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":path", path}, {":authority", "test"}} {
		r.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: r.hbuf.Bytes(), EndStream: true, EndHeaders: true})
}

// until reads frames until fn says stop, within d.
func (r *h2Raw) until(d time.Duration, fn func(http2.Frame) bool) {
	r.t.Helper()
	r.conn.SetReadDeadline(time.Now().Add(d))
	for {
		f, err := r.fr.ReadFrame()
		if err != nil {
			r.t.Fatalf("reading frames: %v", err)
		}
		if fn(f) {
			return
		}
	}
}

// h2Buffered sums the response bytes the server holds for its h2 streams.
func h2Buffered(s *Server) (total int) {
	var mu sync.Mutex
	s.forEachLoop(func(lp *loop) {
		for hc := range lp.h2 {
			for id := range hc.streams {
				mu.Lock()
				total += hc.h.Buffered(id)
				mu.Unlock()
			}
		}
	})
	return total
}

// A client that opens no window and asks for 8 MiB: the server sends no
// DATA, holds a bounded part of the body (the upstream is parked), and
// resets the stream once it made no progress for the body timeout.
func TestH2ZeroWindowStall(t *testing.T) {
	b := newBackend(t)
	h := &testHandler{upstream: b.Listener.Addr().String()}
	s := startProxy(t, h, Config{BodyIdleTimeout: 500 * time.Millisecond})
	r := dialH2(t, s.Addr().String(), http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
	r.get(1, "/big")
	r.fr.WriteSettingsAck()
	start := time.Now()
	var got http2.ErrCode = 99
	r.until(10*time.Second, func(f http2.Frame) bool {
		switch f := f.(type) {
		case *http2.DataFrame:
			if len(f.Data()) > 0 {
				t.Fatalf("DATA into a zero window: %d bytes", len(f.Data()))
			}
		case *http2.RSTStreamFrame:
			got = f.ErrCode
			return true
		case *http2.MetaHeadersFrame:
			// The head goes out (it is not flow-controlled); meanwhile the
			// server's buffer stays bounded.
			time.Sleep(300 * time.Millisecond)
			if n := h2Buffered(s); n > highWater/h2Scale+256<<10 {
				t.Fatalf("server holds %d bytes for a stalled stream", n)
			}
		}
		return false
	})
	if got != http2.ErrCodeCancel {
		t.Fatalf("reset with %v", got)
	}
	if time.Since(start) < 500*time.Millisecond {
		t.Fatal("reset before the body timeout")
	}
	if s.Parks() == 0 {
		t.Fatal("the upstream was never parked")
	}
	eventually(t, func() bool { return s.Active() == 0 })
}

// Shutdown: GOAWAY names the last stream; a stream in flight finishes.
func TestH2ShutdownDrains(t *testing.T) {
	b := newBackend(t)
	h := &testHandler{upstream: b.Listener.Addr().String()}
	s := startProxy(t, h, Config{})
	r := dialH2(t, s.Addr().String())
	r.fr.WriteSettingsAck()
	r.get(1, "/delay")
	eventually(t, func() bool { return s.Active() == 1 })
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	var goAway *http2.GoAwayFrame
	var body []byte
	r.until(10*time.Second, func(f http2.Frame) bool {
		switch f := f.(type) {
		case *http2.GoAwayFrame:
			goAway = f
		case *http2.DataFrame:
			body = append(body, f.Data()...)
			return f.StreamEnded()
		}
		return false
	})
	if goAway == nil || goAway.LastStreamID != 1 || goAway.ErrCode != http2.ErrCodeNo {
		t.Fatalf("goaway %v", goAway)
	}
	if string(body) != "delayed" {
		t.Fatalf("body %q", body)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// Rapid reset through the engine: the connection ends with
// ENHANCE_YOUR_CALM and no exchange is left behind.
func TestH2RapidResetEngine(t *testing.T) {
	b := newBackend(t)
	h := &testHandler{upstream: b.Listener.Addr().String()}
	s := startProxy(t, h, Config{})
	r := dialH2(t, s.Addr().String())
	go func() {
		for id := uint32(1); id < 4000; id += 2 {
			r.get(id, "/delay")
			if r.fr.WriteRSTStream(id, http2.ErrCodeCancel) != nil {
				return
			}
		}
	}()
	var code http2.ErrCode = 99
	r.until(10*time.Second, func(f http2.Frame) bool {
		if g, ok := f.(*http2.GoAwayFrame); ok {
			code = g.ErrCode
			return true
		}
		return false
	})
	if code != http2.ErrCodeEnhanceYourCalm {
		t.Fatalf("goaway %v", code)
	}
	eventually(t, func() bool { return s.Active() == 0 && s.Conns() == 0 })
}

func eventually(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if ok() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("condition not met within 10 s")
}

// Upgrade: h2c is ignored: served as HTTP/1.1, and neither the upgrade nor
// HTTP2-Settings reaches the backend (no h2c smuggling past the policies).
func TestH2cUpgradeIgnored(t *testing.T) {
	_, _, s, _ := setup(t)
	got := rawExchange(t, s.Addr().String(), "GET /echo-headers HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings, close\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 200") || strings.Contains(got, "Upgrade") || strings.Contains(got, "Http2-Settings") {
		t.Fatalf("answer:\n%s", got)
	}
}

// An idle h2 connection gets GOAWAY(NO_ERROR) after IdleTimeout and is
// closed; one that never sends a request is closed after HeaderTimeout.
func TestH2IdleTimeout(t *testing.T) {
	_, h, _, _ := setup(t)
	s := startProxy(t, h, Config{IdleTimeout: 300 * time.Millisecond, HeaderTimeout: 200 * time.Millisecond})
	for _, withRequest := range []bool{true, false} {
		r := dialH2(t, s.Addr().String())
		r.fr.WriteSettingsAck()
		if withRequest {
			r.get(1, "/direct")
		}
		start := time.Now()
		var g *http2.GoAwayFrame
		r.until(5*time.Second, func(f http2.Frame) bool {
			g, _ = f.(*http2.GoAwayFrame)
			return g != nil
		})
		if g.ErrCode != http2.ErrCodeNo || time.Since(start) < 150*time.Millisecond {
			t.Fatalf("request %v: goaway %v after %v", withRequest, g, time.Since(start))
		}
		if _, err := r.fr.ReadFrame(); err == nil {
			t.Fatalf("request %v: the connection stays open after GOAWAY", withRequest)
		}
	}
	eventually(t, func() bool { return s.Conns() == 0 })
}

// countingReader produces n bytes and counts what was taken.
type countingReader struct {
	n     int64
	taken atomic.Int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	left := r.n - r.taken.Load()
	if left <= 0 {
		return 0, io.EOF
	}
	k := min(int64(len(p)), left)
	for i := range p[:k] {
		p[i] = 'u'
	}
	r.taken.Add(k)
	return int(k), nil
}

// An h2 upload to an upstream that does not read: the stream's credit is
// held once the upstream's queue passes the high-water mark, so the client
// stops at a bound (the windows plus socket buffers) instead of the proxy
// buffering the whole body; when the upstream reads, the upload completes.
func TestH2SlowUpstreamUpload(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	release := make(chan struct{})
	got := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetReadBuffer(64 << 10)
		}
		<-release
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			got <- -1
			return
		}
		n, _ := io.Copy(io.Discard, req.Body)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		got <- n
	}()
	h := &testHandler{upstream: ln.Addr().String()}
	s := startProxy(t, h, Config{})
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	defer tr.CloseIdleConnections()
	const size = 256 << 20
	body := &countingReader{n: size}
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest("POST", "http://"+s.Addr().String()+"/upload", body)
		req.ContentLength = size
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		done <- err
	}()
	// Let the upload run into the stalled upstream.
	var last int64
	for i := 0; i < 40; i++ {
		time.Sleep(100 * time.Millisecond)
		if n := body.taken.Load(); n == last && n > 0 {
			break
		} else {
			last = n
		}
	}
	if n := body.taken.Load(); n > 32<<20 {
		t.Fatalf("the client could send %d MiB into a stalled upstream", n>>20)
	}
	if s.Parks() == 0 {
		t.Fatal("the stream's credit was never held")
	}
	t.Logf("stalled at %d KiB sent by the client", body.taken.Load()>>10)
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := <-got; n != size {
		t.Fatalf("upstream got %d bytes", n)
	}
}

// bodyHandler buffers the request body (ReadBody), answers with its size
// and first bytes, or with a replaced body forwarded upstream
// (BufferRequestBody + SetRequestBody); the response body is read too
// (ReadResponseBody) and sent on with a header naming its length.
type bodyHandler struct{ upstream string }

func (h *bodyHandler) Serve(x *Exchange) {
	switch string(x.Req.Bytes(x.Req.Target)) {
	case "/read":
		x.ReadBody(1<<20, func(x *Exchange, body []byte, tooLarge bool) {
			x.Respond(200, "", nil, []byte(fmt.Sprintf("read %d %v", len(body), tooLarge)))
		})
	case "/replace":
		x.ReadBody(1<<20, func(x *Exchange, body []byte, tooLarge bool) {
			x.SetRequestBody([]byte("replaced:" + string(body[:3])))
			x.SetTarget([]byte("/sha"))
			x.Forward(h.upstream)
		})
	default:
		x.Forward(h.upstream)
	}
}

func (h *bodyHandler) Response(x *Exchange) {
	x.ReadResponseBody(1<<20, func(x *Exchange, body []byte, tooLarge bool) {
		x.Respond(x.Resp.Status, "", []Field{{"X-Upstream-Length", fmt.Sprint(len(body))}}, body)
	})
}

// Body-buffering policies (ReadBody, SetRequestBody, ReadResponseBody) work
// for h2 streams as for HTTP/1.1.
func TestH2BufferedBodies(t *testing.T) {
	b := newBackend(t)
	s := startProxy(t, &bodyHandler{upstream: b.Listener.Addr().String()}, Config{})
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	post := func(path string, body io.Reader) (string, http.Header) {
		t.Helper()
		resp, err := c.Post("http://"+s.Addr().String()+path, "text/plain", body)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		got, _ := io.ReadAll(resp.Body)
		return string(got), resp.Header
	}
	if got, _ := post("/read", strings.NewReader(strings.Repeat("r", 300000))); got != "read 300000 false" {
		t.Fatalf("read: %q", got)
	}
	pr, pw := io.Pipe()
	go func() { pw.Write([]byte("abcdef")); pw.Close() }()
	got, hdr := post("/replace", pr)
	sum := sha256.Sum256([]byte("replaced:abc"))
	if want := fmt.Sprintf("%d %s", len("replaced:abc"), hex.EncodeToString(sum[:])); got != want || hdr.Get("X-Upstream-Length") != fmt.Sprint(len(want)) {
		t.Fatalf("replace: %q %v, want %q", got, hdr, want)
	}
}
