package appliance

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
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

// TestFollowRedirects: with follow-redirects="true" the gateway follows the
// backend's 3xx with .NET HttpClient's rules (APIM's runtime): 301/302 turn
// POST into a body-less GET, 303 turns everything into GET, 307 keeps the
// method (a streamed body is not resent: the 307 goes to the client);
// Authorization does not follow to another host; a loop stops after 50 hops
// with the last 3xx. Without the attribute the 3xx goes to the client.
func TestFollowRedirects(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "other "+r.Method+" auth="+r.Header.Get("Authorization"))
	}))
	defer other.Close()
	hops := 0
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/base/r301", "/base/plain/r301":
			http.Redirect(w, r, "final?from=301", 301)
		case "/base/r302":
			http.Redirect(w, r, "/base/final", 302)
		case "/base/r303":
			http.Redirect(w, r, "/base/final", 303)
		case "/base/r307":
			http.Redirect(w, r, "/base/final", 307)
		case "/base/cross":
			http.Redirect(w, r, other.URL+"/x", 302)
		case "/base/loop":
			hops++
			http.Redirect(w, r, "/base/loop", 302)
		default:
			io.WriteString(w, r.Method+" "+r.URL.RequestURI()+" body="+string(body)+" auth="+r.Header.Get("Authorization"))
		}
	}))
	defer backend.Close()
	follow := `<policies><inbound/><backend><forward-request follow-redirects="true"/></backend><outbound/><on-error/></policies>`
	plain := `<policies><inbound/><backend><forward-request/></backend><outbound/><on-error/></policies>`
	snap := &wire.Snapshot{ProtocolVersion: wire.ProtocolVersion, Version: 1,
		APIs: []wire.API{{ID: "f", Path: "f", ServiceURL: backend.URL + "/base", Protocols: []string{"http"}}}}
	for _, p := range []string{"r301", "r302", "r303", "r307", "cross", "loop"} {
		for _, m := range []string{"GET", "POST"} {
			snap.APIs[0].Operations = append(snap.APIs[0].Operations, wire.Operation{ID: p + m, Method: m, URLTemplate: "/" + p, Policy: follow})
		}
	}
	snap.APIs[0].Operations = append(snap.APIs[0].Operations, wire.Operation{ID: "plain", Method: "GET", URLTemplate: "/plain/r301", Policy: plain})
	if err := snap.Seal(); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, snap)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, g.base+"/f"+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer t0ken")
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, c := range []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"GET", "/r301", "", 200, "GET /base/final?from=301 body= auth=Bearer t0ken"},
		{"POST", "/r302", "payload", 200, "GET /base/final body= auth=Bearer t0ken"},
		{"POST", "/r303", "payload", 200, "GET /base/final body="},
		{"GET", "/r307", "", 200, "GET /base/final body="},
		{"POST", "/r307", "payload", 307, ""}, // the streamed body cannot be resent
		{"GET", "/cross", "", 200, "other GET auth="},
		{"GET", "/loop", "", 302, ""},
		{"GET", "/plain/r301", "", 301, ""},
	} {
		status, body := do(c.method, c.path, c.body)
		if status != c.status || !strings.Contains(body, c.want) {
			t.Errorf("%s %s: %d %q, want %d %q", c.method, c.path, status, body, c.status, c.want)
		}
	}
	if hops != maxRedirects+1 {
		t.Errorf("redirect loop: the backend saw %d requests, want %d", hops, maxRedirects+1)
	}
}

// TestBufferRequestBody: with buffer-request-body="true" a retry around
// forward-request resends the request body (and a 307 with
// follow-redirects does); without it the gateway says it cannot resend.
func TestBufferRequestBody(t *testing.T) {
	calls := map[string]int{}
	var mu sync.Mutex
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		calls[r.URL.Path]++
		n := calls[r.URL.Path]
		mu.Unlock()
		switch {
		case strings.HasSuffix(r.URL.Path, "/flaky") && n < 3:
			w.WriteHeader(503)
		case r.URL.Path == "/move":
			http.Redirect(w, r, "/moved", 307)
		default:
			io.WriteString(w, r.Method+" got "+string(body))
		}
	}))
	defer backend.Close()
	retry := func(buffer string) string {
		return `<policies><inbound/><backend><retry condition="@(context.Response.StatusCode == 503)" count="3" interval="0">` +
			`<forward-request ` + buffer + `/></retry></backend><outbound/><on-error/></policies>`
	}
	snap := &wire.Snapshot{ProtocolVersion: wire.ProtocolVersion, Version: 1,
		APIs: []wire.API{{ID: "f", Path: "f", ServiceURL: backend.URL, Protocols: []string{"http"}, Operations: []wire.Operation{
			{ID: "a", Method: "POST", URLTemplate: "/a/flaky", Policy: retry(`buffer-request-body="true"`)},
			{ID: "b", Method: "POST", URLTemplate: "/b/flaky", Policy: retry(``)},
			{ID: "m", Method: "POST", URLTemplate: "/move", Policy: `<policies><inbound/><backend><forward-request follow-redirects="true" buffer-request-body="true"/></backend><outbound/><on-error/></policies>`},
		}}}}
	if err := snap.Seal(); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, snap)
	post := func(path string, body string, chunked bool) (int, string) {
		var rd io.Reader = strings.NewReader(body)
		if chunked {
			rd = io.MultiReader(strings.NewReader(body)) // unknown length: sent chunked
		}
		resp, err := http.Post(g.base+"/f"+path, "text/plain", rd)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, body := post("/a/flaky", "the payload", false); st != 200 || body != "POST got the payload" {
		t.Errorf("buffered retry: %d %q", st, body)
	}
	mu.Lock()
	calls["/a/flaky"] = 0
	mu.Unlock()
	if st, body := post("/a/flaky", strings.Repeat("chunk ", 10000), true); st != 200 || body != "POST got "+strings.Repeat("chunk ", 10000) {
		t.Errorf("buffered chunked retry: %d %.60q", st, body)
	}
	if st, body := post("/b/flaky", "the payload", false); st != 502 || !strings.Contains(body, "cannot be sent to the backend again") {
		t.Errorf("unbuffered retry: %d %q", st, body)
	}
	if st, body := post("/move", "kept", false); st != 200 || body != "POST got kept" {
		t.Errorf("307 with a buffered body: %d %q", st, body)
	}
	big := strings.Repeat("x", 17<<20)
	if st, _ := post("/a/flaky", big, false); st != 413 {
		t.Errorf("over the buffer limit: %d", st)
	}
}
