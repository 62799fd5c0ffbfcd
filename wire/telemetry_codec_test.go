package wire

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func sampleTelemetry(seq uint64) TelemetryRecord {
	return TelemetryRecord{Seq: seq, Time: time.Date(2026, 11, 26, 3, 0, 0, int(seq)*1000, time.UTC),
		API: "orders", Operation: "get-order", PathTemplate: "/orders/{id}", Product: "unlimited",
		Subscription: "sub1", Method: "GET", Status: 200, BackendStatus: 200, TotalMicros: 1500, BackendMicros: 900,
		BytesIn: 120, BytesOut: 300, ClientIP: "10.0.0.7", Cache: "hit", Error: ""}
}

func TestRecordCodecRoundTrip(t *testing.T) {
	long := strings.Repeat("x", MaxRecordStringBytes+50)
	cut := sampleTelemetry(3)
	cut.Error, cut.PathTemplate = long, long
	cases := []struct {
		name     string
		in, want TelemetryRecord
	}{
		{"1 full", sampleTelemetry(1), sampleTelemetry(1)},
		{"2 sparse", TelemetryRecord{Time: time.Unix(1, 0).UTC(), Method: "POST", Status: 401, Error: "missing-key"},
			TelemetryRecord{Time: time.Unix(1, 0).UTC(), Method: "POST", Status: 401, Error: "missing-key"}},
		{"3 long strings cut", cut, func() TelemetryRecord {
			w := cut
			w.Error, w.PathTemplate = long[:MaxRecordStringBytes], long[:MaxRecordStringBytes]
			return w
		}()},
		{"4 negative and huge numbers", TelemetryRecord{Time: time.Unix(3, 0).UTC(), Status: 200, TotalMicros: -1000, BytesOut: 1 << 40},
			TelemetryRecord{Time: time.Unix(3, 0).UTC(), Status: 200, TotalMicros: -1000, BytesOut: 1 << 40}},
		{"5 gRPC OK", grpcSample(0), grpcSample(0)},
		{"6 gRPC UNAUTHENTICATED", grpcSample(16), grpcSample(16)},
		{"7 gRPC code beyond gRPC's", grpcSample(404), grpcSample(404)},
		{"8 gRPC code clamped", grpcSample(5000), grpcSample(MaxGRPCStatus)},
	}
	var d RecordDecoder
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := AppendRecord(nil, &c.in)
			if len(b) > MaxRecordBytes {
				t.Fatalf("encoded %d bytes, max %d", len(b), MaxRecordBytes)
			}
			got := TelemetryRecord{Seq: c.in.Seq, Gateway: "kept"}
			if err := d.Decode(b, &got); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			want := c.want
			want.Seq, want.Gateway = c.in.Seq, "kept"
			if !sameRecord(got, want) {
				t.Fatalf("got  %+v\nwant %+v", got, want)
			}
			if (c.in.GRPCStatus == nil) != (b[0] == RecordFormatV1) {
				t.Fatalf("format byte %d for gRPC status %v", b[0], c.in.GRPCStatus)
			}
			if !RecordTime(b).Equal(c.in.Time) {
				t.Fatalf("RecordTime %v, want %v", RecordTime(b), c.in.Time)
			}
		})
	}
}

// grpcSample is a gRPC call's record with grpc-status code.
func grpcSample(code int) TelemetryRecord {
	r := sampleTelemetry(9)
	r.Method, r.GRPCStatus = "POST", &code
	return r
}

// sameRecord compares records, GRPCStatus by value.
func sameRecord(a, b TelemetryRecord) bool {
	ga, gb := a.GRPCStatus, b.GRPCStatus
	a.GRPCStatus, b.GRPCStatus = nil, nil
	return a == b && (ga == nil) == (gb == nil) && (ga == nil || *ga == *gb)
}

// TestRecordFormatV1Unchanged: a record without a gRPC status is encoded
// as before the gRPC status existed (format byte 1, nothing after the
// strings), so control planes that read only V1 take it.
func TestRecordFormatV1Unchanged(t *testing.T) {
	r := TelemetryRecord{Time: time.Unix(0, 1).UTC(), Method: "GET", Status: 200}
	want := []byte{1, 1, 0, 0, 0, 0, 0, 0, 0, 0x90, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 'G', 'E', 'T', 0, 0, 0, 0}
	if got := AppendRecord(nil, &r); !bytes.Equal(got, want) {
		t.Fatalf("V1 encoding %x, want %x", got, want)
	}
	g := grpcSample(14)
	v2 := AppendRecord(nil, &g)
	g.GRPCStatus = nil
	v1 := AppendRecord(nil, &g)
	if v2[0] != RecordFormatV2 || !bytes.Equal(v2[1:len(v2)-1], v1[1:]) || v2[len(v2)-1] != 14 {
		t.Fatalf("V2 is not V1 with a trailing code:\n%x\n%x", v2, v1)
	}
}

func TestRecordDecodeRefusesBadBytes(t *testing.T) {
	r := sampleTelemetry(1)
	good := AppendRecord(nil, &r)
	status2000 := bytes.Clone(good)
	status2000[9], status2000[10] = 0xa0, 0x1f // zig-zag varint of 2000 where 200 was
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "shorter than a record"},
		{"future format", append([]byte{3}, good[1:]...), "format byte 3"},
		{"V2 without its gRPC status", append([]byte{2}, good[1:]...), "gRPC status is truncated"},
		{"V2 gRPC status beyond 999", append(append([]byte{2}, good[1:]...), 0xe8, 0x07), "gRPC status 1000"},
		{"V2 gRPC status not minimal", append(append([]byte{2}, good[1:]...), 0x85, 0x00), "gRPC status is truncated"},
		{"cut in numbers", good[:11], "truncated"},
		{"cut in strings", good[:len(good)-3], "truncated"},
		{"trailing bytes", append(bytes.Clone(good), 0, 0), "after the last field"},
		{"status out of range", status2000, "out of range"},
	}
	var d RecordDecoder
	for _, c := range cases {
		var out TelemetryRecord
		err := d.Decode(c.data, &out)
		if err == nil || !errors.Is(err, ErrInvalidTelemetry) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
		if CheckRecord(c.data) == nil {
			t.Errorf("%s: CheckRecord accepted it", c.name)
		}
	}
	if err := CheckRecord(good); err != nil {
		t.Fatalf("CheckRecord(good) = %v", err)
	}
	noStatus := TelemetryRecord{Time: time.Unix(5, 0)}
	if err := CheckRecord(AppendRecord(nil, &noStatus)); err == nil || !strings.Contains(err.Error(), "status 0") {
		t.Fatalf("CheckRecord(status 0) = %v", err)
	}
}

func FuzzRecordCodec(f *testing.F) {
	r := sampleTelemetry(1)
	f.Add(AppendRecord(nil, &r))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff})
	g := grpcSample(16)
	f.Add(AppendRecord(nil, &g))
	f.Fuzz(func(t *testing.T, data []byte) {
		var d RecordDecoder
		var out TelemetryRecord
		if err := d.Decode(data, &out); err != nil {
			if CheckRecord(data) == nil {
				t.Fatal("CheckRecord accepts what Decode refuses")
			}
			return
		}
		// Whatever decodes encodes back to the same bytes (strings within
		// the limit are never cut, so nothing is lost).
		if again := AppendRecord(nil, &out); !bytes.Equal(again, data) {
			t.Fatalf("re-encode differs:\n%x\n%x", again, data)
		}
	})
}

func TestRawBatchRoundTrip(t *testing.T) {
	var recs []RawRecord
	for i := uint64(1); i <= 3; i++ {
		r := sampleTelemetry(i)
		recs = append(recs, RawRecord{Seq: i * 10, Data: AppendRecord(nil, &r)})
	}
	in := &RawBatch{ProtocolVersion: ProtocolVersion, Gateway: "gw1", Stream: "s-1", Sequence: 30, Records: recs}
	got, err := ParseRawBatch(AppendRawBatch(nil, in))
	if err != nil {
		t.Fatal(err)
	}
	if got.Gateway != "gw1" || got.Stream != "s-1" || got.Sequence != 30 || len(got.Records) != 3 {
		t.Fatalf("header %+v", got)
	}
	for i := range recs {
		if got.Records[i].Seq != recs[i].Seq || !bytes.Equal(got.Records[i].Data, recs[i].Data) {
			t.Fatalf("record %d differs", i)
		}
	}
}

func TestRawBatchRefused(t *testing.T) {
	r := sampleTelemetry(1)
	rec := AppendRecord(nil, &r)
	noStatus := TelemetryRecord{Time: time.Unix(5, 0)}
	mk := func(mut func(*RawBatch)) []byte {
		b := &RawBatch{ProtocolVersion: ProtocolVersion, Gateway: "gw1", Stream: "s", Sequence: 2,
			Records: []RawRecord{{Seq: 1, Data: rec}, {Seq: 2, Data: rec}}}
		mut(b)
		return AppendRawBatch(nil, b)
	}
	cases := []struct {
		name string
		data []byte
		want error
		msg  string
	}{
		{"json body", []byte(`{"records":[]}`), ErrInvalidTelemetry, "no \"ATB1\" header"},
		{"version", mk(func(b *RawBatch) { b.ProtocolVersion = 9 }), ErrProtocolVersion, "batch has 9"},
		{"no gateway", mk(func(b *RawBatch) { b.Gateway = "" }), ErrInvalidTelemetry, "gateway is empty"},
		{"long gateway", mk(func(b *RawBatch) { b.Gateway = strings.Repeat("g", 300) }), ErrInvalidTelemetry, "longer than 256"},
		{"no stream", mk(func(b *RawBatch) { b.Stream = "" }), ErrInvalidTelemetry, "stream must be"},
		{"seq 0", mk(func(b *RawBatch) { b.Records[0].Seq = 0 }), ErrInvalidTelemetry, "records[0].seq is 0"},
		{"dup seq", mk(func(b *RawBatch) { b.Records[1].Seq = 1 }), ErrInvalidTelemetry, "records[1].seq 1 appears twice"},
		{"bad record", mk(func(b *RawBatch) { b.Records[1].Data = rec[:5] }), ErrInvalidTelemetry, "records[1] (seq 2)"},
		{"status 0", mk(func(b *RawBatch) { b.Records[0].Data = AppendRecord(nil, &noStatus) }), ErrInvalidTelemetry, "status 0"},
		{"truncated", mk(func(*RawBatch) {})[:40], ErrInvalidTelemetry, "truncated"},
		{"trailing", append(mk(func(*RawBatch) {}), 7), ErrInvalidTelemetry, "after the last record"},
		{"too many", append([]byte("ATB1\x01\x03gw1\x01s\x02"), 0x91, 0x4e), ErrTelemetryTooLarge, "10001 records"},
	}
	for _, c := range cases {
		_, err := ParseRawBatch(c.data)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: err = %v, want %v %q", c.name, err, c.want, c.msg)
		}
	}
}

func FuzzParseRawBatch(f *testing.F) {
	r := sampleTelemetry(1)
	f.Add(AppendRawBatch(nil, &RawBatch{ProtocolVersion: ProtocolVersion, Gateway: "gw1", Stream: "s", Sequence: 1,
		Records: []RawRecord{{Seq: 1, Data: AppendRecord(nil, &r)}}}))
	f.Add([]byte("ATB1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseRawBatch(data)
		if err != nil {
			return
		}
		if again := AppendRawBatch(nil, b); !bytes.Equal(again, data) {
			t.Fatalf("re-encode differs")
		}
	})
}
