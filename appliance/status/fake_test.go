package status

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// fakeSource is a Source with settable facts, standing in for the appliance.
type fakeSource struct {
	mu        sync.Mutex
	facts     Facts
	rollbacks []string
	rbErr     error
}

func (f *fakeSource) Facts(context.Context) Facts {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.facts
	c.APIs = append([]API(nil), f.facts.APIs...)
	c.Snapshot.History = append([]SnapshotEntry(nil), f.facts.Snapshot.History...)
	return c
}

func (f *fakeSource) Rollback(_ context.Context, v string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rbErr != nil {
		return f.rbErr
	}
	found := false
	for i := range f.facts.Snapshot.History {
		e := &f.facts.Snapshot.History[i]
		e.Current = e.Version == v
		found = found || e.Current
	}
	if !found {
		return fmt.Errorf("fake: %w: %s", ErrUnknownSnapshot, v)
	}
	f.rollbacks = append(f.rollbacks, v)
	f.facts.Snapshot.Current = v
	return nil
}

func (f *fakeSource) set(fn func(*Facts)) {
	f.mu.Lock()
	fn(&f.facts)
	f.mu.Unlock()
}

// t0 is the fixed "now" of the tests.
var t0 = time.Date(2026, 11, 26, 9, 30, 0, 0, time.UTC)

// hybridFacts is a gateway in hybrid mode that lost its control plane 42
// minutes ago, with a token expiring in 3 days, two APIs and a backlog.
func hybridFacts() Facts {
	return Facts{
		Version:     "0.1.0+abc1234",
		GatewayName: "edge-berlin-1",
		Mode:        ModeHybrid,
		StartedAt:   t0.Add(-(26*time.Hour + 13*time.Minute)),
		Ready:       true,
		Activity:    "serving snapshot 42; control plane offline, retrying",
		ControlPlane: ControlPlane{
			Endpoint:      "https://apimcp.example.internal:8443",
			Connected:     false,
			Since:         t0.Add(-42 * time.Minute),
			LastSync:      t0.Add(-43 * time.Minute),
			LastHeartbeat: t0.Add(-43 * time.Minute),
			LastError:     "dial tcp 10.0.0.5:8443: connect: connection refused",
			LastErrorAt:   t0.Add(-20 * time.Second),
		},
		Snapshot: Snapshots{
			Current:   "42",
			AppliedAt: t0.Add(-3 * time.Hour),
			History: []SnapshotEntry{
				{Version: "42", ReceivedAt: t0.Add(-3 * time.Hour), Origin: "control-plane", APIs: 2, Current: true},
				{Version: "41", ReceivedAt: t0.Add(-27 * time.Hour), Origin: "control-plane", APIs: 2},
				{Version: "40", ReceivedAt: t0.Add(-50 * time.Hour), Origin: "control-plane", APIs: 1},
			},
		},
		Token: &Token{GatewayID: "edge-berlin-1", Expiry: t0.Add(3*24*time.Hour + 4*time.Hour)},
		APIs: []API{
			{ID: "petstore", Name: "Petstore", Path: "pets", Operations: 5},
			{ID: "orders", Name: "Orders <v2>", Path: "orders/v2", Operations: 12},
		},
		Telemetry: Backlog{Records: 18234, Bytes: 7 << 20, MaxBytes: 256 << 20, Oldest: t0.Add(-41 * time.Minute), Dropped: 0, LastUpload: t0.Add(-43 * time.Minute)},
		Listeners: []Listener{
			{Name: "http", Addr: "[::]:8080", Protocol: "HTTP/1.1"},
			{Name: "https", Addr: "[::]:8081", Protocol: "HTTP/1.1 over TLS"},
			{Name: "status", Addr: "127.0.0.1:8090", Protocol: "HTTP"},
		},
	}
}

// busyRecorder has traffic for both APIs and some 404s, at t0.
func busyRecorder() *Recorder {
	r := NewRecorder(2, func() time.Time { return t0 })
	for i := 0; i < 300; i++ {
		r.Shard(i).Observe("petstore", "getPet", 200, time.Duration(2+i%7)*time.Millisecond)
	}
	for i := 0; i < 20; i++ {
		r.Shard(i).Observe("petstore", "addPet", 201, 9*time.Millisecond)
	}
	for i := 0; i < 95; i++ {
		r.Shard(i).Observe("orders", "listOrders", 200, time.Duration(20+i)*time.Millisecond)
	}
	for i := 0; i < 5; i++ {
		r.Shard(i).Observe("orders", "listOrders", 502, 3*time.Second)
	}
	r.Shard(0).Observe("orders", "createOrder", 429, 300*time.Microsecond)
	r.Shard(1).Observe("", "", 404, 100*time.Microsecond)
	return r
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))
