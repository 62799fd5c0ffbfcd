package appliance

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/apimgw/apimgw/wire"
)

// forwardSnapshot is one API on backend with one operation per policy.
func forwardSnapshot(t *testing.T, backend string, ops map[string]string) *wire.Snapshot {
	t.Helper()
	snap := &wire.Snapshot{ProtocolVersion: wire.ProtocolVersion, Version: 1,
		APIs: []wire.API{{ID: "f", Path: "f", ServiceURL: backend, Protocols: []string{"http"}}}}
	for tmpl, pol := range ops {
		snap.APIs[0].Operations = append(snap.APIs[0].Operations,
			wire.Operation{ID: strings.Trim(tmpl, "/"), Method: "GET", URLTemplate: tmpl, Policy: pol})
	}
	if err := snap.Seal(); err != nil {
		t.Fatal(err)
	}
	return snap
}

// TestFailOnErrorStatusCode: with fail-on-error-status-code="true" a 4xx or
// 5xx backend answer runs on-error (outbound is skipped), which sees the
// backend's status; without it, or for a 2xx/3xx, outbound runs as usual.
func TestFailOnErrorStatusCode(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := map[string]int{"/e404": 404, "/e503": 503, "/ok": 200, "/plain404": 404, "/e599": 599, "/e399": 399, "/shaped": 500}[r.URL.Path]
		w.Header().Set("X-Backend", "yes")
		w.WriteHeader(code)
		io.WriteString(w, "backend body")
	}))
	defer backend.Close()
	fail := `<policies><inbound/><backend><forward-request fail-on-error-status-code="true"/></backend>` +
		`<outbound><set-header name="X-Outbound" exists-action="override"><value>ran</value></set-header></outbound>` +
		`<on-error><set-header name="X-On-Error" exists-action="override"><value>@(context.Response.StatusCode.ToString())</value></set-header></on-error></policies>`
	shaped := `<policies><inbound/><backend><forward-request fail-on-error-status-code="true"/></backend><outbound/>` +
		`<on-error><return-response><set-status code="502" reason="Bad Gateway"/><set-body>backend failed</set-body></return-response></on-error></policies>`
	plain := `<policies><inbound/><backend><forward-request/></backend>` +
		`<outbound><set-header name="X-Outbound" exists-action="override"><value>ran</value></set-header></outbound>` +
		`<on-error><set-header name="X-On-Error" exists-action="override"><value>ran</value></set-header></on-error></policies>`
	g := startGateway(t, forwardSnapshot(t, backend.URL, map[string]string{
		"/e404": fail, "/e503": fail, "/e599": fail, "/e399": fail, "/ok": fail, "/plain404": plain, "/shaped": shaped}))
	cases := []struct {
		path            string
		status          int
		onError, outbnd string
		body            string
	}{
		{"/e404", 404, "404", "", "backend body"},
		{"/e503", 503, "503", "", "backend body"},
		{"/e599", 599, "599", "", "backend body"},
		{"/e399", 399, "", "ran", "backend body"},
		{"/ok", 200, "", "ran", "backend body"},
		{"/plain404", 404, "", "ran", "backend body"},
		{"/shaped", 502, "", "", "backend failed"}, // on-error answers instead of the backend's 500
	}
	for _, c := range cases {
		status, hdr, body := call(t, "GET", g.base+"/f"+c.path, nil)
		if status != c.status || hdr.Get("X-On-Error") != c.onError || hdr.Get("X-Outbound") != c.outbnd || body != c.body {
			t.Errorf("%s: %d on-error=%q outbound=%q body=%q; want %d %q %q %q", c.path, status,
				hdr.Get("X-On-Error"), hdr.Get("X-Outbound"), body, c.status, c.onError, c.outbnd, c.body)
		}
	}
}

// TestBufferResponseFalseStreams: with buffer-response="false" each piece of
// the backend's body reaches the client as it arrives (server-sent events):
// the backend writes its second event only after the client has read the
// first through the gateway.
func TestBufferResponseFalseStreams(t *testing.T) {
	gotFirst := make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-gotFirst:
		case <-time.After(10 * time.Second):
			io.WriteString(w, "data: timeout\n\n")
			return
		}
		io.WriteString(w, "data: two\n\n")
	}))
	defer backend.Close()
	for _, attr := range []string{`buffer-response="false"`, `buffer-response="true"`, ``} {
		g := startGateway(t, forwardSnapshot(t, backend.URL, map[string]string{
			"/events": `<policies><inbound/><backend><forward-request ` + attr + `/></backend><outbound/><on-error/></policies>`}))
		resp, err := http.Get(g.base + "/f/events")
		if err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(resp.Body)
		line, err := r.ReadString('\n')
		if err != nil || line != "data: one\n" {
			t.Fatalf("%s: first event %q %v", attr, line, err)
		}
		gotFirst <- struct{}{}
		rest, _ := io.ReadAll(r)
		resp.Body.Close()
		if string(rest) != "\ndata: two\n\n" {
			t.Errorf("%s: rest %q", attr, rest)
		}
	}
}
