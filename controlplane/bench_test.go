package controlplane

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
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
func BenchmarkIngest(b *testing.B) {
	st, err := Open(filepath.Join(b.TempDir(), DataFile), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	batches := make([]*wire.RawBatch, b.N)
	for i := range batches {
		batches[i] = RawBatchOf(benchBatch("s", i, 1000))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := st.Ingest("gw1", batches[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "records/s")
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
