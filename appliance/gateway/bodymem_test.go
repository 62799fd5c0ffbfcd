package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestBodyMemory is make bench-bodies (docs/benchmarks.md, "Memory under
// buffered bodies"): $APIMGW_BODYMEM_N (default 1,000) clients send a
// 256 KiB request body each, all at once, to the real apimgw binary through
// an operation whose set-body reads and rewrites the request body
// (`@(context.Request.Body.As<string>(preserveContent: true).ToUpperInvariant())`);
// the backend holds every response until all bodies have arrived, so the
// gateway holds every body at the same moment. It reports apimgw's resident
// memory before, while all requests are in flight, and at its peak (VmHWM),
// and fails if the peak grows by more than 8 × N × 256 KiB (a leak or an
// unbounded copy) or any request fails.
func TestBodyMemory(t *testing.T) {
	if os.Getenv("APIMGW_BODYMEM") == "" {
		t.Skip("set APIMGW_BODYMEM=1 (make bench-bodies) to run the buffered-body memory benchmark")
	}
	n := 1000
	if s := os.Getenv("APIMGW_BODYMEM_N"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			t.Fatalf("APIMGW_BODYMEM_N=%q is not a positive integer", s)
		}
	}
	const size = 256 << 10

	var arrived atomic.Int64
	release := make(chan struct{})
	var once sync.Once
	be := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ := io.Copy(io.Discard, r.Body)
		if arrived.Add(1) == int64(n) {
			once.Do(func() { close(release) })
		}
		<-release
		fmt.Fprintf(w, "%d", got)
	}))
	be.Config.ReadTimeout = 5 * time.Minute
	be.Start()
	t.Cleanup(be.Close)

	d := newDaemon(t, be.URL, "")
	snap := map[string]any{
		"protocolVersion": 1, "version": 2, "generatedAt": "2026-12-01T00:00:00Z", "checksum": "",
		"apis": []any{map[string]any{"id": "echo", "path": "echo", "serviceUrl": be.URL, "protocols": []string{"http"},
			"subscriptionRequired": false, "subscriptionKeyParameterNames": map[string]string{"header": "", "query": ""},
			"operations": []any{map[string]any{"id": "upper", "method": "POST", "urlTemplate": "/upper",
				"policy": `<policies><inbound><base/><set-body>@(context.Request.Body.As<string>(preserveContent: true).ToUpperInvariant())</set-body></inbound><backend><base/></backend><outbound><base/></outbound></policies>`}}}},
		"products": []any{}, "subscriptions": []any{}, "policyFragments": []any{}, "namedValues": []any{}, "backends": []any{},
	}
	b, _ := json.Marshal(snap)
	if err := os.WriteFile(filepath.Join(d.dir, "snapshot.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	d.start()
	pid := d.cmd.Process.Pid
	base := rss(t, pid, "VmRSS")

	body := bytes.Repeat([]byte("abcdefgh"), size/8)
	tr := &http.Transport{MaxIdleConnsPerHost: n, DialContext: (&net.Dialer{Timeout: 30 * time.Second}).DialContext}
	client := &http.Client{Transport: tr, Timeout: 5 * time.Minute}
	t.Cleanup(tr.CloseIdleConnections)
	var wg sync.WaitGroup
	var failed atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Post(d.data+"/echo/upper", "text/plain", bytes.NewReader(body))
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				return
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(got) != strconv.Itoa(size) {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, fmt.Sprintf("%d %s", resp.StatusCode, got))
			}
		}()
	}
	// While the backend holds them, every body is in the gateway.
	var inFlight int64
	select {
	case <-release:
		time.Sleep(200 * time.Millisecond)
		inFlight = rss(t, pid, "VmRSS")
	case <-time.After(4 * time.Minute):
		t.Errorf("only %d of %d bodies reached the backend", arrived.Load(), n)
		once.Do(func() { close(release) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	peak := rss(t, pid, "VmHWM")
	after := rss(t, pid, "VmRSS")
	if f := failed.Load(); f > 0 {
		t.Errorf("%d of %d requests failed; first: %v", f, n, firstErr.Load())
	}
	mib := func(k int64) string { return fmt.Sprintf("%.1f MiB", float64(k)/1024) }
	t.Logf("apimgw RSS with %d concurrent %d KiB bodies through set-body (GOMAXPROCS of the box %d): before %s, all in flight %s, peak (VmHWM) %s, after %s; peak growth %s = %.2f × the bodies (%s); %v for all",
		n, size>>10, runtime.NumCPU(), mib(base), mib(inFlight), mib(peak), mib(after), mib(peak-base),
		float64(peak-base)*1024/float64(n*size), mib(int64(n*size/1024)), elapsed.Round(time.Millisecond))
	if limit := base + int64(8*n*size/1024); peak > limit {
		t.Errorf("peak RSS %s exceeds before + 8 × the bodies (%s)", mib(peak), mib(limit))
	}
}

// rss reads a /proc/<pid>/status field (VmRSS, VmHWM) in KiB.
func rss(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			k, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return k
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}
