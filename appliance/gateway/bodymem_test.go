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
	"syscall"
	"testing"
	"time"
)

// TestBodyMemory is make bench-bodies (docs/benchmarks.md, "Memory under
// buffered bodies"): $APIMGW_BODYMEM_N (default 1,000) clients send a
// 256 KiB request body each, all at once, to the real apimgw binary through
// an operation whose set-body reads and rewrites the request body
// (`@(context.Request.Body.As<string>(preserveContent: true).ToUpperInvariant())`).
// The backend holds every request until all N have reached it or for 1 s,
// so the gateway holds as many bodies at once as its body budget lets it
// (env.conf policy.body.max-total-bytes: $APIMGW_BODYMEM_BUDGET, default the
// gateway's); a client answered 503 waits its Retry-After and sends again,
// as a well-behaved client does. apimgw runs with GOMEMLIMIT as the systemd
// unit sets it ($APIMGW_BODYMEM_GOMEMLIMIT, default 256MiB; "off" for none).
// It reports the budget, apimgw's resident memory before, the most sampled
// while requests were in flight, its peak (VmHWM) and after, and how many
// answers were 503s. APIMGW_HEAPPROFILE=FILE and APIMGW_BODYMEM_LOG=FILE
// (with GODEBUG=gctrace=1) keep the daemon's heap profile and stderr. It
// fails if any request fails for good or the peak
// grows by more than 8 × N × 256 KiB (a leak or an unbounded copy).
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
	budget := os.Getenv("APIMGW_BODYMEM_BUDGET")
	memLimit := os.Getenv("APIMGW_BODYMEM_GOMEMLIMIT")
	if memLimit == "" {
		memLimit = "256MiB" // systemd/apimgw.service
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
		select {
		case <-release:
		case <-time.After(time.Second):
		}
		fmt.Fprintf(w, "%d", got)
	}))
	be.Config.ReadTimeout = 5 * time.Minute
	be.Start()
	t.Cleanup(be.Close)

	extra := ""
	if budget != "" {
		extra = "policy.body.max-total-bytes=" + budget + "\n"
	}
	d := newDaemon(t, be.URL, extra)
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
	var env []string
	if memLimit != "off" {
		env = append(env, "GOMEMLIMIT="+memLimit)
	}
	d.start(env...)
	pid := d.cmd.Process.Pid
	base := rss(t, pid, "VmRSS")

	body := bytes.Repeat([]byte("abcdefgh"), size/8)
	tr := &http.Transport{MaxIdleConnsPerHost: n, DialContext: (&net.Dialer{Timeout: 30 * time.Second}).DialContext}
	client := &http.Client{Transport: tr, Timeout: 5 * time.Minute}
	t.Cleanup(tr.CloseIdleConnections)
	var wg sync.WaitGroup
	var failed, refused atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for attempt := 0; ; attempt++ {
				resp, err := client.Post(d.data+"/echo/upper", "text/plain", bytes.NewReader(body))
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					return
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 503 && resp.Header.Get("Retry-After") == "1" && attempt < 300 {
					refused.Add(1)
					time.Sleep(time.Second + time.Duration(attempt%7)*30*time.Millisecond)
					continue
				}
				if resp.StatusCode != 200 || string(got) != strconv.Itoa(size) {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%d %s", resp.StatusCode, got))
				}
				return
			}
		}()
	}
	// Sample the resident memory while the requests run.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var inFlight, heap int64
	tick := time.NewTicker(50 * time.Millisecond)
	for i := 0; ; i++ {
		select {
		case <-done:
			goto sampled
		case <-tick.C:
			inFlight = max(inFlight, rss(t, pid, "VmRSS"))
			if i%5 == 0 {
				heap = max(heap, heapInuse(t, d.status))
			}
		case <-time.After(9 * time.Minute):
			t.Fatalf("not done in 9 minutes: %d of %d bodies reached the backend", arrived.Load(), n)
		}
	}
sampled:
	tick.Stop()
	elapsed := time.Since(start)
	peak := rss(t, pid, "VmHWM")
	after := rss(t, pid, "VmRSS")
	if f := failed.Load(); f > 0 {
		t.Errorf("%d of %d requests failed; first: %v", f, n, firstErr.Load())
	}
	mib := func(k int64) string { return fmt.Sprintf("%.1f MiB", float64(k)/1024) }
	if budget == "" {
		budget = "default (128MiB)"
	}
	t.Logf("apimgw RSS with %d concurrent %d KiB bodies through set-body (budget %s, GOMEMLIMIT %s, %d CPUs): before %s, most sampled in flight %s (Go heap in use at most %s), peak (VmHWM) %s, after %s; peak growth %s = %.2f × the bodies (%s); %d answers were 503 (retried after Retry-After); %v for all",
		n, size>>10, budget, memLimit, runtime.NumCPU(), mib(base), mib(inFlight), mib(heap>>10), mib(peak), mib(after), mib(peak-base),
		float64(peak-base)*1024/float64(n*size), mib(int64(n*size/1024)), refused.Load(), elapsed.Round(time.Millisecond))
	if limit := base + int64(8*n*size/1024); peak > limit {
		t.Errorf("peak RSS %s exceeds before + 8 × the bodies (%s)", mib(peak), mib(limit))
	}
	// A graceful stop (APIMGW_HEAPPROFILE=FILE in the environment writes
	// the daemon's heap profile then).
	if err := d.stop(syscall.SIGTERM); err != nil {
		t.Errorf("stopping apimgw: %v", err)
	}
	if p := os.Getenv("APIMGW_BODYMEM_LOG"); p != "" {
		// The daemon's stderr: with GODEBUG=gctrace=1 in the environment,
		// the live heap after every GC.
		if err := os.WriteFile(p, []byte(d.logs()), 0o644); err != nil {
			t.Error(err)
		}
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

// heapInuse reads go_memstats_heap_inuse_bytes from the daemon's /metrics.
func heapInuse(t *testing.T, status string) int64 {
	resp, err := http.Get(status + "/metrics")
	if err != nil {
		t.Logf("metrics: %v", err)
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "go_memstats_heap_inuse_bytes "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int64(f)
		}
	}
	t.Fatalf("no go_memstats_heap_inuse_bytes in %s/metrics", status)
	return 0
}
