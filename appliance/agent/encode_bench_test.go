package agent

import (
	"bytes"
	stdgzip "compress/gzip"
	"io"
	"log/slog"
	"math/rand"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/apimgw/apimgw/appliance/envconf"
	"github.com/apimgw/apimgw/store"
	"github.com/apimgw/apimgw/wire"
)

// benchRecords is a full default batch (5,000 records) as the bench's
// pipeline queues them.
func benchRecords() []store.Record {
	r := rand.New(rand.NewSource(1))
	t0 := time.Now()
	recs := make([]store.Record, 5000)
	for i := range recs {
		w := wire.TelemetryRecord{Seq: uint64(i + 1), Time: t0.Add(time.Duration(i) * 45 * time.Microsecond), API: "bench", Operation: "get",
			Subscription: "bench", Method: "GET", PathTemplate: "/", Status: 200, BackendStatus: 200, TotalMicros: int64(800 + r.Intn(3000)),
			BackendMicros: int64(400 + r.Intn(2000)), BytesIn: 120, BytesOut: 250, ClientIP: "127.0.0.1"}
		recs[i] = store.Record{Seq: w.Seq, Appended: w.Time, Data: wire.AppendRecord(nil, &w)}
	}
	return recs
}

// BenchmarkEncodeBatch: the uploader's CPU work on a full batch
// (encodeBatch: check the records, build the binary batch, gzip it), and
// the same batch compressed by the standard library's gzip at the same
// level beside it; then what apimcp spends decoding each. raw-bytes and
// gzip-bytes are the batch's size before and after.
func BenchmarkEncodeBatch(b *testing.B) {
	a := &Agent{log: slog.New(slog.DiscardHandler)}
	a.cfg.Token = func() *envconf.Token { return nil }
	a.cfg.GatewayID = "gw"
	recs := benchRecords()
	b.Run("encodeBatch", func(b *testing.B) {
		b.ReportAllocs()
		var e encodedBatch
		for b.Loop() {
			var err error
			if e, err = a.encodeBatch("stream", recs); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(e.body)), "gzip-bytes")
	})
	batch := wire.RawBatch{ProtocolVersion: wire.ProtocolVersion, Gateway: "gw", Stream: "stream", Sequence: 5000}
	for _, r := range recs {
		batch.Records = append(batch.Records, wire.RawRecord{Seq: r.Seq, Data: r.Data})
	}
	raw := wire.AppendRawBatch(nil, &batch)
	var kz, sz bytes.Buffer
	b.Run("gzip=klauspost", func(b *testing.B) {
		zw, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			kz.Reset()
			zw.Reset(&kz)
			zw.Write(raw)
			zw.Close()
		}
		b.ReportMetric(float64(len(raw)), "raw-bytes")
		b.ReportMetric(float64(kz.Len()), "gzip-bytes")
	})
	b.Run("gzip=stdlib", func(b *testing.B) {
		zw, _ := stdgzip.NewWriterLevel(nil, stdgzip.BestSpeed)
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			sz.Reset()
			zw.Reset(&sz)
			zw.Write(raw)
			zw.Close()
		}
		b.ReportMetric(float64(sz.Len()), "gzip-bytes")
	})
	out := make([]byte, 0, len(raw)+512)
	b.Run("gunzip=klauspost", func(b *testing.B) {
		zr, _ := gzip.NewReader(bytes.NewReader(kz.Bytes()))
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			zr.Reset(bytes.NewReader(kz.Bytes()))
			w := bytes.NewBuffer(out[:0])
			if _, err := io.Copy(w, zr); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gunzip=stdlib", func(b *testing.B) {
		zr, _ := stdgzip.NewReader(bytes.NewReader(kz.Bytes()))
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			zr.Reset(bytes.NewReader(kz.Bytes()))
			w := bytes.NewBuffer(out[:0])
			if _, err := io.Copy(w, zr); err != nil {
				b.Fatal(err)
			}
		}
	})
}
