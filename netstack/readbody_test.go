package netstack

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// bufferingHandler reads request bodies (ReadBody) and response bodies
// (ReadResponseBody) before deciding, as body-reading policies need.
type bufferingHandler struct{ upstream string }

func (h bufferingHandler) Serve(x *Exchange) {
	target := string(x.Req.Bytes(x.Req.Target))
	x.ReadBody(1<<20, func(x *Exchange, body []byte, tooLarge bool) {
		if tooLarge {
			x.RespondError(413, "too large")
			return
		}
		switch target {
		case "/echo":
			x.Respond(200, "", nil, append([]byte("got "), body...))
		default: // forward the upper-cased body to /sha, buffer the answer
			x.SetRequestBody([]byte(strings.ToUpper(string(body))))
			x.SetTarget([]byte(target))
			x.Forward(h.upstream)
		}
	})
}

func (h bufferingHandler) Response(x *Exchange) {
	x.ReadResponseBody(64<<10, func(x *Exchange, body []byte, tooLarge bool) {
		if tooLarge {
			x.RespondError(502, "response too large")
			return
		}
		x.Respond(201, "", []Field{{"X-Len", fmt.Sprint(len(body))}}, append([]byte("resp "), body...))
	})
}

func TestReadBodies(t *testing.T) {
	b := newBackend(t)
	s := startProxy(t, bufferingHandler{upstream: b.Listener.Addr().String()}, Config{})
	base := "http://" + s.Addr().String()
	c := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	post := func(path, body string, chunked bool) (int, string) {
		t.Helper()
		var r io.Reader = strings.NewReader(body)
		if chunked {
			r = io.MultiReader(strings.NewReader(body)) // no length: chunked
		}
		resp, err := c.Post(base+path, "text/plain", r)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(got)
	}
	for _, chunked := range []bool{false, true} {
		if st, got := post("/echo", "hello", chunked); st != 200 || got != "got hello" {
			t.Fatalf("echo (chunked %v): %d %q", chunked, st, got)
		}
		sum := sha256.Sum256([]byte("ABC"))
		if st, got := post("/sha", "abc", chunked); st != 201 || got != fmt.Sprintf("resp 3 %x", sum) {
			t.Fatalf("sha (chunked %v): %d %q", chunked, st, got)
		}
		if st, _ := post("/echo", strings.Repeat("x", 2<<20), chunked); st != 413 {
			t.Fatalf("over the request limit (chunked %v): %d", chunked, st)
		}
	}
	// A response body over its limit: 502, and the proxy keeps serving.
	if st, got := post("/big", "", false); st != 502 || !strings.Contains(got, "response too large") {
		t.Fatalf("over the response limit: %d %q", st, got)
	}
	if st, got := post("/echo", "again", false); st != 200 || got != "got again" {
		t.Fatalf("after the failures: %d %q", st, got)
	}
}
