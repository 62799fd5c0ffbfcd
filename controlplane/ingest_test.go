package controlplane

import (
	"testing"
	"time"

	"github.com/apimgw/apimgw/wire"
)

// TestIngestExactlyOnce: a record is stored once per (gateway, stream, seq)
// whatever order its batch brings it in — keys after every stored key (the
// path that skips the duplicate lookup), records older than stored ones of
// another gateway, out of time order within a batch, the same record twice
// in one batch, and a partly resent batch — and the report counts each
// stored record once. It runs against PostgreSQL too (make test-postgres).
func TestIngestExactlyOnce(t *testing.T) {
	ts := newTestServer(t)
	base := ts.clock.Now().Add(-time.Hour)
	rec := func(seq uint64, ms int) wire.TelemetryRecord {
		return wire.TelemetryRecord{Seq: seq, Time: base.Add(time.Duration(ms) * time.Millisecond), API: "echo",
			Operation: "get", Method: "GET", PathTemplate: "/", Status: 200, TotalMicros: 10}
	}
	batch := func(gw, stream string, recs ...wire.TelemetryRecord) *wire.RawBatch {
		return RawBatchOf(&wire.TelemetryBatch{ProtocolVersion: 1, Gateway: gw, Stream: stream,
			Sequence: recs[len(recs)-1].Seq, Records: recs})
	}
	total := 0
	for _, c := range []struct {
		name          string
		gw            string
		b             *wire.RawBatch
		accepted, dup int
	}{
		{"first batch, empty store", "gwA", batch("gwA", "s", rec(1, 100), rec(2, 200), rec(3, 300)), 3, 0},
		{"after every stored key", "gwA", batch("gwA", "s", rec(4, 400), rec(5, 500)), 2, 0},
		{"resent whole", "gwA", batch("gwA", "s", rec(4, 400), rec(5, 500)), 0, 2},
		{"older than stored keys, other gateway", "gwB", batch("gwB", "s", rec(1, 150), rec(2, 250)), 2, 0},
		{"out of time order", "gwB", batch("gwB", "s", rec(3, 900), rec(4, 50), rec(5, 950)), 3, 0},
		{"partly resent, then new", "gwB", batch("gwB", "s", rec(4, 50), rec(5, 950), rec(6, 1000)), 1, 2},
		{"same record twice in one batch", "gwA", batch("gwA", "s", rec(6, 600), rec(6, 600), rec(7, 700)), 2, 1},
		{"same seq, other stream", "gwA", batch("gwA", "t", rec(1, 100), rec(2, 200)), 2, 0},
	} {
		ack, err := ts.store.Ingest(c.gw, c.b)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if ack.Accepted != c.accepted || ack.Duplicates != c.dup || ack.Expired != 0 {
			t.Errorf("%s: accepted %d, duplicates %d, expired %d; want %d, %d, 0", c.name, ack.Accepted, ack.Duplicates, ack.Expired, c.accepted, c.dup)
		}
		total += c.accepted
	}
	n := 0
	if err := ts.store.be.scanTelemetry(time.Time{}, time.Time{}, func(k, v []byte) bool { n++; return true }); err != nil {
		t.Fatal(err)
	}
	if n != total || n != 15 {
		t.Errorf("stored %d records, accepted %d; want 15", n, total)
	}
}
