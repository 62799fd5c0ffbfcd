package controlplane

import (
	"testing"
	"time"

	"github.com/apimgw/apimgw/wire"
)

func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeRecord(nil, "gw1", &wire.TelemetryRecord{Seq: 1, Time: time.Unix(5, 0), API: "a", Status: 200, TotalMicros: 10}))
	f.Add([]byte{1, 200})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = decodeRecord(b)
	})
}

func TestRecordRoundTrip(t *testing.T) {
	r := &wire.TelemetryRecord{API: "echo", Operation: "get", Product: "p", Subscription: "s", Method: "GET", PathTemplate: "/x",
		Status: 503, BackendStatus: 504, TotalMicros: 123456, BackendMicros: 100000, BytesIn: 7, BytesOut: 1 << 40, ClientIP: "::1", Cache: "hit", Error: "backend-timeout"}
	got, err := decodeRecord(encodeRecord(nil, "gw9", r))
	if err != nil {
		t.Fatal(err)
	}
	want := storedRecord{gateway: "gw9", api: "echo", operation: "get", product: "p", subscription: "s", status: 503, backendStatus: 504,
		totalUs: 123456, backendUs: 100000, bytesIn: 7, bytesOut: 1 << 40, cache: "hit", hasBackend: true, method: "GET", pathTemplate: "/x", clientIP: "::1"}
	if got != want {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	for i := range encodeRecord(nil, "gw9", r) {
		if _, err := decodeRecord(encodeRecord(nil, "gw9", r)[:i]); err == nil {
			t.Fatalf("truncated record of %d bytes decoded", i)
		}
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
