package controlplane

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apimgw/apimgw/wire"
)

func (ts *testServer) gwGet(tok, path string, hdr ...string) resp {
	ts.t.Helper()
	return ts.doAuth("GET", path, nil, "GatewayKey "+tok, hdr...)
}

func TestGatewayTokens(t *testing.T) {
	ts := newTestServer(t)
	ts.seed()
	tok := ts.token("gw1", 24*time.Hour)
	if r := ts.gwGet(tok, wire.PathConfig); r.status != 200 {
		t.Fatalf("valid token: %d %s", r.status, r.body)
	}
	// The "GatewayKey " prefix is optional, as in env.conf.
	if r := ts.doAuth("GET", wire.PathConfig, nil, tok); r.status != 200 {
		t.Fatalf("token without prefix: %d %s", r.status, r.body)
	}
	parts := strings.Split(tok, "&")
	cases := []struct {
		name, auth, code string
	}{
		{"missing", "", "InvalidToken"},
		{"malformed", "GatewayKey abc", "InvalidToken"},
		{"other gateway", "GatewayKey gw2&" + parts[1] + "&" + parts[2], "InvalidToken"},
		{"tampered expiry", "GatewayKey gw1&209901010000&" + parts[2], "InvalidToken"},
		{"admin token", "Bearer " + testAdminToken, "InvalidToken"},
	}
	for _, c := range cases {
		r := ts.doAuth("GET", wire.PathConfig, nil, c.auth)
		if r.status != 401 || !strings.Contains(string(r.body), `"code":"`+c.code+`"`) {
			t.Errorf("%s: %d %s", c.name, r.status, r.body)
		}
	}
	// The secondary key signs too.
	r := ts.must(200, "POST", "/gateways/gw1/generateToken", map[string]any{"keyType": "secondary", "expiry": ts.clock.Now().Add(time.Hour).Format(time.RFC3339)})
	tok2 := r.json(t)["value"].(string)
	if r := ts.gwGet(tok2, wire.PathConfig); r.status != 200 {
		t.Fatalf("secondary-key token: %d", r.status)
	}
	// Expiry: 401 saying it expired, and when.
	ts.clock.Advance(25 * time.Hour)
	r = ts.gwGet(tok, wire.PathConfig)
	want := fmt.Sprintf(`{"error":{"code":"TokenExpired","message":"The gateway token expired at %s; generate a new one (apimctl gateway token gw1)."}}`,
		time.Date(2026, 5, 2, 12, 0, 0, 0, time.UTC).Format(time.RFC3339))
	if r.status != 401 || strings.TrimSpace(string(r.body)) != want {
		t.Fatalf("expired: %d %s\nwant %s", r.status, r.body, want)
	}
	// Regenerating the primary key invalidates its tokens but not the secondary's.
	tok3 := ts.token("gw1", time.Hour)
	ts.must(204, "POST", "/gateways/gw1/regenerateKey", map[string]any{"keyType": "primary"})
	if r := ts.gwGet(tok3, wire.PathConfig); r.status != 401 {
		t.Fatalf("token of a regenerated key still works: %d", r.status)
	}
	tok4 := ts.token("gw1", time.Hour)
	if r := ts.gwGet(tok4, wire.PathConfig); r.status != 200 {
		t.Fatalf("token of the new key: %d", r.status)
	}
	// The token verifies with wire against listKeys.
	var keys GatewayKeys
	json.Unmarshal(ts.must(200, "POST", "/gateways/gw1/listKeys", nil).body, &keys)
	p, err := wire.ParseToken(tok4)
	if err != nil || p.Verify(keys.Primary, ts.clock.Now()) != nil {
		t.Fatalf("token does not verify with the listed key: %v", err)
	}
	ts.must(400, "POST", "/gateways/gw1/generateToken", map[string]any{"expiry": ts.clock.Now().Add(-time.Minute).Format(time.RFC3339)})
	ts.must(400, "POST", "/gateways/gw1/generateToken", map[string]any{"keyType": "tertiary", "expiry": ts.clock.Now().Add(time.Hour).Format(time.RFC3339)})
	ts.must(400, "POST", "/gateways/gw1/generateToken", `{"expiry":"tomorrow"}`)
	ts.must(404, "POST", "/gateways/nope/generateToken", map[string]any{"expiry": ts.clock.Now().Add(time.Hour).Format(time.RFC3339)})
}

func decodeSnap(t *testing.T, b []byte) *wire.Snapshot {
	t.Helper()
	s, err := wire.Decode(b)
	if err != nil {
		t.Fatalf("snapshot does not decode: %v\n%s", err, b)
	}
	return s
}

// TestSnapshotContent: a gateway gets its APIs and what they reference, no more.
func TestSnapshotContent(t *testing.T) {
	ts := newTestServer(t)
	ts.seed()
	ts.must(201, "PUT", "/apis/other", props(map[string]any{"path": "other"}))
	ts.must(201, "PUT", "/subscriptions/s-other", props(map[string]any{"scope": "/apis/other", "state": "active"}))
	ts.must(201, "PUT", "/subscriptions/s-all", props(map[string]any{"scope": "/apis", "state": "active", "primaryKey": "all-key"}))
	ts.must(201, "PUT", "/namedValues/used", props(map[string]any{"displayName": "used", "value": "u", "secret": true}))
	ts.must(201, "PUT", "/namedValues/unused", props(map[string]any{"displayName": "unused", "value": "x"}))
	ts.must(201, "PUT", "/namedValues/viafrag", props(map[string]any{"displayName": "viafrag", "value": "f"}))
	ts.must(201, "PUT", "/backends/b1", props(map[string]any{"url": "http://127.0.0.1:7"}))
	ts.must(201, "PUT", "/backends/b2", props(map[string]any{"url": "http://127.0.0.1:8"}))
	ts.must(201, "PUT", "/policyFragments/f1", props(map[string]any{"value": `<fragment><set-header name="a"><value>{{viafrag}}</value></set-header></fragment>`}))
	ts.must(201, "PUT", "/policyFragments/f2", props(map[string]any{"value": `<fragment/>`}))
	ts.must(201, "PUT", "/apis/echo/policies/policy", props(map[string]any{"value": `<policies><inbound><include-fragment fragment-id="f1"/><set-backend-service backend-id="b1"/>{{used}}</inbound></policies>`}))
	ts.must(201, "PUT", "/apis/other/policies/policy", props(map[string]any{"value": `<policies><inbound><set-backend-service backend-id="b2"/>{{unused}}</inbound></policies>`}))
	ts.must(201, "PUT", "/policies/policy", props(map[string]any{"value": `<policies><inbound><base/></inbound></policies>`}))
	ts.must(201, "PUT", "/apis/echo/operations/get/policies/policy", props(map[string]any{"value": `<policies><inbound><rate-limit calls="2" renewal-period="10"/></inbound></policies>`}))
	ts.must(201, "PUT", "/products/p1/policies/policy", props(map[string]any{"value": `<policies/>`}))

	tok := ts.token("gw1", time.Hour)
	r := ts.gwGet(tok, wire.PathConfig)
	s := decodeSnap(t, r.body)
	if r.header.Get("ETag") == "" || r.header.Get(wire.HeaderSnapshotVersion) != fmt.Sprint(s.Version) {
		t.Fatalf("headers %v", r.header)
	}
	ids := func(n int, f func(i int) string) string {
		var out []string
		for i := 0; i < n; i++ {
			out = append(out, f(i))
		}
		return strings.Join(out, ",")
	}
	got := map[string]string{
		"apis":      ids(len(s.APIs), func(i int) string { return s.APIs[i].ID }),
		"products":  ids(len(s.Products), func(i int) string { return s.Products[i].ID }),
		"subs":      ids(len(s.Subscriptions), func(i int) string { return s.Subscriptions[i].ID }),
		"nvs":       ids(len(s.NamedValues), func(i int) string { return s.NamedValues[i].ID }),
		"backends":  ids(len(s.Backends), func(i int) string { return s.Backends[i].ID }),
		"fragments": ids(len(s.PolicyFragments), func(i int) string { return s.PolicyFragments[i].ID }),
	}
	want := map[string]string{"apis": "echo", "products": "p1", "subs": "s-all,s1", "nvs": "used,viafrag", "backends": "b1", "fragments": "f1"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if s.Policy == "" || s.APIs[0].Policy == "" || s.APIs[0].Operations[0].Policy == "" || s.Products[0].Policy == "" {
		t.Error("a policy scope is missing")
	}
	if s.Subscriptions[0].PrimaryKeySHA256 != wire.KeyDigest("all-key") {
		t.Error("key digest")
	}
	if !s.NamedValues[0].Secret {
		t.Error("secret flag lost")
	}
	if bytes.Contains(r.body, []byte("all-key")) || bytes.Contains(r.body, []byte("key-one-primary")) {
		t.Error("raw key in snapshot")
	}
	// The admin export is the same document.
	exp := ts.must(200, "GET", "/gateways/gw1/snapshot", nil)
	if !bytes.Equal(exp.body, r.body) {
		t.Error("export differs from what the gateway gets")
	}
}

// TestVersionBumpsOnlyAffected: a change bumps the version of the gateways
// whose snapshot it changes, and only theirs.
func TestVersionBumpsOnlyAffected(t *testing.T) {
	ts := newTestServer(t)
	ts.seed()
	ts.must(201, "PUT", "/apis/b", props(map[string]any{"path": "b"}))
	ts.must(201, "PUT", "/gateways/gw2", nil)
	ts.must(201, "PUT", "/gateways/gw2/apis/b", nil)
	ver := func(gw string) uint64 { _, v, _, _ := ts.store.Snapshot(gw); return v }
	v1, v2 := ver("gw1"), ver("gw2")
	steps := []struct {
		name        string
		do          func()
		bump1, bum2 bool
	}{
		{"echo policy", func() {
			ts.must(201, "PUT", "/apis/echo/policies/policy", props(map[string]any{"value": "<policies/>"}))
		}, true, false},
		{"b operation", func() {
			ts.must(201, "PUT", "/apis/b/operations/x", props(map[string]any{"method": "GET", "urlTemplate": "/x"}))
		}, false, true},
		{"unrelated named value", func() {
			ts.must(201, "PUT", "/namedValues/nv", props(map[string]any{"displayName": "nv", "value": "1"}))
		}, false, false},
		{"global policy", func() {
			ts.must(201, "PUT", "/policies/policy", props(map[string]any{"value": "<policies/>"}))
		}, true, true},
		{"same content again", func() {
			ts.must(200, "PUT", "/policies/policy", props(map[string]any{"value": "<policies/>"}))
		}, false, false},
		{"subscription to p1", func() {
			ts.must(201, "PUT", "/subscriptions/s2", props(map[string]any{"scope": "/products/p1"}))
		}, true, false},
		{"gw2 description", func() {
			ts.must(200, "PUT", "/gateways/gw2", props(map[string]any{"description": "d"}))
		}, false, false},
	}
	for _, st := range steps {
		st.do()
		n1, n2 := ver("gw1"), ver("gw2")
		if (n1 != v1) != st.bump1 || (n2 != v2) != st.bum2 {
			t.Errorf("%s: gw1 %d→%d, gw2 %d→%d; want bumps %v %v", st.name, v1, n1, v2, n2, st.bump1, st.bum2)
		}
		if n1 < v1 || n2 < v2 || n1 > v1+1 || n2 > v2+1 {
			t.Errorf("%s: versions must grow by one", st.name)
		}
		v1, v2 = n1, n2
	}
}

func TestLongPoll(t *testing.T) {
	ts := newTestServer(t)
	ts.seed()
	tok := ts.token("gw1", time.Hour)
	first := ts.gwGet(tok, wire.PathConfig)
	etag := first.header.Get("ETag")
	// No change: 304 after the wait.
	start := time.Now()
	r := ts.gwGet(tok, wire.PathConfig+"?wait=1", "If-None-Match", etag)
	if r.status != 304 || time.Since(start) < 900*time.Millisecond || r.header.Get("ETag") != etag {
		t.Fatalf("idle long-poll: %d after %v", r.status, time.Since(start))
	}
	// Without wait: 304 at once.
	if r := ts.gwGet(tok, wire.PathConfig, "If-None-Match", etag); r.status != 304 {
		t.Fatalf("no wait: %d", r.status)
	}
	// A change wakes waiting gateways at once.
	const waiters = 5
	type result struct {
		r       resp
		elapsed time.Duration
	}
	done := make(chan result, waiters)
	for i := 0; i < waiters; i++ {
		go func() {
			s := time.Now()
			r := ts.gwGet(tok, wire.PathConfig+"?wait=15s", "If-None-Match", etag)
			done <- result{r, time.Since(s)}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	changed := time.Now()
	ts.must(201, "PUT", "/apis/echo/policies/policy", props(map[string]any{"value": "<policies><inbound/></inbound></policies>"}))
	for i := 0; i < waiters; i++ {
		res := <-done
		lag := time.Since(changed)
		if res.r.status != 200 || res.r.header.Get("ETag") == etag {
			t.Fatalf("woken long-poll: %d %s", res.r.status, res.r.header.Get("ETag"))
		}
		if lag > time.Second {
			t.Fatalf("long-poll answered %v after the change", lag)
		}
		if s := decodeSnap(t, res.r.body); s.APIs[0].Policy == "" {
			t.Fatal("woken with the old snapshot")
		}
	}
	// Deleting the gateway ends its long-poll too (404).
	etag2 := ts.gwGet(tok, wire.PathConfig).header.Get("ETag")
	deleted := make(chan resp, 1)
	go func() {
		time.Sleep(200 * time.Millisecond)
		deleted <- ts.do("DELETE", "/gateways/gw1", nil)
	}()
	defer func() {
		if r := <-deleted; r.status != 200 {
			t.Errorf("DELETE gateway: %d %s", r.status, r.body)
		}
	}()
	start = time.Now()
	if r := ts.gwGet(tok, wire.PathConfig+"?wait=10", "If-None-Match", etag2); (r.status != 401 && r.status != 404) || time.Since(start) < 150*time.Millisecond {
		t.Fatalf("after gateway deletion: %d after %v: %s", r.status, time.Since(start), r.body)
	}
	if r := ts.gwGet(tok, wire.PathConfig+"?wait=abc", "If-None-Match", etag2); r.status != 401 {
		t.Fatalf("deleted gateway's token: %d", r.status)
	}
}

func TestGzip(t *testing.T) {
	ts := newTestServer(t)
	ts.seed()
	tok := ts.token("gw1", time.Hour)
	req, _ := http.NewRequest("GET", ts.url+wire.PathConfig, nil)
	req.Header.Set("Authorization", "GatewayKey "+tok)
	req.Header.Set("Accept-Encoding", "gzip")
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("not gzip: %v", res.Header)
	}
	zr, err := gzip.NewReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(zr)
	decodeSnap(t, b)
}

func TestHeartbeatStatus(t *testing.T) {
	ts := newTestServer(t)
	ts.seed()
	tok := ts.token("gw1", 240*time.Hour)
	status := func() GatewayStatus {
		var g struct {
			Properties struct {
				Status GatewayStatus `json:"status"`
			} `json:"properties"`
		}
		json.Unmarshal(ts.must(200, "GET", "/gateways/gw1", nil).body, &g)
		return g.Properties.Status
	}
	if st := status(); st.State != "neverConnected" {
		t.Fatalf("before any heartbeat: %+v", st)
	}
	_, ver, _, _ := ts.store.Snapshot("gw1")
	snap, _ := wire.Decode(must1(ts.store.Snapshot("gw1")))
	hb := wire.Heartbeat{ProtocolVersion: 1, Gateway: "gw1", Time: ts.clock.Now(), IntervalSeconds: 10, GatewayVersion: "1.0.0",
		SnapshotVersion: ver, SnapshotChecksum: snap.Checksum, UptimeSeconds: 42,
		Host:    wire.HostFacts{Hostname: "edge1", CPUs: 4, MemoryTotalBytes: 1 << 30, DiskFreeBytes: 5 << 30, Load1: 0.5},
		Backlog: wire.Backlog{Records: 7, Bytes: 700, OldestAgeSeconds: 3, Dropped: 1}, LastError: "compile failed: x"}
	r := ts.doAuth("POST", wire.PathHeartbeat, hb, "GatewayKey "+tok)
	if r.status != 200 {
		t.Fatalf("heartbeat: %d %s", r.status, r.body)
	}
	var ack wire.HeartbeatAck
	json.Unmarshal(r.body, &ack)
	if ack.SnapshotVersion != ver || ack.ProtocolVersion != 1 {
		t.Fatalf("ack %+v", ack)
	}
	st := status()
	if st.State != "connected" || !st.InSync || st.Backlog.Records != 7 || st.Host.Hostname != "edge1" || st.LastError != "compile failed: x" || st.UptimeSeconds != 42 {
		t.Fatalf("status %+v", st)
	}
	ts.clock.Advance(30 * time.Second) // exactly 3 intervals: still connected
	if st := status(); st.State != "connected" {
		t.Fatalf("after 3 intervals: %s", st.State)
	}
	ts.clock.Advance(time.Second)
	if st := status(); st.State != "disconnected" {
		t.Fatalf("after 3 missed intervals: %s", st.State)
	}
	// A config change makes it out of sync until it reports the new version.
	ts.must(201, "PUT", "/policies/policy", props(map[string]any{"value": "<policies/>"}))
	if st := status(); st.InSync {
		t.Fatal("in sync after a change")
	}
	// Status survives a restart.
	ts.restart()
	if st := status(); st.Backlog.Records != 7 || st.LastHeartbeat.IsZero() {
		t.Fatalf("status lost on restart: %+v", st)
	}
	// A heartbeat for another gateway with this token is refused.
	hb.Gateway = "gw2"
	if r := ts.doAuth("POST", wire.PathHeartbeat, hb, "GatewayKey "+tok); r.status != 400 {
		t.Fatalf("foreign heartbeat: %d", r.status)
	}
	hb.Gateway, hb.ProtocolVersion = "gw1", 2
	if r := ts.doAuth("POST", wire.PathHeartbeat, hb, "GatewayKey "+tok); r.status != 400 || !strings.Contains(string(r.body), "protocol version") {
		t.Fatalf("wrong protocol version: %d %s", r.status, r.body)
	}
}

func must1(b []byte, _ uint64, _ string, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestTelemetryAndReports sends records, resends them regrouped, and checks
// every report's arithmetic against the records themselves.
func TestTelemetryAndReports(t *testing.T) {
	ts := newTestServer(t)
	ts.seed()
	ts.must(201, "PUT", "/gateways/gw2", nil)
	tok1, tok2 := ts.token("gw1", 240*time.Hour), ts.token("gw2", 240*time.Hour)
	base := ts.clock.Now().Add(-time.Hour).Truncate(time.Hour)
	var recs []wire.TelemetryRecord
	statuses := []int{200, 201, 301, 302, 304, 400, 401, 403, 404, 429, 500, 503}
	for i := 0; i < 120; i++ {
		op := []string{"get", "list"}[i%2]
		recs = append(recs, wire.TelemetryRecord{
			Seq: uint64(i + 1), Time: base.Add(time.Duration(i) * 20 * time.Second), API: []string{"echo", "orders"}[i%3%2], Operation: op,
			Product: "p1", Subscription: []string{"s1", "s2", ""}[i%3], Method: "GET", PathTemplate: "/items/{id}",
			Status: statuses[i%len(statuses)], BackendStatus: 200, TotalMicros: int64(1000 + i*37%5000), BackendMicros: int64(500 + i*11%3000),
			BytesIn: int64(100 + i), BytesOut: int64(1000 + 3*i), Cache: []string{"", "hit", "miss"}[i%3],
		})
	}
	send := func(tok, gw, stream string, rs []wire.TelemetryRecord, gz bool) wire.TelemetryAck {
		t.Helper()
		b := wire.TelemetryBatch{ProtocolVersion: 1, Gateway: gw, Stream: stream, Sequence: rs[len(rs)-1].Seq, Records: rs}
		body, _ := json.Marshal(b)
		hdr := []string{}
		if gz {
			var zb bytes.Buffer
			zw := gzip.NewWriter(&zb)
			zw.Write(body)
			zw.Close()
			body = zb.Bytes()
			hdr = []string{"Content-Encoding", "gzip"}
		}
		r := ts.doAuth("POST", wire.PathTelemetry, body, "GatewayKey "+tok, hdr...)
		if r.status != 200 {
			t.Fatalf("telemetry: %d %s", r.status, r.body)
		}
		var ack wire.TelemetryAck
		json.Unmarshal(r.body, &ack)
		return ack
	}
	// gw1 sends records 0..79 in two batches, then a retry of 40..99
	// (regrouped: 40 duplicates, 20 new); gw2 sends 100..119 on its own stream.
	if a := send(tok1, "gw1", "st1", recs[:40], false); a.Accepted != 40 || a.Duplicates != 0 {
		t.Fatalf("ack %+v", a)
	}
	if a := send(tok1, "gw1", "st1", recs[40:80], true); a.Accepted != 40 || a.Sequence != 80 {
		t.Fatalf("ack %+v", a)
	}
	if a := send(tok1, "gw1", "st1", recs[40:100], false); a.Accepted != 20 || a.Duplicates != 40 {
		t.Fatalf("regrouped retry ack %+v", a)
	}
	if a := send(tok1, "gw1", "st1", recs[:100], true); a.Accepted != 0 || a.Duplicates != 100 {
		t.Fatalf("full retry ack %+v", a)
	}
	if a := send(tok2, "gw2", "other", recs[100:], false); a.Accepted != 20 {
		t.Fatalf("gw2 ack %+v", a)
	}
	// The same seq numbers on another stream (a fresh store) are new records.
	fresh := []wire.TelemetryRecord{recs[0]}
	fresh[0].Time = base.Add(-time.Minute)
	if a := send(tok1, "gw1", "st2", fresh, false); a.Accepted != 1 {
		t.Fatalf("new stream ack %+v", a)
	}
	all := append([]wire.TelemetryRecord{fresh[0]}, recs...)
	gwOf := func(i int) string {
		if i > 100 {
			return "gw2"
		}
		return "gw1"
	}
	type group struct {
		recs []wire.TelemetryRecord
	}
	expect := func(key func(i int, r wire.TelemetryRecord) string, from, to time.Time) map[string]*group {
		out := map[string]*group{}
		for i, r := range all {
			if r.Time.Before(from) || r.Time.After(to) {
				continue
			}
			k := key(i, r)
			if out[k] == nil {
				out[k] = &group{}
			}
			out[k].recs = append(out[k].recs, r)
		}
		return out
	}
	check := func(name string, rows []ReportRecord, want map[string]*group, rowKey func(ReportRecord) string) {
		t.Helper()
		if len(rows) != len(want) {
			t.Fatalf("%s: %d rows, want %d: %+v", name, len(rows), len(want), rows)
		}
		for _, row := range rows {
			g := want[rowKey(row)]
			if g == nil {
				t.Fatalf("%s: unexpected row %q", name, rowKey(row))
			}
			var succ, blocked, failed, other, bw, hit, miss int64
			var lat, svc []float64
			for _, r := range g.recs {
				switch s := r.Status; {
				case s <= 301 || s == 304 || s == 307:
					succ++
				case s == 401 || s == 403 || s == 429:
					blocked++
				case s == 400 || s >= 500:
					failed++
				default:
					other++
				}
				bw += r.BytesIn + r.BytesOut
				if r.Cache == "hit" {
					hit++
				} else if r.Cache == "miss" {
					miss++
				}
				lat = append(lat, float64(r.TotalMicros)/1000)
				svc = append(svc, float64(r.BackendMicros)/1000)
			}
			sort.Float64s(lat)
			sum := 0.0
			for _, x := range lat {
				sum += x
			}
			p95 := lat[int(math.Ceil(0.95*float64(len(lat))))-1]
			if row.CallCountTotal != int64(len(g.recs)) || row.CallCountSuccess != succ || row.CallCountBlocked != blocked ||
				row.CallCountFailed != failed || row.CallCountOther != other || row.Bandwidth != bw || row.CacheHitCount != hit || row.CacheMissCount != miss {
				t.Fatalf("%s %q counts: %+v; want total %d success %d blocked %d failed %d other %d bw %d hit %d miss %d",
					name, rowKey(row), row, len(g.recs), succ, blocked, failed, other, bw, hit, miss)
			}
			if math.Abs(row.APITimeAvg-sum/float64(len(lat))) > 1e-9 || row.APITimeMin != lat[0] || row.APITimeMax != lat[len(lat)-1] || row.APITimeP95 != p95 {
				t.Fatalf("%s %q latency: avg %v min %v max %v p95 %v; want %v %v %v %v", name, rowKey(row),
					row.APITimeAvg, row.APITimeMin, row.APITimeMax, row.APITimeP95, sum/float64(len(lat)), lat[0], lat[len(lat)-1], p95)
			}
			sort.Float64s(svc)
			if row.ServiceTimeMin != svc[0] || row.ServiceTimeMax != svc[len(svc)-1] {
				t.Fatalf("%s service time", name)
			}
		}
	}
	report := func(path string) []ReportRecord {
		t.Helper()
		var c struct{ Value []ReportRecord }
		r := ts.must(200, "GET", path, nil)
		json.Unmarshal(r.body, &c)
		return c.Value
	}
	far := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	zero := time.Time{}
	check("byApi", report("/reports/byApi"), expect(func(_ int, r wire.TelemetryRecord) string { return r.API }, zero, far), func(r ReportRecord) string { return r.Name })
	check("byOperation", report("/reports/byOperation"), expect(func(_ int, r wire.TelemetryRecord) string { return r.API + "/" + r.Operation }, zero, far),
		func(r ReportRecord) string { return strings.TrimPrefix(r.APIID, "/apis/") + "/" + r.Name })
	check("bySubscription", report("/reports/bySubscription"), expect(func(_ int, r wire.TelemetryRecord) string { return r.Subscription }, zero, far), func(r ReportRecord) string { return r.Name })
	check("byGateway", report("/reports/byGateway"), expect(func(i int, _ wire.TelemetryRecord) string { return gwOf(i) }, zero, far), func(r ReportRecord) string { return r.Name })
	// A time window, inclusive at both ends, with the ARM prefix and api-version.
	from, to := base.Add(10*time.Minute), base.Add(25*time.Minute)
	filter := fmt.Sprintf("timestamp%%20ge%%20%s%%20and%%20timestamp%%20le%%20%s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	check("byApi window", report("/subscriptions/x/resourceGroups/g/providers/Microsoft.ApiManagement/service/s/reports/byApi?api-version=2022-08-01&$filter="+filter),
		expect(func(_ int, r wire.TelemetryRecord) string { return r.API }, from, to), func(r ReportRecord) string { return r.Name })
	check("byTime PT5M", report("/reports/byTime?interval=PT5M&$filter="+filter),
		expect(func(_ int, r wire.TelemetryRecord) string {
			return r.Time.Truncate(5 * time.Minute).Format(time.RFC3339)
		}, from, to),
		func(r ReportRecord) string { return r.Timestamp })
	rows := report("/reports/byTime?interval=PT5M&$filter=" + filter)
	if rows[0].Interval != "PT5M" {
		t.Fatalf("interval %q", rows[0].Interval)
	}
	for _, bad := range []string{"/reports/byTime", "/reports/byTime?interval=5m", "/reports/byApi?$filter=apiId%20eq%20'x'", "/reports/byApi?$filter=timestamp%20ge%20yesterday"} {
		if r := ts.do("GET", bad, nil); r.status != 400 {
			t.Errorf("%s: %d %s", bad, r.status, r.body)
		}
	}
	ts.must(404, "GET", "/reports/byUser", nil)
	// Telemetry survives a restart.
	ts.restart()
	check("byGateway after restart", report("/reports/byGateway"), expect(func(i int, _ wire.TelemetryRecord) string { return gwOf(i) }, zero, far), func(r ReportRecord) string { return r.Name })
	// Bad batches.
	bad := wire.TelemetryBatch{ProtocolVersion: 1, Gateway: "gw1", Stream: "s", Records: []wire.TelemetryRecord{{Seq: 0, Time: base, Status: 200}}}
	if r := ts.doAuth("POST", wire.PathTelemetry, bad, "GatewayKey "+tok1); r.status != 400 || !strings.Contains(string(r.body), "seq is 0") {
		t.Fatalf("bad batch: %d %s", r.status, r.body)
	}
	bad.Records[0].Seq, bad.Gateway = 1, "gw2"
	if r := ts.doAuth("POST", wire.PathTelemetry, bad, "GatewayKey "+tok1); r.status != 400 {
		t.Fatalf("batch for another gateway: %d", r.status)
	}
	// Retention: records older than the window are acknowledged, not stored, and pruned.
	ts.clock.Advance(31 * 24 * time.Hour)
	tok1 = ts.token("gw1", time.Hour)
	if a := send(tok1, "gw1", "st1", recs[:1], false); a.Expired != 1 || a.Accepted != 0 {
		t.Fatalf("expired ack %+v", a)
	}
	n, err := ts.store.PruneTelemetry()
	if err != nil || n != len(all) {
		t.Fatalf("pruned %d (%v), want %d", n, err, len(all))
	}
	if rows := report("/reports/byApi"); len(rows) != 0 {
		t.Fatalf("rows after pruning: %+v", rows)
	}
}

// TestShutdownReleasesLongPolls: closing the store answers waiting gateways
// 503 (retry), not 404 (which would read as "you were deleted").
func TestShutdownReleasesLongPolls(t *testing.T) {
	ts := newTestServer(t)
	ts.seed()
	tok := ts.token("gw1", time.Hour)
	etag := ts.gwGet(tok, wire.PathConfig).header.Get("ETag")
	go func() {
		time.Sleep(200 * time.Millisecond)
		ts.store.Close()
	}()
	r := ts.gwGet(tok, wire.PathConfig+"?wait=10", "If-None-Match", etag)
	if r.status != 503 || !strings.Contains(string(r.body), `"code":"ServiceUnavailable"`) {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if r := ts.do("PUT", "/apis/x", props(map[string]any{"path": "x"})); r.status != 503 {
		t.Fatalf("write after close: %d %s", r.status, r.body)
	}
}
