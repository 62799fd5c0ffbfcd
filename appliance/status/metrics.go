package status

import (
	"bufio"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// promWriter writes the Prometheus text exposition format (version 0.0.4).
// Each family is written whole: HELP, TYPE, then its samples.
type promWriter struct {
	w *bufio.Writer
}

func (p *promWriter) family(name, typ, help string) {
	p.w.WriteString("# HELP ")
	p.w.WriteString(name)
	p.w.WriteByte(' ')
	p.w.WriteString(strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(help))
	p.w.WriteString("\n# TYPE ")
	p.w.WriteString(name)
	p.w.WriteByte(' ')
	p.w.WriteString(typ)
	p.w.WriteByte('\n')
}

// sample writes one line; labels alternate name, value.
func (p *promWriter) sample(name string, v float64, labels ...string) {
	p.w.WriteString(name)
	if len(labels) > 0 {
		p.w.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				p.w.WriteByte(',')
			}
			p.w.WriteString(labels[i])
			p.w.WriteString(`="`)
			p.w.WriteString(escapeLabel(labels[i+1]))
			p.w.WriteByte('"')
		}
		p.w.WriteByte('}')
	}
	p.w.WriteByte(' ')
	p.w.WriteString(formatFloat(v))
	p.w.WriteByte('\n')
}

func (p *promWriter) gauge(name, help string, v float64, labels ...string) {
	p.family(name, "gauge", help)
	p.sample(name, v, labels...)
}

func (p *promWriter) counter(name, help string, v float64, labels ...string) {
	p.family(name, "counter", help)
	p.sample(name, v, labels...)
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func unixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// metricLabels are an emit-metric series' labels: namespace, metric, and each
// dimension under a Prometheus-safe name ("API ID" becomes api_id).
func metricLabels(m PolicyMetric) []string {
	out := []string{"namespace", m.Namespace, "metric", m.Name}
	for _, d := range m.Dimensions {
		out = append(out, promLabel(d[0]), d[1])
	}
	return out
}

func promLabel(s string) string {
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' && i > 0) {
			b[i] = '_'
		}
	}
	if len(b) == 0 || b[0] == '_' && len(b) > 1 && b[1] == '_' {
		return "dim_" + string(b)
	}
	if string(b) == "namespace" || string(b) == "metric" {
		return "dim_" + string(b)
	}
	return string(b)
}

// writeMetrics writes every family of /metrics.
func writeMetrics(w io.Writer, r *Report, rec *Recorder) error {
	bw := bufio.NewWriter(w)
	p := &promWriter{w: bw}
	f := &r.Facts

	p.gauge("apimgw_build_info", "Version and configuration mode of the running gateway (always 1).", 1,
		"version", f.Version, "mode", string(f.Mode), "gateway", f.GatewayName)
	p.gauge("apimgw_start_time_seconds", "Start time of the gateway, seconds since the Unix epoch.", unixSeconds(f.StartedAt))
	p.gauge("apimgw_ready", "1 when listeners are up and a configuration is loaded (what /readyz answers).", boolFloat(f.Ready))

	// Requests, by API, operation and status code.
	if rec != nil {
		series := rec.Series()
		p.family("apimgw_requests_total", "counter", "Requests answered, by API, operation and HTTP status code.")
		for _, s := range series {
			p.sample("apimgw_requests_total", float64(s.Count),
				"api", s.API, "operation", s.Operation, "status", strconv.Itoa(s.Status))
		}
		p.family("apimgw_request_duration_seconds", "histogram", "Time from the request head to the last byte of the response, by API, operation and HTTP status code.")
		bounds := rec.Bounds()
		for _, s := range series {
			code := strconv.Itoa(s.Status)
			for i, c := range s.Buckets {
				le := "+Inf"
				if i < len(bounds) {
					le = formatFloat(bounds[i])
				}
				p.sample("apimgw_request_duration_seconds_bucket", float64(c),
					"api", s.API, "operation", s.Operation, "status", code, "le", le)
			}
			p.sample("apimgw_request_duration_seconds_sum", s.Sum, "api", s.API, "operation", s.Operation, "status", code)
			p.sample("apimgw_request_duration_seconds_count", float64(s.Count), "api", s.API, "operation", s.Operation, "status", code)
		}
	}

	// Policies' own state: the value cache and emit-metric.
	pf := &f.Policies
	p.gauge("apimgw_policy_cache_entries", "Entries in the built-in cache of cache-store-value.", float64(pf.CacheEntries))
	p.gauge("apimgw_policy_cache_bytes", "Bytes held by the built-in cache (keys, values, overhead).", float64(pf.CacheBytes))
	p.gauge("apimgw_policy_cache_budget_bytes", "Byte budget of the built-in cache.", float64(pf.CacheBudget))
	p.counter("apimgw_policy_cache_hits_total", "cache-lookup-value hits.", float64(pf.CacheHits))
	p.counter("apimgw_policy_cache_misses_total", "cache-lookup-value misses (expired entries included).", float64(pf.CacheMisses))
	p.counter("apimgw_policy_cache_evictions_total", "Entries evicted to stay within the cache's byte budget.", float64(pf.CacheEvictions))
	p.counter("apimgw_policy_cache_expired_total", "Entries dropped because their duration passed.", float64(pf.CacheExpired))
	writeExternalCache(p, f) // external_cache.go
	if len(pf.Metrics) > 0 {
		p.family("apimgw_emitted_metric_sum", "counter", "Sum of the values emit-metric added, by namespace, metric and dimensions.")
		for _, m := range pf.Metrics {
			p.sample("apimgw_emitted_metric_sum", m.Sum, metricLabels(m)...)
		}
		p.family("apimgw_emitted_metric_count", "counter", "Number of values emit-metric added, by namespace, metric and dimensions.")
		for _, m := range pf.Metrics {
			p.sample("apimgw_emitted_metric_count", float64(m.Count), metricLabels(m)...)
		}
	}

	// Telemetry backlog.
	t := f.Telemetry
	p.gauge("apimgw_telemetry_backlog_records", "Telemetry records queued on disk for the control plane.", float64(t.Records))
	p.gauge("apimgw_telemetry_backlog_bytes", "Bytes of telemetry queued on disk for the control plane.", float64(t.Bytes))
	oldest := 0.0
	if !t.Oldest.IsZero() && t.Records > 0 {
		oldest = math.Max(0, r.GeneratedAt.Sub(t.Oldest).Seconds())
	}
	p.gauge("apimgw_telemetry_backlog_oldest_age_seconds", "Age of the oldest queued telemetry record (0 when the queue is empty).", oldest)
	p.counter("apimgw_telemetry_dropped_records_total", "Telemetry records dropped, oldest first, to stay within telemetry.queue.max-bytes.", float64(t.Dropped))
	p.gauge("apimgw_telemetry_last_upload_timestamp_seconds", "Last time a telemetry batch was acknowledged by the control plane (0: never).", unixSeconds(t.LastUpload))

	// Sync state.
	cp := f.ControlPlane
	p.gauge("apimgw_controlplane_connected", "1 while the control plane answers (hybrid mode).", boolFloat(cp.Connected))
	p.gauge("apimgw_controlplane_state_since_timestamp_seconds", "When the current connected/offline state began.", unixSeconds(cp.Since))
	p.gauge("apimgw_controlplane_last_sync_timestamp_seconds", "Last successful configuration poll (0: never).", unixSeconds(cp.LastSync))
	p.gauge("apimgw_controlplane_last_error_timestamp_seconds", "Last sync or upload error (0: never).", unixSeconds(cp.LastErrorAt))
	p.gauge("apimgw_snapshot_info", "The configuration snapshot being served (always 1).", 1, "version", f.Snapshot.Current)
	p.gauge("apimgw_snapshot_applied_timestamp_seconds", "When the current snapshot was applied.", unixSeconds(f.Snapshot.AppliedAt))
	p.gauge("apimgw_snapshots_stored", "Snapshots stored for rollback, the current one included.", float64(len(f.Snapshot.History)))
	p.gauge("apimgw_apis", "APIs in the current snapshot.", float64(len(f.APIs)))
	if f.Token != nil {
		p.gauge("apimgw_token_expiry_timestamp_seconds", "Expiry of the gateway token in env.conf.", unixSeconds(f.Token.Expiry))
	}

	// Rate-limit and quota counters.
	pc := f.Counters
	p.family("apimgw_policy_limit_keys", "gauge", "Live rate-limit and quota counter keys, by kind (rate: rate-limit and rate-limit-by-key; quota: quota and quota-by-key).")
	p.sample("apimgw_policy_limit_keys", float64(pc.RateKeys), "kind", "rate")
	p.sample("apimgw_policy_limit_keys", float64(pc.QuotaKeys), "kind", "quota")
	p.family("apimgw_policy_limit_key_evictions_total", "counter", "Counter keys evicted (least recently used first) to keep each policy within policy.rate-limit.max-keys; an evicted key starts a new window.")
	p.sample("apimgw_policy_limit_key_evictions_total", float64(pc.RateEvictions), "kind", "rate")
	p.sample("apimgw_policy_limit_key_evictions_total", float64(pc.QuotaEvictions), "kind", "quota")
	p.gauge("apimgw_policy_limit_max_keys", "Counter keys each rate-limit or quota policy keeps at most (policy.rate-limit.max-keys).", float64(pc.MaxKeys))

	// Counters shared through Redis (only when configured).
	if sc := f.SharedCounters; sc != nil {
		p.gauge("apimgw_shared_counters_up", "1 while rate-limit and quota counters are shared through Redis, 0 while this replica counts locally (Redis unreachable).", boolFloat(sc.Sharing))
		p.gauge("apimgw_shared_counters_state_since_timestamp_seconds", "When the current sharing/local state began.", unixSeconds(sc.Since))
		p.family("apimgw_shared_counter_updates_total", "counter", "Counter increments by outcome: sent (reached Redis), local (Redis unreachable), failed (lost in a failed round trip), dropped (queue full); all but sent counted on this replica only.")
		p.sample("apimgw_shared_counter_updates_total", float64(sc.Sent), "outcome", "sent")
		p.sample("apimgw_shared_counter_updates_total", float64(sc.Local), "outcome", "local")
		p.sample("apimgw_shared_counter_updates_total", float64(sc.Failed), "outcome", "failed")
		p.sample("apimgw_shared_counter_updates_total", float64(sc.Dropped), "outcome", "dropped")
		p.counter("apimgw_shared_counters_fallbacks_total", "Switches to local counters because Redis stopped answering.", float64(sc.Fallbacks))
	}

	// The trace policy's output (to the log).
	if len(f.Traces) > 0 {
		p.family("apimgw_trace_messages_total", "counter", "Trace policy calls, by severity and outcome: logged (to the gateway's log), below-level (under telemetry.logs.std.level), rate-limited, queue-full.")
		for _, tc := range f.Traces {
			p.sample("apimgw_trace_messages_total", float64(tc.Count), "severity", tc.Severity, "outcome", tc.Outcome)
		}
	}

	// Host.
	h := r.Host
	p.gauge("apimgw_host_cpu_busy_ratio", "Busy share of all CPUs between two collections (0-1).", h.CPUPercent/100)
	p.gauge("apimgw_host_load1", "1-minute load average.", h.Load1)
	p.gauge("apimgw_host_load5", "5-minute load average.", h.Load5)
	p.gauge("apimgw_host_load15", "15-minute load average.", h.Load15)
	p.gauge("apimgw_host_memory_total_bytes", "Physical memory.", float64(h.MemTotal))
	p.gauge("apimgw_host_memory_available_bytes", "Memory available without swapping.", float64(h.MemAvailable))
	p.gauge("apimgw_host_disk_total_bytes", "Size of the filesystem holding the store.", float64(h.DiskTotal), "path", h.DiskPath)
	p.gauge("apimgw_host_disk_free_bytes", "Free space on the filesystem holding the store.", float64(h.DiskFree), "path", h.DiskPath)

	writeRuntime(p)
	return bw.Flush()
}

// writeRuntime writes the Go runtime and process families, with the names
// client_golang uses so existing dashboards work.
func writeRuntime(p *promWriter) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	p.gauge("go_goroutines", "Number of goroutines that currently exist.", float64(runtime.NumGoroutine()))
	threads, _ := runtime.ThreadCreateProfile(nil)
	p.gauge("go_threads", "Number of OS threads created.", float64(threads))
	p.gauge("go_info", "Information about the Go environment.", 1, "version", runtime.Version())
	p.gauge("go_gomaxprocs", "GOMAXPROCS.", float64(runtime.GOMAXPROCS(0)))
	if lim := debug.SetMemoryLimit(-1); lim != math.MaxInt64 {
		p.gauge("go_gomemlimit_bytes", "Go runtime soft memory limit (GOMEMLIMIT).", float64(lim))
	}
	p.gauge("go_memstats_alloc_bytes", "Bytes of allocated heap objects.", float64(ms.HeapAlloc))
	p.counter("go_memstats_alloc_bytes_total", "Cumulative bytes allocated for heap objects.", float64(ms.TotalAlloc))
	p.gauge("go_memstats_heap_inuse_bytes", "Bytes in in-use heap spans.", float64(ms.HeapInuse))
	p.gauge("go_memstats_heap_objects", "Number of allocated heap objects.", float64(ms.HeapObjects))
	p.gauge("go_memstats_sys_bytes", "Bytes of memory obtained from the OS.", float64(ms.Sys))
	p.counter("go_gc_cycles_total", "Completed GC cycles.", float64(ms.NumGC))
	p.counter("go_gc_pause_seconds_total", "Cumulative stop-the-world GC pause time.", float64(ms.PauseTotalNs)/1e9)
	p.gauge("go_memstats_next_gc_bytes", "Heap size at which the next GC cycle starts.", float64(ms.NextGC))

	if st, err := readProcSelf(); err == nil {
		p.counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", st.cpuSeconds)
		p.gauge("process_resident_memory_bytes", "Resident memory size in bytes.", float64(st.rss))
		p.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", float64(st.vsize))
		p.gauge("process_start_time_seconds", "Start time of the process since the Unix epoch in seconds.", st.start)
		if n, err := countFDs(); err == nil {
			p.gauge("process_open_fds", "Number of open file descriptors.", float64(n))
		}
	}
}

type procStat struct {
	cpuSeconds float64
	rss, vsize uint64
	start      float64
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

// readProcSelf parses /proc/self/stat (and /proc/stat's btime) on Linux.
func readProcSelf() (procStat, error) {
	var st procStat
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return st, err
	}
	// The command name may hold spaces and parentheses: fields start after
	// the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return st, os.ErrInvalid
	}
	fields := strings.Fields(s[i+1:])
	// fields[0] is state (field 3); utime is field 14, stime 15, starttime 22,
	// vsize 23, rss 24 (in pages).
	if len(fields) < 22 {
		return st, os.ErrInvalid
	}
	num := func(n int) float64 { v, _ := strconv.ParseFloat(fields[n-3], 64); return v }
	st.cpuSeconds = (num(14) + num(15)) / clockTicks
	st.vsize = uint64(num(23))
	st.rss = uint64(num(24)) * uint64(os.Getpagesize())
	if bt, err := bootTime(); err == nil {
		st.start = bt + num(22)/clockTicks
	}
	return st, nil
}

func bootTime() (float64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, os.ErrNotExist
}

func countFDs() (int, error) {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	return len(names), err
}
