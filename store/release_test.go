package store

import (
	"context"
	"testing"
	"time"

	"github.com/apimgw/apimgw/internal/testenv"
)

// TestReleaseMapped: a 32 MiB backlog, read and acknowledged, leaves its
// pages resident in the file's mapping; ReleaseMapped gives them back, and
// the store's contents (a snapshot, new records) are intact afterwards.
func TestReleaseMapped(t *testing.T) {
	s, _ := openTest(t, Options{QueueMaxBytes: 256 << 20})
	if _, err := s.PutSnapshot("7", []byte(`{"version":7}`)); err != nil {
		t.Fatal(err)
	}
	rec := make([]byte, 4000)
	for i := range rec {
		rec[i] = byte(i)
	}
	batch := make([][]byte, 1000)
	for i := range batch {
		batch[i] = rec
	}
	for range 8 {
		if _, err := s.AppendBatch(batch); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, after := readQueue(t, s)
	if err := s.Ack(after); err != nil {
		t.Fatal(err)
	}
	before := testenv.RSSFileKiB(t)
	size, err := s.ReleaseMapped()
	if err != nil {
		t.Fatalf("ReleaseMapped: %v", err)
	}
	got := testenv.RSSFileKiB(t)
	t.Logf("file %d MiB; RssFile %d KiB before, %d KiB after", size>>20, before, got)
	if size < 24<<20 {
		t.Fatalf("file is %d bytes, expected the 32 MiB backlog to have grown it past 24 MiB", size)
	}
	if before-got < 16<<10 {
		t.Fatalf("RssFile fell by %d KiB, want at least 16 MiB of the %d MiB file released", before-got, size>>20)
	}
	snap, err := s.CurrentSnapshot()
	if err != nil || string(snap.Data) != `{"version":7}` {
		t.Fatalf("snapshot after release: %q %v", snap.Data, err)
	}
	if _, err := s.AppendBatch([][]byte{rec}); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs, err := s.Read(after, 10, 0)
	if err != nil || len(recs) != 1 || string(recs[0].Data) != string(rec) {
		t.Fatalf("record after release: %d %v", len(recs), err)
	}
}

// TestTrimBuffers: commit buffers grown by a large batch are let go once
// empty, a batch being filled keeps its buffer, and the queue works after.
func TestTrimBuffers(t *testing.T) {
	// No commit on its own: a batch stays pending until Flush.
	s, _ := openTest(t, Options{QueueMaxBytes: 256 << 20, CommitInterval: time.Hour})
	rec := make([]byte, 1000)
	batch := make([][]byte, 2000) // 2 MB: grows the batch and pack buffers
	for i := range batch {
		batch[i] = rec
	}
	if _, err := s.AppendBatch(batch); err != nil {
		t.Fatal(err)
	}
	curCap := func() int {
		s.q.mu.Lock()
		defer s.q.mu.Unlock()
		return cap(s.q.cur.buf)
	}
	pending := curCap()
	if pending <= trimFloor {
		t.Fatalf("2 MB pending in a %d-byte buffer: the test proves nothing", pending)
	}
	s.TrimBuffers()
	if c := curCap(); c != pending {
		t.Fatalf("the batch being filled lost its buffer (cap %d -> %d)", pending, c)
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	grown := func() (n int) {
		s.writeMu.Lock()
		defer s.writeMu.Unlock()
		s.q.mu.Lock()
		defer s.q.mu.Unlock()
		for _, c := range []int{cap(s.q.packbuf), cap(s.q.keybuf), cap(s.q.cur.buf), cap(s.q.spare.buf)} {
			if c > trimFloor {
				n++
			}
		}
		return n
	}
	if grown() == 0 {
		t.Fatal("a committed 2 MB batch left no grown buffer: the test proves nothing")
	}
	if _, err := s.Append([]byte("pending")); err != nil {
		t.Fatal(err)
	}
	s.TrimBuffers()
	if n := grown(); n != 0 {
		t.Errorf("%d buffers still above %d bytes after TrimBuffers", n, trimFloor)
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Records before and after the trim are all there.
	if _, err := s.AppendBatch(batch[:10]); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if total, _ := readQueue(t, s); total != 2000+1+10 {
		t.Fatalf("queue holds %d records, want %d", total, 2011)
	}
}

// readQueue reads the whole queue and returns how many records it holds and
// the sequence of the last.
func readQueue(t *testing.T, s *Store) (n int, last uint64) {
	t.Helper()
	for {
		recs, err := s.Read(last, 5000, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return n, last
		}
		n += len(recs)
		last = recs[len(recs)-1].Seq
	}
}
