package telemetry

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/apimgw/apimgw/wire"
)

// collectQueue keeps a copy of every record (keep) or only counts them.
type collectQueue struct {
	mu   sync.Mutex
	keep bool
	n    int
	recs [][]byte
}

func (q *collectQueue) AppendBatch(recs [][]byte) (uint64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.n += len(recs)
	if q.keep {
		for _, r := range recs {
			q.recs = append(q.recs, append([]byte(nil), r...))
		}
	}
	return 1, nil
}

func (q *collectQueue) Flush(context.Context) error { return nil }

func (q *collectQueue) count() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

// residentPages reports how many of b's whole pages are resident (mincore).
func residentPages(t *testing.T, b []byte) (resident, pages int) {
	t.Helper()
	page := uintptr(unix.Getpagesize())
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	off := (page - start%page) % page
	n := (uintptr(len(b)) - off) &^ (page - 1)
	vec := make([]byte, n/page)
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, start+off, n, uintptr(unsafe.Pointer(unsafe.SliceData(vec)))); errno != 0 {
		t.Fatal(errno)
	}
	for _, v := range vec {
		if v&1 != 0 {
			resident++
		}
	}
	return resident, len(vec)
}

// TestIdleReleaseReturnsPages: a ring written all over under load keeps its
// pages resident while records flow; once it has been empty for
// IdleRelease they go back to the OS (mincore: none resident), OnIdle is
// called once for that idle period, and records written afterwards arrive
// whole. With IdleRelease negative the pages stay and OnIdle is not called.
func TestIdleReleaseReturnsPages(t *testing.T) {
	const size = 4 << 20
	for _, c := range []struct {
		name    string
		idle    time.Duration
		release bool
	}{{"released", 50 * time.Millisecond, true}, {"never", -1, false}} {
		t.Run(c.name, func(t *testing.T) {
			q := &collectQueue{}
			var idles atomic.Int32
			p := New(q, Options{Loops: 1, BufferBytes: size, FlushInterval: time.Millisecond, IdleRelease: c.idle,
				OnIdle: func() { idles.Add(1) }})
			defer p.Close(context.Background())
			n := 0
			for {
				// Until the ring has wrapped at least once: every page written.
				writeUntilQueued(p, 0, n, 10000)
				n += 10000
				if p.rings[0].head.Load() > 2*size {
					break
				}
			}
			if res, pages := residentPages(t, p.rings[0].buf); res < pages*9/10 {
				t.Fatalf("after %d records %d of %d pages resident: the ring was not written all over", n, res, pages)
			}
			time.Sleep(200 * time.Millisecond) // several IdleRelease periods
			res, pages := residentPages(t, p.rings[0].buf)
			st := p.Stats()
			if c.release && (res > 0 || st.Releases == 0 || idles.Load() != 1) {
				t.Fatalf("after idling, %d of %d pages resident, %d releases, OnIdle called %d times; want none resident, OnIdle once",
					res, pages, st.Releases, idles.Load())
			}
			if !c.release && (res < pages*9/10 || st.Releases != 0 || idles.Load() != 0) {
				t.Fatalf("IdleRelease<0: %d of %d pages resident, %d releases, OnIdle %d; want all kept", res, pages, st.Releases, idles.Load())
			}
			if got := q.count(); got != n {
				t.Fatalf("queued %d records, wrote %d", got, n)
			}

			// The ring works after a release: records arrive whole.
			q.mu.Lock()
			q.keep = true
			q.mu.Unlock()
			writeUntilQueued(p, 0, n, 500)
			if err := p.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			checkSequence(t, q.recs, map[string]int{"loop0": n}, 500)
		})
	}
}

// TestReleaseWhileWriting: releases race with writers all along. Two loops
// write as fast as they can while the test, as the rings' consumer, drains
// and releases them back to back (the committer's own releases only come
// after an idle period, too rarely to race): a release that zeroed pages a
// loop is writing into, or records not yet drained, shows as a lost or
// damaged record. Every record arrives once, whole and in order, and
// releases did happen between the writes.
func TestReleaseWhileWriting(t *testing.T) {
	q := &collectQueue{keep: true}
	p := New(q, Options{Loops: 2, BufferBytes: 64 << 10, FlushInterval: time.Millisecond, IdleRelease: -1})
	const per = 20000
	var wg sync.WaitGroup
	for l := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			writeUntilQueued(p, l, 0, per)
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		p.lockedFlush()
		p.release()
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkSequence(t, q.recs, map[string]int{"loop0": 0, "loop1": 0}, per)
	if st := p.Stats(); st.Releases < 10 || st.Committed != 2*per {
		t.Fatalf("stats %+v: want releases between the writes and %d committed", st, 2*per)
	}
}

// checkSequence decodes recs and checks that each loop's records (by
// Subscription) count up from first[loop] (BytesOut = 300+i), per of each.
func checkSequence(t *testing.T, recs [][]byte, first map[string]int, per int) {
	t.Helper()
	var d wire.RecordDecoder
	next := map[string]int{}
	for name, i := range first {
		next[name] = i
	}
	for k, data := range recs {
		var w wire.TelemetryRecord
		if err := decodeSeq(&d, uint64(k+1), data, &w); err != nil {
			t.Fatalf("record %d: %v", k, err)
		}
		i, ok := next[w.Subscription]
		if !ok || w.BytesOut != int64(300+i) || w.API != "orders" || w.ClientIP != "10.0.0.7" {
			t.Fatalf("record %d: %s bytesOut %d api %q ip %q; want bytesOut %d (lost, damaged or reordered)", k, w.Subscription, w.BytesOut, w.API, w.ClientIP, 300+i)
		}
		next[w.Subscription] = i + 1
	}
	for name, i := range first {
		if next[name] != i+per {
			t.Fatalf("%s: %d records, want %d", name, next[name]-i, per)
		}
	}
}

// TestReleaseHandshake: the producer/consumer handshake itself. A release
// while the producer is inside a write does nothing (the pages stay); a
// producer that enters while a release is in progress waits for its end.
func TestReleaseHandshake(t *testing.T) {
	g := &ring{buf: make([]byte, 64<<10)}
	for i := range g.buf {
		g.buf[i] = 1
	}
	g.enter()
	if g.release() {
		t.Fatal("released while the producer was writing")
	}
	if res, pages := residentPages(t, g.buf); res != pages || g.buf[len(g.buf)/2] != 1 {
		t.Fatalf("%d of %d pages resident after a refused release", res, pages)
	}
	g.exit()
	if !g.release() {
		t.Fatal("an idle, empty ring was not released")
	}
	if res, _ := residentPages(t, g.buf); res != 0 {
		t.Fatalf("%d pages resident after a release", res)
	}
	if g.release() {
		t.Fatal("released twice without records between")
	}

	g.parked.Store(1) // a release in progress
	entered := make(chan struct{})
	go func() { g.enter(); close(entered) }()
	select {
	case <-entered:
		t.Fatal("the producer entered during a release")
	case <-time.After(50 * time.Millisecond):
	}
	g.parked.Store(0)
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the producer did not enter after the release")
	}
	g.exit()

	// Records waiting: no release.
	g.released = false
	g.head.Store(10)
	if g.release() {
		t.Fatal("released a ring with records waiting")
	}
}
