package status

import (
	"context"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

func TestRecorderWindowSlides(t *testing.T) {
	var now atomic.Int64
	now.Store(t0.UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	r := NewRecorder(4, clock)
	advance := func(d time.Duration) { now.Add(int64(d)) }

	for i := 0; i < 10; i++ {
		r.Shard(i).Observe("a", "op", 200, 10*time.Millisecond)
	}
	advance(2 * time.Minute)
	for i := 0; i < 10; i++ {
		r.Shard(i).Observe("a", "op", 503, 30*time.Millisecond)
	}
	w := r.Window()["a"]
	if w.Requests != 20 || w.Errors != 10 || w.ErrorRate != 0.5 {
		t.Fatalf("after 2m: %+v", w)
	}
	if math.Abs(w.LatencyAvgMs-20) > 1e-9 {
		t.Errorf("avg %v ms, want 20", w.LatencyAvgMs)
	}
	advance(4 * time.Minute) // the first minute is now 6 minutes old: out
	if w := r.Window()["a"]; w.Requests != 10 || w.Errors != 10 {
		t.Fatalf("after 6m: %+v", w)
	}
	advance(10 * time.Minute)
	if w, ok := r.Window()["a"]; ok {
		t.Fatalf("after 16m the window should be empty: %+v", w)
	}
	// Slots are reused for new minutes: the counters start from zero.
	r.Shard(0).Observe("a", "op", 200, time.Millisecond)
	if w := r.Window()["a"]; w.Requests != 1 || w.Errors != 0 {
		t.Fatalf("reused slot: %+v", w)
	}
	// The cumulative series never slide.
	var total uint64
	for _, s := range r.Series() {
		total += s.Count
	}
	if total != 21 {
		t.Fatalf("series total %d, want 21", total)
	}
}

func TestRecorderQuantiles(t *testing.T) {
	r := NewRecorder(1, func() time.Time { return t0 })
	// 100 requests spread evenly in (10ms, 25ms]: p50 ≈ 17.5ms by interpolation.
	for i := 0; i < 100; i++ {
		r.Shard(0).Observe("q", "op", 200, 20*time.Millisecond)
	}
	w := r.Window()["q"]
	if math.Abs(w.LatencyP50Ms-17.5) > 0.01 || math.Abs(w.LatencyP99Ms-24.85) > 0.01 {
		t.Fatalf("p50 %v p99 %v", w.LatencyP50Ms, w.LatencyP99Ms)
	}
	// Beyond the last bound: the quantile is capped at it.
	r.Shard(0).Observe("slow", "op", 200, time.Minute)
	if w := r.Window()["slow"]; w.LatencyP50Ms != 10000 {
		t.Fatalf("slow p50 %v, want 10000 (the last bound)", w.LatencyP50Ms)
	}
}

func TestRecorderSeriesSorted(t *testing.T) {
	r := busyRecorder()
	s := r.Series()
	for i := 1; i < len(s); i++ {
		a, b := s[i-1], s[i]
		if a.API > b.API || (a.API == b.API && (a.Operation > b.Operation || (a.Operation == b.Operation && a.Status >= b.Status))) {
			t.Fatalf("not sorted at %d: %+v then %+v", i, a, b)
		}
	}
	if len(s) != 6 {
		t.Fatalf("%d series, want 6", len(s))
	}
}

// TestRecorderConcurrent records from many goroutines (one per shard, as event
// loops would) while others read; run with -race.
func TestRecorderConcurrent(t *testing.T) {
	r := NewRecorder(4, nil)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 2000; j++ {
				r.Shard(i).Observe("api", "op", 200+j%2*300, time.Duration(j)*time.Microsecond)
			}
		}(i)
	}
	var readers sync.WaitGroup
	readers.Add(1)
	go func() {
		defer readers.Done()
		for {
			select {
			case <-stop:
				return
			default:
				r.Series()
				r.Window()
			}
		}
	}()
	wg.Wait()
	close(stop)
	readers.Wait()
	w := r.Window()["api"]
	if w.Requests != 8000 || w.Errors != 4000 {
		t.Fatalf("%+v", w)
	}
}

func BenchmarkObserve(b *testing.B) {
	r := NewRecorder(1, nil)
	sh := r.Shard(0)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		sh.Observe("petstore", "getPet", 200, 3*time.Millisecond)
	}
}

// BenchmarkObserveLoops: two goroutines, each observing into its own shard,
// as the gateway's two event loops do. The shards must not share a cache
// line (false sharing: each Observe's lock write would move the other
// loop's line between cores); compare with BenchmarkObserve's one shard.
func BenchmarkObserveLoops(b *testing.B) {
	r := NewRecorder(2, nil)
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(1) // GOMAXPROCS goroutines: one per shard on 2 cores
	b.RunParallel(func(pb *testing.PB) {
		sh := r.Shard(int(next.Add(1)))
		for pb.Next() {
			sh.Observe("petstore", "getPet", 200, 3*time.Millisecond)
		}
	})
}

// TestShardSize: a Shard is a whole number of 128-byte blocks (two cache
// lines, as the adjacent-line prefetcher pairs them), so neighbouring loops'
// shards never share a line; and the last-used cache gives the same counts
// as the maps when keys alternate.
func TestShardSize(t *testing.T) {
	if n := unsafe.Sizeof(Shard{}); n%128 != 0 {
		t.Fatalf("Shard is %d bytes, want a multiple of 128 (adjust its padding)", n)
	}
	r := NewRecorder(1, nil)
	sh := r.Shard(0)
	for i := 0; i < 10; i++ {
		sh.Observe("a", "x", 200, time.Millisecond)
		sh.Observe("b", "x", 200, time.Millisecond)
		sh.Observe("a", "x", 500, time.Millisecond)
		sh.Observe("a", "x", 500, time.Millisecond)
	}
	got := map[string]uint64{}
	for _, s := range r.Series() {
		got[fmt.Sprintf("%s/%s/%d", s.API, s.Operation, s.Status)] += s.Count
	}
	want := map[string]uint64{"a/x/200": 10, "b/x/200": 10, "a/x/500": 20}
	if !maps.Equal(got, want) {
		t.Fatalf("series %v, want %v", got, want)
	}
	if w := r.Window(); w["a"].Requests != 30 || w["a"].Errors != 20 || w["b"].Requests != 10 {
		t.Fatalf("window %+v", w)
	}
}

func TestObserveDoesNotAllocate(t *testing.T) {
	r := NewRecorder(1, nil)
	sh := r.Shard(0)
	sh.Observe("petstore", "getPet", 200, time.Millisecond) // create the series
	const n = 5000
	if got, where := mallocs(n, func() { sh.Observe("petstore", "getPet", 200, 3*time.Millisecond) }); got != 0 {
		t.Fatalf("Observe: %d allocations in %d calls on an existing series, want 0:\n%s", got, n, where)
	}
	// Minutes rolling over reuse the window's slots: a clock that moves a
	// minute per call walks every slot many times without allocating (one
	// flaky allocation per minute boundary hid here before).
	var minute atomic.Int64
	rr := NewRecorder(1, func() time.Time { return t0.Add(time.Duration(minute.Add(1)) * time.Minute) })
	rs := rr.Shard(0)
	rs.Observe("petstore", "getPet", 200, time.Millisecond)
	if got, where := mallocs(n, func() { rs.Observe("petstore", "getPet", 200, 3*time.Millisecond) }); got != 0 {
		t.Fatalf("Observe: %d allocations in %d calls across minute boundaries, want 0:\n%s", got, n, where)
	}
}

func TestHostCollector(t *testing.T) {
	dir := t.TempDir()
	h := NewHostCollector(filepath.Join(dir, "not-yet", "apimgw.db"), time.Hour)
	var now atomic.Int64
	now.Store(t0.UnixNano())
	h.now = func() time.Time { return time.Unix(0, now.Load()) }
	f := h.Collect(context.Background())
	if len(f.Errors) > 0 {
		t.Fatalf("errors reading /proc: %v", f.Errors)
	}
	if f.CPUs < 1 || f.MemTotal == 0 || f.MemAvailable > f.MemTotal || f.DiskTotal == 0 || f.DiskFree > f.DiskTotal {
		t.Fatalf("implausible facts: %+v", f)
	}
	if f.DiskPath != dir {
		t.Errorf("disk path %q, want the nearest existing directory %q", f.DiskPath, dir)
	}
	if f.Hostname == "" || f.BootTime.IsZero() || f.CPUPercent < 0 || f.CPUPercent > 100 {
		t.Errorf("hostname %q boot %v cpu %v", f.Hostname, f.BootTime, f.CPUPercent)
	}
	// Within the TTL the cached facts come back.
	now.Add(int64(time.Minute))
	if g := h.Collect(context.Background()); !g.CollectedAt.Equal(f.CollectedAt) {
		t.Error("collected again within the TTL")
	}
	now.Add(int64(2 * time.Hour))
	if g := h.Collect(context.Background()); g.CollectedAt.Equal(f.CollectedAt) {
		t.Error("not collected again after the TTL")
	}
	// A missing path falls back to "/"; an existing file is used as is.
	if p := diskPath(""); p != "/" {
		t.Errorf("diskPath(\"\") = %q", p)
	}
	file := filepath.Join(dir, "x.db")
	os.WriteFile(file, nil, 0o600)
	if p := diskPath(file); p != file {
		t.Errorf("diskPath(existing) = %q", p)
	}
}
