package gateway_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

// historyRow is one row of status.json's snapshot.history.
type historyRow struct {
	Version    string    `json:"version"`
	ReceivedAt time.Time `json:"receivedAt"`
	Origin     string    `json:"origin"`
	APIs       int       `json:"apis"`
	Current    bool      `json:"current"`
}

func (g *gwProc) history() []historyRow {
	g.t.Helper()
	resp, err := http.Get(g.status + "/status.json")
	if err != nil {
		g.t.Fatalf("status.json: %v", err)
	}
	defer resp.Body.Close()
	var r struct {
		Snapshot struct {
			History []historyRow `json:"history"`
		} `json:"snapshot"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		g.t.Fatalf("status.json: %v", err)
	}
	return r.Snapshot.History
}

// page returns the status page's HTML.
func (g *gwProc) page() string {
	g.t.Helper()
	resp, err := http.Get(g.status + "/")
	if err != nil {
		g.t.Fatalf("status page: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestControlPlaneRestartKeepsSnapshotIdentity (issue 10): apimcp restarted
// with unchanged resources re-issues the very same snapshot, so the gateway
// neither re-applies it nor adds a history row, and the page offers no
// "Roll back" to the version already serving. Every row keeps its facts
// (origin, API count, received time) after newer ones arrive.
func TestControlPlaneRestartKeepsSnapshotIdentity(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end with the real binaries")
	}
	bin := e2eBinaries(t)
	cp := startCP(t, bin)
	defer func() {
		if t.Failed() {
			t.Logf("apimcp log:\n%s", cp.log)
		}
	}()
	cp.mustARM("PUT", "/apis/a1", map[string]any{"properties": map[string]any{"path": "a1", "serviceUrl": "http://127.0.0.1:9"}}, 201)
	cp.mustARM("PUT", "/gateways/gw1", map[string]any{"properties": map[string]any{"locationData": map[string]any{"name": "identity"}}}, 201)
	cp.mustARM("PUT", "/gateways/gw1/apis/a1", nil, 200, 201)
	var tok struct{ Value string }
	json.Unmarshal(cp.ctl("-o", "json", "gateway", "token", "gw1"), &tok)
	gw := newGW(t, bin, cp.URL, "gw1", tok.Value)
	defer func() {
		if t.Failed() {
			t.Logf("apimgw log:\n%s", gw.log)
		}
	}()
	gw.start()
	gw.waitReady(15 * time.Second)
	// A second version, so that the history has an older row.
	cp.mustARM("PUT", "/apis/a2", map[string]any{"properties": map[string]any{"path": "a2", "serviceUrl": "http://127.0.0.1:9"}}, 201)
	cp.mustARM("PUT", "/gateways/gw1/apis/a2", nil, 200, 201)
	if _, ok := pollFor(10*time.Second, func() bool { return len(gw.history()) == 2 }); !ok {
		t.Fatalf("second version not applied: %+v", gw.history())
	}
	before := gw.history()
	for i, want := range []historyRow{{Origin: "control-plane", APIs: 2, Current: true}, {Origin: "control-plane", APIs: 1}} {
		r := before[i]
		if r.Origin != want.Origin || r.APIs != want.APIs || r.Current != want.Current || r.ReceivedAt.IsZero() {
			t.Fatalf("history row %d: %+v, want origin %q, %d APIs, current %v", i, r, want.Origin, want.APIs, want.Current)
		}
	}

	// Restart apimcp (same data, same address) and let the gateway reconnect.
	cp.stop(syscall.SIGTERM)
	if _, ok := pollFor(10*time.Second, func() bool { return !gw.facts().ControlPlane.Connected }); !ok {
		t.Fatal("the gateway did not notice the control plane went away")
	}
	cp.start()
	if _, ok := pollFor(15*time.Second, func() bool { return gw.facts().ControlPlane.Connected }); !ok {
		t.Fatal("the gateway did not reconnect")
	}
	time.Sleep(2 * time.Second) // a re-apply, if any, would land now
	if after := gw.history(); !reflect.DeepEqual(after, before) {
		t.Fatalf("history changed across a control-plane restart with unchanged resources:\nbefore %+v\nafter  %+v", before, after)
	}
	cur := before[0].Version
	if page := gw.page(); strings.Contains(page, `name="version" value="`+cur+`"`) {
		t.Fatalf("the page offers a rollback to the version already serving (%s)", cur)
	}

	// A real change after the restart: exactly one new row, and the old rows
	// keep their facts. Had the restart re-applied anything, it would show
	// here too (the agent applies in order).
	cp.mustARM("DELETE", "/gateways/gw1/apis/a2", nil, 200)
	if _, ok := pollFor(10*time.Second, func() bool { h := gw.history(); return len(h) > 0 && h[0].Version != cur }); !ok {
		t.Fatalf("change after the restart not applied: %+v", gw.history())
	}
	after := gw.history()
	if len(after) != 3 || after[0].APIs != 1 || after[0].Origin != "control-plane" || !after[0].Current {
		t.Fatalf("history after one change: %+v", after)
	}
	before[0].Current = false
	if !reflect.DeepEqual(after[1:], before) {
		t.Fatalf("older rows changed:\nbefore %+v\nafter  %+v", before, after[1:])
	}
}

// TestRebuiltSnapshotIsNotReapplied: a snapshot that differs from the one
// serving only in generatedAt (as an older control plane re-issued after a
// restart) is not compiled, stored or swapped again — no second history row —
// while one with a real change is, with its own facts.
func TestRebuiltSnapshotIsNotReapplied(t *testing.T) {
	b := backend(t)
	d := newDaemon(t, b.URL, "telemetry.logs.std.level=debug\n")
	d.start()
	defer d.stop(syscall.SIGTERM)
	g := &gwProc{t: t, status: d.status}
	if h := g.history(); len(h) != 1 || h[0].Origin != "file" || h[0].APIs != 1 || !h[0].Current {
		t.Fatalf("history at start: %+v\n%s", h, d.logs())
	}
	before := g.history()
	// The same content, built an hour later.
	rebuilt := strings.Replace(fmt.Sprintf(snapshotTmpl, 1, "echo", b.URL), "2026-11-26T00:00:00Z", "2026-11-26T01:00:00Z", 1)
	tmp := filepath.Join(d.dir, "snapshot.json.tmp")
	if err := os.WriteFile(tmp, []byte(rebuilt), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(d.dir, "snapshot.json")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the rebuilt snapshot is recognised as served", func() bool {
		return strings.Contains(d.logs(), "snapshot already served")
	})
	if after := g.history(); !reflect.DeepEqual(after, before) {
		t.Fatalf("a rebuilt snapshot changed the history:\nbefore %+v\nafter  %+v", before, after)
	}
	// A real change: a new row, the old one keeps its facts.
	d.writeSnapshot(2, "renamed", b.URL)
	eventually(t, 5*time.Second, "version 2 serves", func() bool { h := g.history(); return len(h) == 2 && h[0].Version == "2" })
	h := g.history()
	before[0].Current = false
	if h[0].Origin != "file" || h[0].APIs != 1 || !reflect.DeepEqual(h[1], before[0]) {
		t.Fatalf("history after a change: %+v", h)
	}
}
