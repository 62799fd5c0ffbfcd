package appliance_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/apimgw/apimgw/appliance"
	"github.com/apimgw/apimgw/appliance/status"
	"github.com/apimgw/apimgw/appliance/telemetry"
	"github.com/apimgw/apimgw/store"
)

// TestHandlerPipelineAllocsTelemetry: TestHandlerPipelineAllocs with telemetry
// on as appliance/gateway wires it (gateway.go, run): a real store under
// t.TempDir(), the telemetry pipeline with its defaults and the status page's
// recorder, both fed by the handler's OnDone. No allocation in 5,000 requests
// on the request path (the event loops: route, policies, proxy, OnDone's
// record encoding). The pipeline's committer and the store's group commit run
// off the loops, in batches of records: they are left out of the count (the
// store and agent benchmarks measure them).
func TestHandlerPipelineAllocsTelemetry(t *testing.T) {
	if appliance.RaceEnabled {
		t.Skip("the race detector allocates; make test runs this test without -race (test-norace)")
	}
	st, err := store.Open(filepath.Join(t.TempDir(), "apimgw.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var pipe *telemetry.Pipeline
	roundTrip := appliance.PipelineClient(t, func(loops int) func(*appliance.Record) {
		rec := status.NewRecorder(loops, nil)
		pipe = telemetry.New(st, telemetry.Options{Loops: loops})
		t.Cleanup(func() { pipe.Close(context.Background()) }) // before st.Close
		return func(r *appliance.Record) {
			rec.Shard(r.Loop).Observe(r.API, r.Operation, r.Status, r.Total)
			pipe.OnDone(r)
		}
	})
	for i := 0; i < 100; i++ {
		roundTrip()
	}
	const n = 5000
	before := pipe.Stats()
	got, where := appliance.Mallocs(n, roundTrip,
		"github.com/apimgw/apimgw/appliance/telemetry.(*Pipeline).committer",
		"github.com/apimgw/apimgw/store.(*Store).committer")
	if got != 0 {
		t.Fatalf("%d allocations in %d requests with telemetry on, want 0:\n%s", got, n, where)
	}
	// Every request became a record that reached the store: telemetry was
	// really on, not dropped.
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := pipe.Stats()
		if s.Recorded-before.Recorded >= n && s.Committed-before.Committed >= n {
			t.Logf("telemetry: %d records recorded, %d committed to the store, %d dropped", s.Recorded-before.Recorded,
				s.Committed-before.Committed, s.DroppedBuffer)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("telemetry after %d requests: %+v (before: %+v)", n, s, before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
