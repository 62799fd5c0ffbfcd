//go:build postgres

package controlplane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/apimgw/apimgw/controlplane/pgtest"
	"github.com/apimgw/apimgw/wire"
)

// replica starts another testServer (its own Store, HTTP server and port) on
// the PostgreSQL database of ts, with the same clock: a second apimcp.
func (ts *testServer) replica() *testServer {
	ts.t.Helper()
	if ts.pgURL == "" {
		ts.t.Fatal("replica: the first server is not on PostgreSQL")
	}
	r := &testServer{t: ts.t, dir: ts.t.TempDir(), clock: ts.clock, logs: &syncBuffer{}, client: ts.client, pgURL: ts.pgURL}
	r.start()
	ts.t.Cleanup(func() {
		if ts.t.Failed() {
			ts.t.Logf("replica log:\n%s", r.logs.String())
		}
		r.stop()
	})
	return r
}

func TestPGSuiteRunsOnPostgres(t *testing.T) {
	ts := newTestServer(t)
	if _, ok := ts.store.be.(*pgBackend); !ok || ts.pgURL == "" {
		t.Fatalf("under -tags postgres the test servers must use PostgreSQL, got %T", ts.store.be)
	}
}

// TestPGReplicasRaceIfMatch: two replicas write the same resource with the
// same If-Match at the same moment, round after round: exactly one wins
// (200), the other gets 412, and both then show the winner's value.
func TestPGReplicasRaceIfMatch(t *testing.T) {
	a := newTestServer(t)
	a.seed()
	b := a.replica()
	for round := 0; round < 20; round++ {
		etag := a.must(200, "GET", "/apis/echo", nil).header.Get("ETag")
		var wg sync.WaitGroup
		res := make([]resp, 2)
		for i, srv := range []*testServer{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res[i] = srv.do("PUT", "/apis/echo", props(map[string]any{"path": "echo", "displayName": fmt.Sprintf("r%d-w%d", round, i)}), "If-Match", etag)
			}()
		}
		wg.Wait()
		codes := []int{res[0].status, res[1].status}
		sort.Ints(codes)
		if codes[0] != 200 || codes[1] != 412 {
			t.Fatalf("round %d: statuses %v, want one 200 and one 412: %s / %s", round, codes, res[0].body, res[1].body)
		}
		winner := 0
		if res[1].status == 200 {
			winner = 1
		}
		want := fmt.Sprintf("r%d-w%d", round, winner)
		for _, srv := range []*testServer{a, b} {
			// Read-your-writes across replicas: a management read catches up.
			got := srv.do("GET", "/apis/echo", nil)
			if !strings.Contains(string(got.body), want) {
				t.Fatalf("round %d: replica shows %s, want %s", round, got.body, want)
			}
		}
	}
}

// TestPGReplicasNoLostUpdate: writers on both replicas each add their own
// operation, concurrently; every one of them is there at the end.
func TestPGReplicasNoLostUpdate(t *testing.T) {
	a := newTestServer(t)
	a.seed()
	b := a.replica()
	var wg sync.WaitGroup
	for w, srv := range []*testServer{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				srv.must(201, "PUT", fmt.Sprintf("/apis/echo/operations/w%d-%d", w, i), props(map[string]any{"method": "GET", "urlTemplate": fmt.Sprintf("/w%d/%d", w, i)}))
			}
		}()
	}
	wg.Wait()
	for _, srv := range []*testServer{a, b} {
		var list struct {
			Value []any `json:"value"`
		}
		json.Unmarshal(srv.must(200, "GET", "/apis/echo/operations", nil).body, &list)
		if len(list.Value) != 41 {
			t.Fatalf("%d operations, want 41 (1 seeded + 40 written)", len(list.Value))
		}
	}
}

// longPollLag has a gateway long-poll at srv with the ETag it holds, runs
// change, and returns how long the answer took after the change, and it.
func longPollLag(t *testing.T, srv *testServer, tok, etag string, change func()) (time.Duration, resp) {
	t.Helper()
	got := make(chan resp, 1)
	go func() { got <- srv.gwGet(tok, wire.PathConfig+"?wait=20s", "If-None-Match", etag) }()
	time.Sleep(50 * time.Millisecond) // the long-poll is waiting
	at := time.Now()
	change()
	r := <-got
	return time.Since(at), r
}

// TestPGCrossReplicaLongPoll: a change through one replica reaches a gateway
// long-polling the other within 2 s at p99 (LISTEN/NOTIFY), with the same
// version and bytes either replica serves; also when the listening
// connection was just killed (reconnect, poll fallback).
func TestPGCrossReplicaLongPoll(t *testing.T) {
	a := newTestServer(t)
	a.seed()
	b := a.replica()
	tok := a.token("gw1", time.Hour)
	var lags []time.Duration
	var lastVersion uint64
	for i := 0; i < 30; i++ {
		writer, poller := a, b
		if i%2 == 1 {
			writer, poller = b, a
		}
		etag := poller.gwGet(tok, wire.PathConfig).header.Get("ETag")
		if i%10 == 9 {
			// Kill every LISTEN connection: the change must still arrive
			// (the listener reconnects and re-reads; the poll covers the gap).
			terminateListeners(t, a.pgURL)
		}
		lag, r := longPollLag(t, poller, tok, etag, func() {
			writer.must(200, "PUT", "/apis/echo", props(map[string]any{"path": "echo", "displayName": fmt.Sprint("v", i)}))
		})
		if r.status != 200 || r.header.Get("ETag") == etag {
			t.Fatalf("change %d: long-poll at the other replica answered %d (%s)", i, r.status, r.header.Get("ETag"))
		}
		s := decodeSnap(t, r.body)
		if s.APIs[0].DisplayName != fmt.Sprint("v", i) || s.Version <= lastVersion {
			t.Fatalf("change %d: got %q version %d after %d", i, s.APIs[0].DisplayName, s.Version, lastVersion)
		}
		lastVersion = s.Version
		// Both replicas serve this version byte for byte.
		wr := writer.gwGet(tok, wire.PathConfig)
		if wr.header.Get("ETag") != r.header.Get("ETag") || string(wr.body) != string(r.body) {
			t.Fatalf("change %d: replicas serve different snapshots: %s vs %s", i, wr.header.Get("ETag"), r.header.Get("ETag"))
		}
		lags = append(lags, lag)
	}
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	p50, p99 := lags[len(lags)/2], lags[len(lags)*99/100]
	t.Logf("cross-replica change → long-poll answer: p50 %v p99 %v max %v (%d changes)", p50, p99, lags[len(lags)-1], len(lags))
	if p99 > 2*time.Second {
		t.Fatalf("p99 %v over 2 s", p99)
	}
}

// TestPGPollFallback: a replica whose LISTEN connection is gone for good
// still learns of changes made through another one, by polling the revision
// (PollInterval).
func TestPGPollFallback(t *testing.T) {
	a := newTestServer(t)
	a.seed()
	b := a.replica()
	be := b.store.be.(*pgBackend)
	be.cancel() // the listener ends and is not restarted
	<-be.done
	tok := a.token("gw1", time.Hour)
	for i := 0; i < 3; i++ {
		etag := b.gwGet(tok, wire.PathConfig).header.Get("ETag")
		lag, r := longPollLag(t, b, tok, etag, func() {
			a.must(200, "PUT", "/apis/echo", props(map[string]any{"path": "echo", "displayName": fmt.Sprint("poll", i)}))
		})
		if r.status != 200 || decodeSnap(t, r.body).APIs[0].DisplayName != fmt.Sprint("poll", i) {
			t.Fatalf("change %d without LISTEN: %d", i, r.status)
		}
		// PollInterval is 1 s: the change is seen at the next tick.
		if lag > 2*time.Second {
			t.Fatalf("change %d without LISTEN took %v", i, lag)
		}
	}
}

func terminateListeners(t *testing.T, url string) {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var n int
	if err := c.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN %'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no LISTEN connection found to terminate")
	}
}

// TestPGSnapshotVersionsMonotonic: writes alternate between three replicas;
// the gateway's version grows by one per change and no replica ever serves
// a version lower than one it served before.
func TestPGSnapshotVersionsMonotonic(t *testing.T) {
	a := newTestServer(t)
	a.seed()
	reps := []*testServer{a, a.replica(), a.replica()}
	_, v0, _, _ := a.store.Snapshot("gw1")
	seen := make([]uint64, len(reps))
	for i := 0; i < 15; i++ {
		reps[i%3].must(200, "PUT", "/apis/echo", props(map[string]any{"path": "echo", "displayName": fmt.Sprint("m", i)}))
		want := v0 + uint64(i) + 1
		for j, r := range reps {
			deadline := time.Now().Add(2 * time.Second)
			for {
				_, v, _, err := r.store.Snapshot("gw1")
				if err != nil {
					t.Fatal(err)
				}
				if v < seen[j] {
					t.Fatalf("replica %d went back from version %d to %d", j, seen[j], v)
				}
				seen[j] = v
				if v == want {
					break
				}
				if v > want || time.Now().After(deadline) {
					t.Fatalf("change %d: replica %d serves version %d, want %d", i, j, v, want)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
}

// TestPGTelemetryRetryAtOtherReplica: a gateway whose upload to one replica
// timed out retries it at another: the records are counted once; two
// replicas receiving the same batch at the same moment store it once too.
func TestPGTelemetryRetryAtOtherReplica(t *testing.T) {
	a := newTestServer(t)
	a.seed()
	b := a.replica()
	tok := a.token("gw1", 240*time.Hour)
	base := a.clock.Now().Add(-time.Hour)
	batch := func(from, n int) wire.TelemetryBatch {
		var rs []wire.TelemetryRecord
		for i := from; i < from+n; i++ {
			rs = append(rs, wire.TelemetryRecord{Seq: uint64(i + 1), Time: base.Add(time.Duration(i) * time.Second), API: "echo", Operation: "get",
				Method: "GET", PathTemplate: "/items/{id}", Status: 200, TotalMicros: 1000})
		}
		return wire.TelemetryBatch{ProtocolVersion: 1, Gateway: "gw1", Stream: "st1", Sequence: uint64(from + n), Records: rs}
	}
	send := func(srv *testServer, b wire.TelemetryBatch) wire.TelemetryAck {
		r := srv.doAuth("POST", wire.PathTelemetry, b, "GatewayKey "+tok)
		if r.status != 200 {
			t.Errorf("telemetry at replica: %d %s", r.status, r.body)
		}
		var ack wire.TelemetryAck
		json.Unmarshal(r.body, &ack)
		return ack
	}
	if ack := send(a, batch(0, 50)); ack.Accepted != 50 {
		t.Fatalf("first upload: %+v", ack)
	}
	if ack := send(b, batch(0, 50)); ack.Accepted != 0 || ack.Duplicates != 50 {
		t.Fatalf("retry at the other replica: %+v, want 50 duplicates", ack)
	}
	// The same batch at both replicas at once, ten times.
	for i := 0; i < 10; i++ {
		bt := batch(50+i*20, 20)
		acks := make([]wire.TelemetryAck, 2)
		var wg sync.WaitGroup
		for j, srv := range []*testServer{a, b} {
			wg.Add(1)
			go func() { defer wg.Done(); acks[j] = send(srv, bt) }()
		}
		wg.Wait()
		if acks[0].Accepted+acks[1].Accepted != 20 || acks[0].Duplicates+acks[1].Duplicates != 20 {
			t.Fatalf("concurrent upload %d: acks %+v %+v, want 20 accepted in all", i, acks[0], acks[1])
		}
	}
	for _, srv := range []*testServer{a, b} {
		var rep struct {
			Value []ReportRecord `json:"value"`
		}
		json.Unmarshal(srv.must(200, "GET", "/reports/byGateway", nil).body, &rep)
		if len(rep.Value) != 1 || rep.Value[0].CallCountTotal != 250 {
			t.Fatalf("byGateway at a replica: %+v, want 250 calls once", rep.Value)
		}
	}
}

// TestPGHeartbeatAtOtherReplica: a heartbeat received by one replica shows in
// the gateway's status at the other (within sharedStatusTTL), and at once at
// the one that received it.
func TestPGHeartbeatAtOtherReplica(t *testing.T) {
	a := newTestServer(t)
	a.seed()
	b := a.replica()
	tok := a.token("gw1", 240*time.Hour)
	_, ver, _, _ := a.store.Snapshot("gw1")
	hb := wire.Heartbeat{ProtocolVersion: 1, Gateway: "gw1", Time: a.clock.Now(), IntervalSeconds: 10, GatewayVersion: "9.9.9", SnapshotVersion: ver}
	if r := b.doAuth("POST", wire.PathHeartbeat, hb, "GatewayKey "+tok); r.status != 200 {
		t.Fatalf("heartbeat: %d %s", r.status, r.body)
	}
	var g struct {
		Properties struct {
			Status GatewayStatus `json:"status"`
		} `json:"properties"`
	}
	// Statuses from other replicas are read at most sharedStatusTTL (1 s) old.
	deadline := time.Now().Add(sharedStatusTTL + time.Second)
	for {
		json.Unmarshal(a.must(200, "GET", "/gateways/gw1", nil).body, &g)
		st := g.Properties.Status
		if st.State == "connected" && st.GatewayVersion == "9.9.9" && st.LatestSnapshotVersion == ver {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status at the other replica after %v: %+v", sharedStatusTTL+time.Second, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The replica that received it shows it at once.
	json.Unmarshal(b.must(200, "GET", "/gateways/gw1", nil).body, &g)
	if st := g.Properties.Status; st.GatewayVersion != "9.9.9" {
		t.Fatalf("status at the receiving replica: %+v", st)
	}
}

// TestPGTokenFromOtherReplica: a gateway created, and its token generated,
// through one replica is served by the other at once, before any
// notification could have arrived: an unknown gateway makes it catch up.
func TestPGTokenFromOtherReplica(t *testing.T) {
	a := newTestServer(t)
	a.seed()
	b := a.replica()
	for i := 0; i < 10; i++ {
		gw := fmt.Sprint("fresh", i)
		a.must(201, "PUT", "/gateways/"+gw, nil)
		a.must(201, "PUT", "/gateways/"+gw+"/apis/echo", nil)
		tok := a.token(gw, time.Hour)
		if r := b.gwGet(tok, wire.PathConfig); r.status != 200 {
			t.Fatalf("%s at the other replica right after creation: %d %s", gw, r.status, r.body)
		}
	}
	if r := b.gwGet("fresh0&209901010000&AAAA", wire.PathConfig); r.status != 401 {
		t.Fatalf("bad token: %d", r.status)
	}
}

// TestPGMigrations: replicas starting at once on an empty database migrate
// it once; a database of a newer schema is refused with a message saying
// so, and left unchanged.
func TestPGMigrations(t *testing.T) {
	url, err := pgServer.NewDatabase()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := OpenPostgres(context.Background(), url, Options{Logger: discardLogger()})
			if err == nil {
				s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("concurrent first start: %v", err)
		}
	}
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	ms, _ := loadMigrations()
	var n, max int
	c.QueryRow(ctx, "SELECT count(*), max(version) FROM apimcp_schema").Scan(&n, &max)
	if n != len(ms) || max != len(ms) {
		t.Fatalf("apimcp_schema has %d rows up to %d, want %d", n, max, len(ms))
	}
	if _, err := c.Exec(ctx, "INSERT INTO apimcp_schema (version, name) VALUES ($1, 'from-the-future.sql')", len(ms)+1); err != nil {
		t.Fatal(err)
	}
	_, err = OpenPostgres(ctx, url, Options{Logger: discardLogger()})
	if !errors.Is(err, ErrSchemaNewer) || !strings.Contains(err.Error(), fmt.Sprintf("schema version %d", len(ms)+1)) {
		t.Fatalf("newer schema: %v, want ErrSchemaNewer naming version %d", err, len(ms)+1)
	}
}

// TestPGDatabaseRestart: the PostgreSQL server restarts while two replicas
// take writes and serve a long-polling gateway: during the outage writes
// fail with 503 (nothing half-done) and gateways are still served from
// memory; after it, writes succeed again without restarting apimcp, and a
// change still reaches the gateway at the other replica.
func TestPGDatabaseRestart(t *testing.T) {
	srv, err := pgtest.Start() // its own server: the others' tests go on
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	url, err := srv.NewDatabase()
	if err != nil {
		t.Fatal(err)
	}
	a := &testServer{t: t, dir: t.TempDir(), clock: &fakeClock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)},
		logs: &syncBuffer{}, client: newTestServer(t).client, pgURL: url}
	a.start()
	defer a.stop()
	a.seed()
	b := a.replica()
	tok := a.token("gw1", time.Hour)

	// Load: a writer on a, a long-polling gateway and heartbeats on b.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	gwCodes := map[int]int{}
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			r := a.do("PUT", "/apis/echo", props(map[string]any{"path": "echo", "displayName": fmt.Sprint("load", i)}))
			mu.Lock()
			codes[r.status]++
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	}()
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			r := b.gwGet(tok, wire.PathConfig+"?wait=1")
			mu.Lock()
			gwCodes[r.status]++
			mu.Unlock()
		}
	}()
	time.Sleep(500 * time.Millisecond)
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	mu.Lock()
	outage503 := codes[503]
	mu.Unlock()
	// While the database is down, the gateway is still served.
	if r := b.gwGet(tok, wire.PathConfig); r.status != 200 {
		t.Fatalf("config during the outage: %d %s", r.status, r.body)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	// Writes succeed again within a few seconds (the pool reconnects).
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := a.do("PUT", "/apis/echo", props(map[string]any{"path": "echo", "displayName": "after"}))
		if r.status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("writes still fail 15 s after the restart: %d %s", r.status, r.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	t.Logf("writes: %v; gateway polls at the other replica: %v", codes, gwCodes)
	if outage503 == 0 {
		t.Fatalf("no write failed with 503 during the outage: %v", codes)
	}
	for c := range codes {
		if c != 200 && c != 503 {
			t.Fatalf("write answered %d (only 200 or 503 expected): %v", c, codes)
		}
	}
	for c := range gwCodes {
		if c != 200 && c != 304 {
			t.Fatalf("gateway poll answered %d: %v", c, gwCodes)
		}
	}
	// The model of both replicas is the database's: one more change through
	// b reaches a gateway long-polling a.
	etag := a.gwGet(tok, wire.PathConfig).header.Get("ETag")
	lag, r := longPollLag(t, a, tok, etag, func() {
		b.must(200, "PUT", "/apis/echo", props(map[string]any{"path": "echo", "displayName": "final"}))
	})
	if r.status != 200 || decodeSnap(t, r.body).APIs[0].DisplayName != "final" || lag > 2*time.Second {
		t.Fatalf("after the restart: long-poll %d after %v", r.status, lag)
	}
}
