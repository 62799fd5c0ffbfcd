package telemetry

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apimgw/apimgw/appliance"
	"github.com/apimgw/apimgw/store"
	"github.com/apimgw/apimgw/wire"
)

func openStore(t testing.TB, opts store.Options) *store.Store {
	t.Helper()
	s, err := store.Open(filepath.Join(t.TempDir(), "apimgw.db"), opts)
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func sampleRecord(loop, i int) appliance.Record {
	return appliance.Record{
		Loop: loop, Time: time.Date(2026, 11, 26, 3, 0, 0, i*1000, time.UTC),
		API: "orders", Operation: "get-order", PathTemplate: "/orders/{id}", Product: "unlimited",
		Subscription: "sub1", Method: "GET", Status: 200, BackendStatus: 200,
		Total: 1500 * time.Microsecond, Backend: 900 * time.Microsecond, BytesIn: 120, BytesOut: int64(300 + i),
		ClientIP: "10.0.0.7",
	}
}

func TestRecordRoundTrip(t *testing.T) {
	long := strings.Repeat("x", MaxStringBytes+50)
	cases := []struct {
		name string
		in   appliance.Record
		want wire.TelemetryRecord
	}{
		{"1 full", sampleRecord(0, 7), wire.TelemetryRecord{Seq: 5, Time: time.Date(2026, 11, 26, 3, 0, 0, 7000, time.UTC),
			API: "orders", Operation: "get-order", Product: "unlimited", Subscription: "sub1", Method: "GET",
			PathTemplate: "/orders/{id}", Status: 200, BackendStatus: 200, TotalMicros: 1500, BackendMicros: 900,
			BytesIn: 120, BytesOut: 307, ClientIP: "10.0.0.7"}},
		{"2 refusal, no API", appliance.Record{Time: time.Unix(1, 0), Method: "POST", Status: 401, Error: "missing-key"},
			wire.TelemetryRecord{Seq: 5, Time: time.Unix(1, 0).UTC(), Method: "POST", Status: 401, Error: "missing-key"}},
		{"3 long strings cut", appliance.Record{Time: time.Unix(2, 0), Status: 502, Error: long, PathTemplate: long},
			wire.TelemetryRecord{Seq: 5, Time: time.Unix(2, 0).UTC(), Status: 502, Error: long[:MaxStringBytes], PathTemplate: long[:MaxStringBytes]}},
		{"4 no response: 499 client-closed", appliance.Record{Time: time.Unix(4, 0), Method: "GET"},
			wire.TelemetryRecord{Seq: 5, Time: time.Unix(4, 0).UTC(), Method: "GET", Status: 499, Error: "client-closed"}},
		{"5 negative duration survives", appliance.Record{Time: time.Unix(3, 0), Status: 200, Total: -time.Millisecond},
			wire.TelemetryRecord{Seq: 5, Time: time.Unix(3, 0).UTC(), Status: 200, TotalMicros: -1000}},
		{"6 gRPC OK", appliance.Record{Time: time.Unix(6, 0), Method: "POST", Status: 200, GRPC: true, GRPCStatus: 0},
			wire.TelemetryRecord{Seq: 5, Time: time.Unix(6, 0).UTC(), Method: "POST", Status: 200, GRPCStatus: grpcCode(0)}},
		{"7 gRPC answer of the gateway", appliance.Record{Time: time.Unix(7, 0), Method: "POST", Status: 401, Error: "subscription-key-missing", GRPC: true, GRPCStatus: 16},
			wire.TelemetryRecord{Seq: 5, Time: time.Unix(7, 0).UTC(), Method: "POST", Status: 401, Error: "subscription-key-missing", GRPCStatus: grpcCode(16)}},
		{"8 GRPCStatus without GRPC is not recorded", appliance.Record{Time: time.Unix(8, 0), Status: 200, GRPCStatus: 3},
			wire.TelemetryRecord{Seq: 5, Time: time.Unix(8, 0).UTC(), Status: 200}},
	}
	var d wire.RecordDecoder
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := AppendRecord(nil, &c.in)
			if len(b) > bound(&c.in) || len(b) > MaxRecordBytes {
				t.Fatalf("encoded %d bytes, bound %d, max %d", len(b), bound(&c.in), MaxRecordBytes)
			}
			var got wire.TelemetryRecord
			if err := decodeSeq(&d, 5, b, &got); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			g, w := got.GRPCStatus, c.want.GRPCStatus
			got.GRPCStatus, c.want.GRPCStatus = nil, nil
			if got != c.want || (g == nil) != (w == nil) || g != nil && *g != *w {
				t.Fatalf("got  %+v (gRPC %v)\nwant %+v (gRPC %v)", got, g, c.want, w)
			}
		})
	}
}

func grpcCode(c int) *int { return &c }

// readAll returns every queued record, decoded.
// writeUntilQueued offers records i0..i0+n-1 of loop l, waiting out a full
// ring (the committer catches up) so that none is dropped.
func writeUntilQueued(p *Pipeline, l, i0, n int) {
	for i := i0; i < i0+n; i++ {
		r := sampleRecord(l, i)
		r.Subscription = fmt.Sprintf("loop%d", l)
		for {
			before := p.rings[l].dropped.Load()
			p.OnDone(&r)
			if p.rings[l].dropped.Load() == before {
				break
			}
			time.Sleep(100 * time.Microsecond) // full: let the committer catch up, retry
		}
	}
}

func readAll(t *testing.T, s *store.Store) []wire.TelemetryRecord {
	t.Helper()
	var out []wire.TelemetryRecord
	var d wire.RecordDecoder
	after := uint64(0)
	for {
		recs, err := s.Read(after, 10000, 0)
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if len(recs) == 0 {
			return out
		}
		for _, r := range recs {
			var w wire.TelemetryRecord
			if err := decodeSeq(&d, r.Seq, r.Data, &w); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			out = append(out, w)
			after = r.Seq
		}
	}
}

// TestPipelineToStore: several loops write concurrently (each from its own
// goroutine, as event loops do), a small ring wraps many times, and every
// record arrives in the real store exactly once.
func TestPipelineToStore(t *testing.T) {
	s := openStore(t, store.Options{})
	const loops, per = 4, 3000
	p := New(s, Options{Loops: loops, BufferBytes: 1, FlushInterval: time.Millisecond})
	var wg sync.WaitGroup
	for l := range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			writeUntilQueued(p, l, 0, per)
		}()
	}
	wg.Wait()
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, s)
	if len(got) != loops*per {
		t.Fatalf("store has %d records, want %d", len(got), loops*per)
	}
	next := map[string]int{}
	for _, r := range got {
		// per loop, records arrive in order: BytesOut counts up
		if want := int64(300 + next[r.Subscription]); r.BytesOut != want {
			t.Fatalf("%s: bytesOut %d, want %d (lost or reordered)", r.Subscription, r.BytesOut, want)
		}
		next[r.Subscription]++
	}
	st := p.Stats()
	if st.Committed != loops*per || st.Buffered != 0 || st.Refused != 0 {
		t.Fatalf("stats %+v", st)
	}
	if st.Flushes < 2 {
		t.Fatalf("flushes = %d: the small ring cannot have held everything", st.Flushes)
	}
}

// gatedQueue is the real store behind a gate the test closes, to make the
// committer fall behind.
type gatedQueue struct {
	*store.Store
	gate chan struct{}
}

func (g *gatedQueue) AppendBatch(recs [][]byte) (uint64, error) {
	<-g.gate
	return g.Store.AppendBatch(recs)
}

func TestBufferFullDropsAndCounts(t *testing.T) {
	s := openStore(t, store.Options{})
	g := &gatedQueue{Store: s, gate: make(chan struct{})}
	p := New(g, Options{Loops: 1, BufferBytes: 1, FlushInterval: time.Millisecond})
	r := sampleRecord(0, 0)
	for range 5000 {
		p.OnDone(&r)
	}
	st := p.Stats()
	if st.DroppedBuffer == 0 || st.Recorded+st.DroppedBuffer != 5000 {
		t.Fatalf("stats %+v: want drops, recorded+dropped = 5000", st)
	}
	close(g.gate)
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(readAll(t, s)); uint64(got) != st.Recorded {
		t.Fatalf("store has %d records, recorded %d", got, st.Recorded)
	}
	p.OnDone(&r)
	if p.Stats().DroppedClosed != 1 {
		t.Fatalf("a record after Close is not counted: %+v", p.Stats())
	}
}

// TestOutOfRangeLoop: a record from a loop index the pipeline was not told
// about still arrives (through the shared buffer).
func TestOutOfRangeLoop(t *testing.T) {
	s := openStore(t, store.Options{})
	p := New(s, Options{Loops: 2})
	for _, loop := range []int{-1, 2, 99, 1} {
		r := sampleRecord(loop, loop+10)
		p.OnDone(&r)
	}
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(readAll(t, s)); got != 4 {
		t.Fatalf("store has %d records, want 4", got)
	}
	p.Close(context.Background())
}

// TestQueueFullCountsInStore: the store drops the oldest when its budget is
// exceeded; the counts are visible through QueueStats.
func TestQueueFullCountsInStore(t *testing.T) {
	s := openStore(t, store.Options{QueueMaxBytes: 64 << 10})
	p := New(s, Options{Loops: 1})
	r := sampleRecord(0, 0)
	for i := range 3000 {
		r.BytesOut = int64(i)
		p.OnDone(&r)
		if i%500 == 0 {
			p.Flush(context.Background())
		}
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	qs, err := s.QueueStats()
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, s)
	if qs.DroppedBy[store.DropQueueFull] == 0 || uint64(len(got))+qs.DroppedBy[store.DropQueueFull] != 3000 {
		t.Fatalf("queue has %d, dropped %v: want a full queue with the rest counted", len(got), qs.DroppedBy)
	}
	if last := got[len(got)-1]; last.BytesOut != 2999 {
		t.Fatalf("newest record kept is %d, want 2999 (oldest dropped first)", last.BytesOut)
	}
}

// TestCommitLatency: a lone record reaches the store's queue within a few
// flush intervals after a quiet period (the committer sleeps and is woken).
func TestCommitLatency(t *testing.T) {
	s := openStore(t, store.Options{})
	p := New(s, Options{Loops: 1, FlushInterval: 2 * time.Millisecond})
	defer p.Close(context.Background())
	time.Sleep(20 * time.Millisecond) // the committer goes to sleep
	for round := range 3 {
		r := sampleRecord(0, round)
		p.OnDone(&r)
		deadline := time.Now().Add(2 * time.Second)
		for p.Stats().Committed != uint64(round+1) {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: record not committed within 2s: %+v", round, p.Stats())
			}
			time.Sleep(time.Millisecond)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// discardQueue takes records and forgets them: it isolates the hot path from
// the store's commit work (which allocates, in the background) when counting
// allocations and nanoseconds per record.
type discardQueue struct{ n int }

func (d *discardQueue) AppendBatch(recs [][]byte) (uint64, error) { d.n += len(recs); return 1, nil }
func (d *discardQueue) Flush(context.Context) error               { return nil }

func TestOnDoneDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates; make test runs this test without -race (test-norace)")
	}
	p := New(&discardQueue{}, Options{Loops: 1})
	defer p.Close(context.Background())
	r := sampleRecord(0, 1)
	// 5,000 records fit the 1 MiB ring: none is a drop. The committer moves
	// them to discardQueue meanwhile, off the loop and in batches (its
	// scratch slice grows to the largest batch yet): it is not counted.
	const n = 5000
	if got, where := mallocs(n, func() { p.OnDone(&r) },
		"github.com/apimgw/apimgw/appliance/telemetry.(*Pipeline).committer"); got != 0 {
		t.Fatalf("OnDone: %d allocations for %d records, want 0:\n%s", got, n, where)
	}
	if s := p.Stats(); s.DroppedBuffer != 0 || s.Recorded != n+1 {
		t.Fatalf("stats %+v: want %d recorded, none dropped", s, n+1)
	}
	// A gRPC call's record (with its status) costs nothing more.
	r.GRPC, r.GRPCStatus = true, 14
	if got, where := mallocs(n, func() { p.OnDone(&r) },
		"github.com/apimgw/apimgw/appliance/telemetry.(*Pipeline).committer"); got != 0 {
		t.Fatalf("OnDone (gRPC): %d allocations for %d records, want 0:\n%s", got, n, where)
	}
}

// BenchmarkOnDone is the hot path alone: encode into the loop's ring.
func BenchmarkOnDone(b *testing.B) {
	p := New(&discardQueue{}, Options{Loops: 1})
	defer p.Close(context.Background())
	r := sampleRecord(0, 1)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p.OnDone(&r)
		if i++; i%1024 == 0 {
			// Keep the ring from filling, so every op is a real write,
			// not a drop; the store's work is not the hot path's.
			b.StopTimer()
			p.lockedFlush()
			b.StartTimer()
		}
	}
	b.StopTimer()
	if st := p.Stats(); st.DroppedBuffer != 0 {
		b.Fatalf("%d records dropped: the benchmark measured drops", st.DroppedBuffer)
	}
}

// BenchmarkOnDoneToStore is the whole pipeline into a real store, offered
// records as fast as one loop can produce them (far faster than any proxy
// finishes requests): committed/s is what the committer and the store's
// group commit sustain; dropped/op the share the full ring refused (its
// allocations are the store's, in the background).
func BenchmarkOnDoneToStore(b *testing.B) {
	s := openStore(b, store.Options{})
	p := New(s, Options{Loops: 1, BufferBytes: 16 << 20})
	r := sampleRecord(0, 1)
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		p.OnDone(&r)
	}
	if err := p.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	st := p.Stats()
	b.ReportMetric(float64(st.Committed)/time.Since(start).Seconds(), "committed/s")
	b.ReportMetric(float64(st.DroppedBuffer)/float64(b.N), "dropped/op")
}

func BenchmarkAppendRecord(b *testing.B) {
	r := sampleRecord(0, 1)
	buf := make([]byte, 0, MaxRecordBytes)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendRecord(buf[:0], &r)
	}
	b.SetBytes(int64(len(buf)))
}

// decodeSeq decodes one queued record with its queue sequence.
func decodeSeq(d *wire.RecordDecoder, seq uint64, data []byte, out *wire.TelemetryRecord) error {
	out.Seq = seq
	return d.Decode(data, out)
}
