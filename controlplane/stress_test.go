package controlplane

import (
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apimgw/apimgw/wire"
)

// TestStress runs writers, long-polling gateways, heartbeats and telemetry
// uploads (with resends) at once for a while, under -race; then every
// gateway must hold the final version and the reports must count every
// record exactly once.
func TestStress(t *testing.T) {
	ts := newTestServer(t)
	ts.seed()
	const gateways = 6
	toks := make([]string, gateways)
	for i := range toks {
		gw := fmt.Sprintf("g%d", i)
		ts.must(201, "PUT", "/gateways/"+gw, nil)
		ts.must(201, "PUT", "/gateways/"+gw+"/apis/echo", nil)
		toks[i] = ts.token(gw, time.Hour)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	// Writers.
	var writes atomic.Int64
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				op := fmt.Sprintf("w%d-%d", w, i%5)
				if i%2 == 0 {
					ts.do("PUT", "/apis/echo/operations/"+op, props(map[string]any{"method": "GET", "urlTemplate": "/" + op}))
				} else {
					ts.do("DELETE", "/apis/echo/operations/"+op, nil)
				}
				writes.Add(1)
			}
		}()
	}
	// Long-pollers.
	last := make([]atomic.Uint64, gateways)
	for g := 0; g < gateways; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			etag := ""
			for {
				select {
				case <-stop:
					return
				default:
				}
				r := ts.gwGet(toks[g], wire.PathConfig+"?wait=1", "If-None-Match", etag)
				if r.status == 200 {
					s, err := wire.Decode(r.body)
					if err != nil {
						t.Errorf("bad snapshot: %v", err)
						return
					}
					if prev := last[g].Load(); s.Version < prev {
						t.Errorf("version went back from %d to %d", prev, s.Version)
					}
					last[g].Store(s.Version)
					etag = r.header.Get("ETag")
				}
			}
		}()
	}
	// Telemetry: each gateway sends batches of 50, every batch twice.
	var sent atomic.Int64
	base := ts.clock.Now().Add(-time.Minute)
	for g := 0; g < gateways; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			gw := fmt.Sprintf("g%d", g)
			for b := 0; ; b++ {
				select {
				case <-stop:
					return
				default:
				}
				batch := wire.TelemetryBatch{ProtocolVersion: 1, Gateway: gw, Stream: "s", Sequence: uint64(b)}
				for i := 0; i < 50; i++ {
					seq := uint64(b*50 + i + 1)
					batch.Records = append(batch.Records, wire.TelemetryRecord{Seq: seq, Time: base.Add(time.Duration(seq) * time.Microsecond), API: "echo", Method: "GET", Status: 200})
				}
				for try := 0; try < 2; try++ {
					r := ts.doAuth("POST", wire.PathTelemetry, batch, "GatewayKey "+toks[g])
					if r.status != 200 {
						t.Errorf("telemetry: %d %s", r.status, r.body)
						return
					}
				}
				sent.Add(50)
				hb := wire.Heartbeat{ProtocolVersion: 1, Gateway: gw, SnapshotVersion: last[g].Load()}
				ts.doAuth("POST", wire.PathHeartbeat, hb, "GatewayKey "+toks[g])
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	wg.Wait()
	// One more change; every gateway must see exactly the final version.
	ts.must(200, "PUT", "/apis/echo", props(map[string]any{"path": "echo", "displayName": "final"}))
	for g := 0; g < gateways; g++ {
		_, want, _, _ := ts.store.Snapshot(fmt.Sprintf("g%d", g))
		r := ts.gwGet(toks[g], wire.PathConfig)
		if got, _ := strconv.ParseUint(r.header.Get(wire.HeaderSnapshotVersion), 10, 64); got != want {
			t.Errorf("g%d: version %d, want %d", g, got, want)
		}
	}
	var c struct{ Value []ReportRecord }
	json.Unmarshal(ts.must(200, "GET", "/reports/byApi", nil).body, &c)
	if len(c.Value) != 1 || c.Value[0].CallCountTotal != sent.Load() {
		t.Fatalf("reports count %+v, sent %d", c.Value, sent.Load())
	}
	t.Logf("%d writes, %d records (each sent twice)", writes.Load(), sent.Load())
}
