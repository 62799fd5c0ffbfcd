package controlplane

import (
	"encoding/binary"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/apimgw/apimgw/wire"
)

// legacyRecord is a value in the format builds before the wire codec stored.
func legacyRecord(gw string, r *wire.TelemetryRecord) []byte {
	b := []byte{1}
	for _, s := range []string{gw, r.API, r.Operation, r.Product, r.Subscription, r.Method, r.PathTemplate, r.ClientIP, r.Cache, r.Error} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	for _, v := range []int64{int64(r.Status), int64(r.BackendStatus), r.TotalMicros, r.BackendMicros, r.BytesIn, r.BytesOut} {
		b = binary.AppendVarint(b, v)
	}
	return b
}

// TestTelemetryMigration: a database written by an older build (legacy
// values, no format marker) is converted at open, and its reports are the
// same as those of the same records ingested by this build.
func TestTelemetryMigration(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	recs := []wire.TelemetryRecord{
		{Seq: 1, Time: now.Add(-3 * time.Minute), API: "echo", Operation: "get", Product: "p", Subscription: "s", Method: "GET",
			PathTemplate: "/x", Status: 200, BackendStatus: 200, TotalMicros: 1500, BackendMicros: 1000, BytesIn: 7, BytesOut: 100, ClientIP: "::1", Cache: "hit"},
		{Seq: 2, Time: now.Add(-2 * time.Minute), API: "echo", Operation: "get", Method: "GET", Status: 401, TotalMicros: 50, Error: "subscription-key-missing"},
		{Seq: 3, Time: now.Add(-time.Minute), API: "other", Operation: "post", Method: "POST", Status: 503, BackendStatus: 504, TotalMicros: 123456, BackendMicros: 100000, BytesOut: 1 << 40},
	}
	old := filepath.Join(t.TempDir(), DataFile)
	db, err := bolt.Open(old, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists([]byte(bucketTelemetry))
		if err != nil {
			return err
		}
		for i := range recs {
			if err := bk.Put(appendTelemetryKey(nil, recs[i].Time, "gw9", "st", recs[i].Seq), legacyRecord("gw9", &recs[i])); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	migrated, err := Open(old, Options{})
	if err != nil {
		t.Fatalf("open a database with legacy telemetry: %v", err)
	}
	defer migrated.Close()
	fresh, err := Open(filepath.Join(t.TempDir(), DataFile), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	ack, err := fresh.Ingest("gw9", RawBatchOf(&wire.TelemetryBatch{ProtocolVersion: 1, Gateway: "gw9", Stream: "st", Sequence: 3, Records: recs}))
	if err != nil || ack.Accepted != 3 {
		t.Fatalf("ingest: %+v %v", ack, err)
	}
	for _, by := range []string{"api", "operation", "subscription", "gateway"} {
		got, err := migrated.Report(ReportQuery{By: by})
		if err != nil {
			t.Fatal(err)
		}
		want, _ := fresh.Report(ReportQuery{By: by})
		if !reflect.DeepEqual(got, want) || len(got) == 0 {
			t.Errorf("by %s after migration:\n got %+v\nwant %+v", by, got, want)
		}
	}
	// Resending the legacy records is recognised: they are duplicates.
	ack, err = migrated.Ingest("gw9", RawBatchOf(&wire.TelemetryBatch{ProtocolVersion: 1, Gateway: "gw9", Stream: "st", Sequence: 3, Records: recs}))
	if err != nil || ack.Duplicates != 3 {
		t.Fatalf("resend after migration: %+v %v", ack, err)
	}
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"timestamp ge 2026-01-01T00:00:00Z and timestamp le 2026-01-02T00:00:00Z", "timestamp gt '2026-01-01T00:00:00Z'", "x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _, _ = parseFilter(s)
		_, _ = parseISODuration(s)
	})
}

func TestISODuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"PT5M": 5 * time.Minute, "PT1H": time.Hour, "P1D": 24 * time.Hour, "P1DT2H30M": 26*time.Hour + 30*time.Minute, "PT90S": 90 * time.Second} {
		got, err := parseISODuration(in)
		if err != nil || got != want {
			t.Errorf("%s: %v %v", in, got, err)
		}
		if back, _ := parseISODuration(formatISODuration(want)); back != want {
			t.Errorf("format %v: %s", want, formatISODuration(want))
		}
	}
	for _, bad := range []string{"", "5m", "PT", "PT5", "P5M", "PT30S", "T5M", "PTXM"} {
		if _, err := parseISODuration(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
