package store

import (
	"context"
	"testing"

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
	after := uint64(0)
	for {
		recs, err := s.Read(after, 5000, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			break
		}
		after = recs[len(recs)-1].Seq
	}
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
