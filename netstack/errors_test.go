package netstack

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// errHandler forwards to upstream (or answers with RespondError for
// /error) and records each exchange's Err in Done.
type errHandler struct {
	upstream string
	mu       sync.Mutex
	errs     map[string]error
}

func (h *errHandler) Serve(x *Exchange) {
	x.Req.Own()
	switch string(x.Req.Bytes(x.Req.Target)) {
	case "/error":
		x.RespondError(418, "quote \" backslash \\ control \x01\x1f newline \n bad \xff\xfe end")
	case "/down":
		x.Forward("127.0.0.1:1")
	default:
		x.Forward(h.upstream)
	}
}

func (h *errHandler) Done(x *Exchange) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.errs[string(x.Req.Bytes(x.Req.Target))] = x.Err
}

func (h *errHandler) err(t *testing.T, target string) error {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		h.mu.Lock()
		err, ok := h.errs[target]
		h.mu.Unlock()
		if ok {
			return err
		}
	}
	t.Fatalf("no Done for %s", target)
	return nil
}

// TestExchangeErrTyped: Exchange.Err is one of the sentinels, matched with
// errors.Is; a client that stops sending its body is ErrClientBodyTimeout,
// which is not an upstream timeout.
func TestExchangeErrTyped(t *testing.T) {
	b := newBackend(t)
	h := &errHandler{upstream: b.Listener.Addr().String(), errs: map[string]error{}}
	s := startProxy(t, h, Config{BodyIdleTimeout: 300 * time.Millisecond})

	if st, _, _ := get(t, http.DefaultClient, "http://"+s.Addr().String()+"/down"); st != 502 {
		t.Fatalf("/down: %d", st)
	}
	if err := h.err(t, "/down"); !errors.Is(err, ErrUpstreamUnreachable) || errors.Is(err, ErrUpstreamTimeout) {
		t.Errorf("/down: Err %v, want ErrUpstreamUnreachable", err)
	}

	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /stalled HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nonly ten b")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, _ := io.ReadAll(c)
	if !strings.HasPrefix(string(got), "HTTP/1.1 408") {
		t.Fatalf("stalled body: %q", got)
	}
	err = h.err(t, "/stalled")
	if !errors.Is(err, ErrClientBodyTimeout) || errors.Is(err, ErrUpstreamTimeout) || errors.Is(err, ErrUpstreamConnectTimeout) {
		t.Errorf("stalled body: Err %v, want ErrClientBodyTimeout and no upstream timeout", err)
	}

	// A request that went well has no Err.
	get(t, http.DefaultClient, "http://"+s.Addr().String()+"/echo-headers")
	if err := h.err(t, "/echo-headers"); err != nil {
		t.Errorf("a good exchange has Err %v", err)
	}
}

// TestRespondErrorEscapes: the engine's JSON error body is valid JSON for any
// message.
func TestRespondErrorEscapes(t *testing.T) {
	h := &errHandler{errs: map[string]error{}}
	s := startProxy(t, h, Config{})
	st, body, hdr := get(t, http.DefaultClient, "http://"+s.Addr().String()+"/error")
	var v struct {
		StatusCode int    `json:"statusCode"`
		Message    string `json:"message"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("body is not JSON (%v): %q", err, body)
	}
	want := "quote \" backslash \\ control \x01\x1f newline \n bad \ufffd\ufffd end"
	if st != 418 || v.StatusCode != 418 || v.Message != want || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %+v, want message %q", st, v, want)
	}
}
