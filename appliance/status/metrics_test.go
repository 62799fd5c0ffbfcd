package status

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// requireTool finds a tool for a test; the make target that installs it sets
// APIMGW_REQUIRE_TOOLS=1 so that a missing tool fails instead of skipping.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("APIMGW_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s not found and APIMGW_REQUIRE_TOOLS=1", name)
		}
		t.Skipf("%s not installed (make test-status installs it)", name)
	}
	return p
}

func scrape(t *testing.T, s *Server) string {
	t.Helper()
	w := do(t, s, "GET", "/metrics", nil, nil)
	if w.Code != 200 || w.Header().Get("Content-Type") != "text/plain; version=0.0.4; charset=utf-8" {
		t.Fatalf("/metrics: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	return w.Body.String()
}

// parseExposition checks the text format's structure and returns samples by
// their full name with labels.
func parseExposition(t *testing.T, text string) map[string]float64 {
	t.Helper()
	samples := map[string]float64{}
	typed := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "# TYPE ") {
			f := strings.Fields(line)
			if len(f) != 4 {
				t.Fatalf("line %d: bad TYPE: %q", n, line)
			}
			if _, dup := typed[f[2]]; dup {
				t.Fatalf("line %d: family %s declared twice", n, f[2])
			}
			typed[f[2]] = f[3]
			continue
		}
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("line %d: value: %q", n, line)
		}
		name := line[:i]
		base, _, _ := strings.Cut(name, "{")
		fam := base
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if typed[strings.TrimSuffix(base, suf)] == "histogram" {
				fam = strings.TrimSuffix(base, suf)
			}
		}
		if typed[fam] == "" {
			t.Fatalf("line %d: sample %s before its TYPE", n, base)
		}
		samples[name] = v
	}
	return samples
}

func TestMetricsContent(t *testing.T) {
	src := &fakeSource{facts: hybridFacts()}
	src.facts.APIs = append(src.facts.APIs, API{ID: `we"ird\api`})
	rec := busyRecorder()
	rec.Shard(0).Observe(`we"ird\api`, "op\nx", 200, time.Millisecond)
	s := newTestServer(t, src, rec)
	m := parseExposition(t, scrape(t, s))
	want := map[string]float64{
		`apimgw_requests_total{api="petstore",operation="getPet",status="200"}`:                              300,
		`apimgw_requests_total{api="orders",operation="listOrders",status="502"}`:                            5,
		`apimgw_requests_total{api="",operation="",status="404"}`:                                            1,
		`apimgw_request_duration_seconds_count{api="orders",operation="listOrders",status="502"}`:            5,
		`apimgw_request_duration_seconds_bucket{api="orders",operation="listOrders",status="502",le="2.5"}`:  0,
		`apimgw_request_duration_seconds_bucket{api="orders",operation="listOrders",status="502",le="5"}`:    5,
		`apimgw_request_duration_seconds_bucket{api="orders",operation="listOrders",status="502",le="+Inf"}`: 5,
		`apimgw_request_duration_seconds_sum{api="orders",operation="listOrders",status="502"}`:              15,
		`apimgw_requests_total{api="we\"ird\\api",operation="op\nx",status="200"}`:                           1,
		`apimgw_telemetry_backlog_records`:                                                                   18234,
		`apimgw_telemetry_backlog_bytes`:                                                                     7 << 20,
		`apimgw_telemetry_backlog_oldest_age_seconds`:                                                        41 * 60,
		`apimgw_telemetry_dropped_records_total`:                                                             0,
		`apimgw_controlplane_connected`:                                                                      0,
		`apimgw_snapshot_info{version="42"}`:                                                                 1,
		`apimgw_ready`:                                                                                       1,
		`apimgw_build_info{version="0.1.0+abc1234",mode="hybrid",gateway="edge-berlin-1"}`:                   1,
		`apimgw_token_expiry_timestamp_seconds`:                                                              float64(hybridFacts().Token.Expiry.Unix()),
		`apimgw_controlplane_last_sync_timestamp_seconds`:                                                    float64(t0.Add(-43 * time.Minute).Unix()),
		`apimgw_apis`: 3,
	}
	for k, v := range want {
		got, ok := m[k]
		if !ok {
			t.Errorf("missing %s", k)
		} else if got != v {
			t.Errorf("%s = %v, want %v", k, got, v)
		}
	}
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "go_gc_cycles_total", "process_resident_memory_bytes", "process_cpu_seconds_total", "apimgw_host_memory_total_bytes"} {
		if _, ok := m[name]; !ok {
			t.Errorf("missing %s", name)
		}
	}
	if m["process_resident_memory_bytes"] <= 0 || m["process_start_time_seconds"] < 1.7e9 {
		t.Errorf("process facts: rss %v start %v", m["process_resident_memory_bytes"], m["process_start_time_seconds"])
	}
	// Buckets are cumulative and end at the count.
	prev := -1.0
	for _, le := range []string{"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"} {
		v := m[`apimgw_request_duration_seconds_bucket{api="petstore",operation="getPet",status="200",le="`+le+`"}`]
		if v < prev {
			t.Fatalf("bucket le=%s = %v < previous %v", le, v, prev)
		}
		prev = v
	}
	if prev != 300 {
		t.Fatalf("+Inf bucket %v, want 300", prev)
	}
}

func TestMetricsWithoutRecorderOrToken(t *testing.T) {
	f := hybridFacts()
	f.Token = nil
	s := newTestServer(t, &fakeSource{facts: f}, nil)
	m := parseExposition(t, scrape(t, s))
	if _, ok := m["apimgw_token_expiry_timestamp_seconds"]; ok {
		t.Error("token expiry without a token")
	}
	for k := range m {
		if strings.HasPrefix(k, "apimgw_requests_total") {
			t.Errorf("request series without a recorder: %s", k)
		}
	}
}

// TestPromtoolCheckMetrics runs Prometheus' own linter over a real scrape.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool := requireTool(t, "promtool")
	src := &fakeSource{facts: hybridFacts()}
	s := newTestServer(t, src, busyRecorder())
	for _, body := range []string{scrape(t, s), scrape(t, newTestServer(t, &fakeSource{facts: Facts{}}, nil))} {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(body)
		out, err := cmd.CombinedOutput()
		if err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Fatalf("promtool check metrics: %v\n%s", err, out)
		}
	}
}
