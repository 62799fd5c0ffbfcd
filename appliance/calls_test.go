package appliance

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/apimgw/apimgw/netstack"
	"github.com/apimgw/apimgw/policy"
	"github.com/apimgw/apimgw/wire"
)

// TestSendRequestOffTheLoop: 32 requests whose send-request targets do not
// answer are in flight on a gateway with one event loop, and fast requests on
// that loop are still answered (all of them, before any slow target answers);
// then the slow ones complete with the calls' responses. send-one-way-request
// in on-error reaches its collector.
func TestSendRequestOffTheLoop(t *testing.T) {
	const slow = 32
	arrived := make(chan struct{}, slow)
	release := make(chan struct{})
	var logged atomic.Int32
	logs := make(chan string, 4)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/slow":
			arrived <- struct{}{}
			<-release
			io.WriteString(w, "slow answer to "+r.Method+" "+string(body)+" "+r.Header.Get("X-Call"))
		case "/log":
			logged.Add(1)
			logs <- string(body)
		default:
			io.WriteString(w, "backend "+r.URL.Path)
		}
	}))
	t.Cleanup(target.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	slowPolicy := `<policies><inbound><send-request mode="new" response-variable-name="r" timeout="30">
  <set-url>` + target.URL + `/slow</set-url><set-method>POST</set-method>
  <set-header name="X-Call" exists-action="override"><value>@(context.Request.Headers.GetValueOrDefault("X-N", ""))</value></set-header>
  <set-body>ping</set-body></send-request></inbound><backend><forward-request/></backend></policies>`
	failPolicy := `<policies><inbound><send-request response-variable-name="r" timeout="5"><set-url>http://127.0.0.1:1/</set-url></send-request></inbound>
<on-error><send-one-way-request mode="new"><set-url>` + target.URL + `/log</set-url><set-method>POST</set-method><set-body>failed</set-body></send-one-way-request>
<return-response><set-status code="503" reason="Down"/><set-body>auth service down</set-body></return-response></on-error></policies>`
	snap := &wire.Snapshot{ProtocolVersion: wire.ProtocolVersion, Version: 1,
		APIs: []wire.API{{ID: "c", Path: "c", ServiceURL: target.URL + "/base", Protocols: []string{"http"},
			Operations: []wire.Operation{
				{ID: "slow", Method: "GET", URLTemplate: "/slow", Policy: slowPolicy},
				{ID: "fast", Method: "GET", URLTemplate: "/fast"},
				{ID: "fail", Method: "GET", URLTemplate: "/fail", Policy: failPolicy},
			}}}}
	if err := snap.Seal(); err != nil {
		t.Fatal(err)
	}
	h := &Handler{}
	c, err := Compile(snap, policy.NewState(nil))
	if err != nil {
		t.Fatal(err)
	}
	h.Swap(c)
	s := netstack.New(netstack.Config{Addr: "127.0.0.1:0", Loops: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, h)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	base := "http://" + s.Addr().String() + "/c"
	get := func(path string, hdr ...string) (int, string) {
		req, _ := http.NewRequest("GET", base+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}

	var wg sync.WaitGroup
	var slowDone atomic.Int32
	results := make(chan string, slow)
	for i := 0; i < slow; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			st, body := get("/slow", "X-N", strings.Repeat("n", i+1))
			slowDone.Add(1)
			if st != 200 {
				results <- body
			}
		}(i)
	}
	for i := 0; i < slow; i++ {
		<-arrived // every slow call is in flight at its target
	}
	for i := 0; i < 20; i++ {
		if st, body := get("/fast"); st != 200 || body != "backend /base/fast" {
			t.Fatalf("fast request %d with %d calls in flight: %d %q", i, slow, st, body)
		}
	}
	if n := slowDone.Load(); n != 0 {
		t.Fatalf("%d slow requests finished before their targets answered", n)
	}
	close(release)
	wg.Wait()
	close(results)
	for r := range results {
		t.Errorf("slow request failed: %s", r)
	}

	if st, body := get("/fail"); st != 503 || body != "auth service down" {
		t.Errorf("failed send-request into on-error: %d %q", st, body)
	}
	if got := <-logs; got != "failed" {
		t.Errorf("one-way log body %q", got)
	}
}
