package controlplane

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/apimgw/apimgw/wire"
)

func benchBatch(stream string, b, n int) *wire.TelemetryBatch {
	base := time.Now().Add(-time.Hour)
	recs := make([]wire.TelemetryRecord, n)
	for i := range recs {
		seq := uint64(b*n + i + 1)
		recs[i] = wire.TelemetryRecord{Seq: seq, Time: base.Add(time.Duration(seq) * time.Millisecond), API: "echo", Operation: "get",
			Product: "p1", Subscription: "s1", Method: "GET", PathTemplate: "/items", Status: 200, BackendStatus: 200,
			TotalMicros: 1200, BackendMicros: 900, BytesIn: 120, BytesOut: 512, ClientIP: "10.1.2.3"}
	}
	return &wire.TelemetryBatch{ProtocolVersion: 1, Gateway: "gw1", Stream: stream, Sequence: uint64((b + 1) * n), Records: recs}
}

// BenchmarkIngest stores 1,000-record batches in-process; ns/op is per batch.
// Besides wall-clock rates the sub-benchmarks report the process's CPU time
// per record (user+system, getrusage), steadier than wall-clock on a shared
// machine (the figure docs/benchmarks.md compares):
//
//   - fresh: one gateway's batches in order (each lands after every key
//     stored: the common case, a gateway uploading what it just served);
//   - gateways: ten gateways whose batches cover the same seconds, in turn
//     (each batch's keys fall between the keys already stored);
//   - resent: every batch sent twice (the second is all duplicates).
func BenchmarkIngest(b *testing.B) {
	for _, mode := range []string{"fresh", "gateways", "resent"} {
		b.Run(mode, func(b *testing.B) { benchIngest(b, mode) })
	}
}

func benchIngest(b *testing.B, mode string) {
	path := filepath.Join(b.TempDir(), DataFile)
	st, err := Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	type upload struct {
		gw    string
		batch *wire.RawBatch
	}
	uploads := make([]upload, 0, b.N)
	for i := 0; len(uploads) < b.N; i++ {
		switch mode {
		case "fresh":
			uploads = append(uploads, upload{"gw1", RawBatchOf(benchBatch("s", i, 1000))})
		case "gateways": // batch i/10 of gateway i%10: the same times for all ten
			gw := fmt.Sprintf("gw%d", i%10)
			bt := benchBatch("s", i/10, 1000)
			bt.Gateway = gw
			uploads = append(uploads, upload{gw, RawBatchOf(bt)})
		case "resent":
			rb := RawBatchOf(benchBatch("s", i, 1000))
			uploads = append(uploads, upload{"gw1", rb}, upload{"gw1", rb})
		}
	}
	uploads = uploads[:b.N]
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for _, u := range uploads {
		if _, err := st.Ingest(u.gw, u.batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N*1000), "cpu-ns/record")
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "records/s")
	if fi, err := os.Stat(path); err == nil { // the file grows by what the commits wrote
		b.ReportMetric(float64(fi.Size())/float64(b.N*1000), "file-B/record")
	}
}

// processCPU is the process's user+system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIngestHTTP posts gzip JSON batches to a real server on 127.0.0.1:0.
func BenchmarkIngestHTTP(b *testing.B) {
	st, err := Open(filepath.Join(b.TempDir(), DataFile), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	h := NewHandler(st, HandlerOptions{AdminToken: testAdminToken, Logger: discardLogger()})
	if _, _, err := gatewayKind.put(st, "gw1", nil, false, ""); err != nil {
		b.Fatal(err)
	}
	tok, err := st.GenerateToken("gw1", "primary", time.Now().Add(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	bodies := make([][]byte, b.N)
	for i := range bodies {
		j, _ := json.Marshal(benchBatch("s", i, 1000))
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		zw.Write(j)
		zw.Close()
		bodies[i] = zb.Bytes()
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req, _ := http.NewRequest("POST", wire.PathTelemetry, bytes.NewReader(bodies[i]))
		req.Header.Set("Authorization", "GatewayKey "+tok)
		req.Header.Set("Content-Encoding", "gzip")
		w := &nullWriter{h: http.Header{}}
		h.ServeHTTP(w, req)
		if w.code != 200 {
			b.Fatalf("status %d", w.code)
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "records/s")
}

type nullWriter struct {
	h    http.Header
	code int
}

func (w *nullWriter) Header() http.Header { return w.h }
func (w *nullWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = 200
	}
	return len(b), nil
}
func (w *nullWriter) WriteHeader(c int) { w.code = c }

// BenchmarkPolicyWrite measures one policy write (validate, rebuild and
// re-check every gateway's snapshot, commit) with 1,000 gateways that each
// serve their own API (the worst case: no two share content) and one global
// policy change that affects all of them.
func BenchmarkPolicyWrite(b *testing.B) {
	st, err := Open(filepath.Join(b.TempDir(), DataFile), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	const n = 1000
	err = st.update(func(t *txn) error {
		for i := 0; i < n; i++ {
			id := fmt.Sprintf("a%d", i)
			set(t, t.m.apis, bucketAPIs, id, entry[API]{ETag: newETag(), Props: &API{DisplayName: id, Path: id, Protocols: []string{"http"}}})
			set(t, t.m.ops, bucketOps, join(id, "get"), entry[Operation]{ETag: newETag(), Props: &Operation{DisplayName: "get", Method: "GET", URLTemplate: "/x", TemplateParameters: []TemplateParameter{}}})
			set(t, t.m.gateways, bucketGateways, "g"+id, entry[Gateway]{ETag: newETag(), Props: &Gateway{PrimaryKey: "k", SecondaryKey: "k2"}})
			set(t, t.m.gatewayAPIs, bucketGatewayAPIs, join("g"+id, id), entry[Link]{ETag: newETag(), Props: &Link{}})
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("one-api", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			body := fmt.Sprintf(`{"properties":{"value":"<policies><inbound><base/><!-- %d --></inbound></policies>"}}`, i)
			if _, _, err := policyKind.put(st, policyKeyAPI("a7"), []byte(body), false, ""); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("global", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			body := fmt.Sprintf(`{"properties":{"value":"<policies><inbound><!-- %d --></inbound></policies>"}}`, i)
			if _, _, err := policyKind.put(st, policyGlobal, []byte(body), false, ""); err != nil {
				b.Fatal(err)
			}
		}
	})
}
