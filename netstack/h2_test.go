package netstack

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
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
	if n := s.Active(); n != 0 {
		t.Fatalf("%d exchanges still active", n)
	}
}
