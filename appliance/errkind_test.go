package appliance

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/apimgw/apimgw/netstack"
	"github.com/apimgw/apimgw/policy"
	"github.com/apimgw/apimgw/wire"
)

// startGatewayConfig is startGateway with the engine's timeouts of cfg; setup
// may change the Handler before it serves.
func startGatewayConfig(t testing.TB, snap *wire.Snapshot, cfg netstack.Config, setup ...func(*Handler)) *gw {
	g := &gw{h: &Handler{}}
	for _, f := range setup {
		f(g.h)
	}
	g.h.OnDone = func(r *Record) {
		c := *r
		c.Method, c.PathTemplate = strings.Clone(c.Method), strings.Clone(c.PathTemplate)
		g.mu.Lock()
		g.recs = append(g.recs, c)
		g.mu.Unlock()
	}
	c, err := Compile(snap, policy.NewState(nil))
	if err != nil {
		t.Fatal(err)
	}
	g.h.Swap(c)
	cfg.Addr, cfg.Loops, cfg.Logger = "127.0.0.1:0", 1, slog.New(slog.NewTextHandler(io.Discard, nil))
	s := netstack.New(cfg, g.h)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	g.base = "http://" + s.Addr().String()
	return g
}

// record waits for the telemetry record of the request to path.
func (g *gw) record(t *testing.T, path string) Record {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		g.mu.Lock()
		for _, r := range g.recs {
			if r.PathTemplate == path || r.Operation == strings.TrimPrefix(path, "/") {
				g.mu.Unlock()
				return r
			}
		}
		g.mu.Unlock()
	}
	t.Fatalf("no record for %s", path)
	return Record{}
}

func errorSnapshot(serviceURL string) *wire.Snapshot {
	ops := func(id, method, tmpl, inbound string) wire.Operation {
		return wire.Operation{ID: id, Method: method, URLTemplate: tmpl,
			Policy: `<policies><inbound><base/>` + inbound + `</inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`}
	}
	s := &wire.Snapshot{ProtocolVersion: wire.ProtocolVersion, Version: 1, APIs: []wire.API{{
		ID: "t", Path: "t", ServiceURL: serviceURL, Protocols: []string{"http"},
		Operations: []wire.Operation{
			ops("upload", "POST", "/upload", ""),
			{ID: "slow", Method: "GET", URLTemplate: "/slow",
				Policy: `<policies><inbound><base/></inbound><backend><forward-request timeout="1"/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`},
			ops("down", "GET", "/down", `<set-backend-service base-url="http://127.0.0.1:1"/>`),
			ops("hdr", "GET", "/hdr", `<check-header name="X-Need" failed-check-httpcode="400" failed-check-error-message="need &quot;X-Need&quot; \ here&#10;tab&#9;ls&#x2028;end"/>`),
		},
	}}}
	if err := s.Seal(); err != nil {
		panic(err)
	}
	return s
}

// TestFailureKinds: why an exchange failed is classified from netstack's typed
// errors, so a client that stops sending its body is not reported as a
// backend timeout (it was, when the error was a string matched on "timeout").
func TestFailureKinds(t *testing.T) {
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(1500 * time.Millisecond)
		}
		io.Copy(io.Discard, r.Body)
	}))
	t.Cleanup(b.Close)
	g := startGatewayConfig(t, errorSnapshot(b.URL), netstack.Config{BodyIdleTimeout: 300 * time.Millisecond, ResponseTimeout: 300 * time.Millisecond})

	// A client that sends 10 of 100 body bytes and stops: 408, client-body-timeout.
	c, err := net.Dial("tcp", strings.TrimPrefix(g.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /t/upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, _ := io.ReadAll(c)
	if !strings.HasPrefix(string(got), "HTTP/1.1 408") {
		t.Fatalf("stalled upload: %q", got)
	}
	if r := g.record(t, "/upload"); r.Error != "client-body-timeout" || r.Status != 408 {
		t.Errorf("stalled upload recorded as %q (status %d), want client-body-timeout", r.Error, r.Status)
	}

	cases := []struct {
		path, kind string
		status     int
	}{
		{"/slow", "backend-timeout", 504},
		{"/down", "backend-unreachable", 502},
	}
	for _, tc := range cases {
		st, _, body := call(t, "GET", g.base+"/t"+tc.path, nil)
		if st != tc.status {
			t.Errorf("%s: %d %s", tc.path, st, body)
		}
		if r := g.record(t, tc.path); r.Error != tc.kind {
			t.Errorf("%s recorded as %q, want %q", tc.path, r.Error, tc.kind)
		}
	}
}

// TestErrorBodiesEscaped: every JSON body the handler sends is valid JSON
// whatever its message holds (quotes, backslashes, control characters).
func TestErrorBodiesEscaped(t *testing.T) {
	g := startGatewayConfig(t, errorSnapshot("http://127.0.0.1:1"), netstack.Config{})
	cases := []struct {
		path   string
		status int
		msg    string
	}{
		{"/hdr", 400, "need \"X-Need\" \\ here\ntab\tls\u2028end"},
		{"/down", 502, "Backend service unreachable"},
		{"/nowhere", 404, "Resource not found"},
	}
	for _, tc := range cases {
		st, hdr, body := call(t, "GET", g.base+"/t"+tc.path, nil)
		var v struct {
			StatusCode int    `json:"statusCode"`
			Message    string `json:"message"`
		}
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Errorf("%s: body is not JSON (%v): %s", tc.path, err, body)
			continue
		}
		if st != tc.status || v.StatusCode != tc.status || v.Message != tc.msg || hdr.Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %+v, want %d %q", tc.path, st, v, tc.status, tc.msg)
		}
	}
}

// TestAppendErrorBodyHandler: the handler's own bodies (a failed forward's
// on-error body, a bad backend URL's 502) go through the escaping writer, so
// control characters and invalid UTF-8 come out as valid JSON.
func TestAppendErrorBodyHandler(t *testing.T) {
	got := string(appendErrorBody(nil, 504, "a \"b\" \\ \x01 \xff"))
	if got != `{"statusCode":504,"message":"a \"b\" \\ \u0001 \ufffd"}` {
		t.Fatalf("got %s", got)
	}
}
