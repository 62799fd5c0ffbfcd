package wire

import "testing"

// BenchmarkParseRawBatch: what the control plane does with each binary batch
// before storing it (framing, sequence checks, every record checked); ns/op
// is per batch of 5,000 records (the gateway's batch size).
func BenchmarkParseRawBatch(b *testing.B) {
	recs := make([]RawRecord, 5000)
	for i := range recs {
		r := sampleTelemetry(uint64(i + 1))
		recs[i] = RawRecord{Seq: uint64(i + 1), Data: AppendRecord(nil, &r)}
	}
	data := AppendRawBatch(nil, &RawBatch{ProtocolVersion: ProtocolVersion, Gateway: "gw1", Stream: "s-1", Sequence: 5000, Records: recs})
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRawBatch(data); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
}
