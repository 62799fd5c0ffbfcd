package controlplane

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/apimgw/apimgw/internal/testenv"
	"github.com/apimgw/apimgw/wire"
)

// TestBoltReleasesMappingWhenIdle: ingesting and scanning some 20 MiB of
// telemetry leaves the file's pages mapped (RssFile grows by most of it);
// idleAfter later they are released (RssFile back down by at least half of
// what the store added) and everything still reads back, every record once.
// It fails without releaseMapped or without the timer that calls it.
func TestBoltReleasesMappingWhenIdle(t *testing.T) {
	b, err := openBolt(filepath.Join(t.TempDir(), "apimcp.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	b.idleAfter = 300 * time.Millisecond
	base := testenv.RSSFileKiB(t)
	now := time.Now()
	const batches, per = 20, 5000
	for i := range batches {
		recs := make([]wire.TelemetryRecord, per)
		for j := range recs {
			seq := uint64(i*per + j + 1)
			recs[j] = wire.TelemetryRecord{Seq: seq, Time: now.Add(time.Duration(seq) * time.Microsecond), API: "echo",
				Operation: "get", Method: "GET", PathTemplate: fmt.Sprintf("/items/%0160d", seq), Status: 200, TotalMicros: 10}
		}
		var ack wire.TelemetryAck
		if err := b.ingest("gw", RawBatchOf(&wire.TelemetryBatch{ProtocolVersion: 1, Gateway: "gw", Stream: "s", Sequence: recs[per-1].Seq, Records: recs}), now.Add(-time.Hour), &ack); err != nil {
			t.Fatal(err)
		}
	}
	count := func() int {
		n := 0
		if err := b.scanTelemetry(time.Time{}, time.Time{}, func(k, v []byte) bool { n++; return true }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != batches*per {
		t.Fatalf("stored %d records; want %d", n, batches*per)
	}
	mapped := testenv.RSSFileKiB(t)
	if mapped-base < 10<<10 {
		t.Fatalf("RssFile %d → %d KiB after ingesting and scanning ~20 MiB: the store's pages are not counted, nothing to check", base, mapped)
	}
	deadline := time.Now().Add(10 * time.Second)
	var idle int64
	for {
		idle = testenv.RSSFileKiB(t)
		if (mapped-idle)*2 > mapped-base {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("RssFile %d KiB before the store, %d after ingest and scan, still %d after 10 s idle: mapping not released", base, mapped, idle)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("RssFile %d KiB before, %d after ingest and scan, %d after idle", base, mapped, idle)
	if n := count(); n != batches*per {
		t.Fatalf("after the release, %d records read back; want %d", n, batches*per)
	}
}
