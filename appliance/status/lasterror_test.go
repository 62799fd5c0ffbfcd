package status

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestLastErrorClearsOnceConnected (issue 10): the last error is a red alarm
// while it is a current problem and turns into history, with its time, once
// the link is back — in status.json (controlPlane.lastErrorActive) and on
// the page.
func TestLastErrorClearsOnceConnected(t *testing.T) {
	const msg = "dial tcp 10.0.0.5:8443: connect: connection refused"
	cases := []struct {
		name      string
		mode      Mode
		connected bool
		since     time.Duration // before t0
		errAt     time.Duration // before t0; 0: no time recorded
		applied   time.Duration // before t0
		active    bool
	}{
		{"offline, error while offline", ModeHybrid, false, 10 * time.Minute, 20 * time.Second, 3 * time.Hour, true},
		{"offline, no error time", ModeHybrid, false, 10 * time.Minute, 0, 3 * time.Hour, true},
		{"connected again after the error", ModeHybrid, true, 5 * time.Second, 20 * time.Second, 3 * time.Hour, false},
		{"connected, no error time", ModeHybrid, true, 5 * time.Second, 0, 3 * time.Hour, false},
		{"error while connected (e.g. rejected snapshot)", ModeHybrid, true, time.Hour, 20 * time.Second, 3 * time.Hour, true},
		{"error while connected, a snapshot applied since", ModeHybrid, true, time.Hour, 20 * time.Second, 10 * time.Second, false},
		{"standalone, file did not load", ModeStandalone, false, 0, 20 * time.Second, time.Hour, true},
		{"standalone, file loaded since", ModeStandalone, false, 0, time.Hour, 20 * time.Second, false},
	}
	at := func(d time.Duration) time.Time {
		if d == 0 {
			return time.Time{}
		}
		return t0.Add(-d)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := hybridFacts()
			f.Mode = c.mode
			f.ControlPlane.Connected = c.connected
			f.ControlPlane.Since = at(c.since)
			f.ControlPlane.LastError, f.ControlPlane.LastErrorAt = msg, at(c.errAt)
			f.ControlPlane.LastErrorActive = !c.active // a Source's value is ignored
			f.Snapshot.AppliedAt = at(c.applied)
			s := newTestServer(t, &fakeSource{facts: f}, busyRecorder())
			var rep Report
			if err := json.Unmarshal(do(t, s, "GET", "/status.json", nil, nil).Body.Bytes(), &rep); err != nil {
				t.Fatal(err)
			}
			if rep.ControlPlane.LastErrorActive != c.active || rep.ControlPlane.LastError != msg {
				t.Fatalf("status.json: lastErrorActive %v, want %v (lastError %q)", rep.ControlPlane.LastErrorActive, c.active, rep.ControlPlane.LastError)
			}
			if c.mode == ModeStandalone {
				return // the page shows no control-plane card in standalone mode
			}
			page := do(t, s, "GET", "/", nil, nil).Body.String()
			cell := regexp.MustCompile(`<dd id="lasterror">(.*?)</dd>`).FindStringSubmatch(page)
			if cell == nil {
				t.Fatalf("no last-error cell in the page")
			}
			red := strings.Contains(cell[1], `class="err"`)
			if red != c.active || !strings.Contains(cell[1], msg) {
				t.Fatalf("last-error cell (red %v, want %v): %s", red, c.active, cell[1])
			}
			if c.errAt != 0 && !strings.Contains(cell[1], fmtTime(at(c.errAt))) {
				t.Fatalf("last-error cell does not say when: %s", cell[1])
			}
			if !c.active && !strings.Contains(cell[1], "earlier") {
				t.Fatalf("a past error is not marked as history: %s", cell[1])
			}
		})
	}
}

// TestHistoryRowFacts: each row shows its own origin and API count; a row
// stored before those were recorded says "unknown" rather than "0 APIs"; no
// row offers a rollback to the version already serving (an older store may
// hold it twice).
func TestHistoryRowFacts(t *testing.T) {
	f := hybridFacts()
	f.Snapshot.History = []SnapshotEntry{
		{Version: "42", ReceivedAt: t0.Add(-time.Hour), Origin: "control-plane", APIs: 2, Current: true},
		{Version: "42", ReceivedAt: t0.Add(-2 * time.Hour), Origin: "control-plane", APIs: 2},
		{Version: "41", ReceivedAt: t0.Add(-3 * time.Hour), Origin: "file", APIs: 7},
		{Version: "40", ReceivedAt: t0.Add(-4 * time.Hour)},
	}
	s := newTestServer(t, &fakeSource{facts: f}, busyRecorder())
	page := do(t, s, "GET", "/", nil, nil).Body.String()
	sec := page[strings.Index(page, `id="history"`):]
	rows := regexp.MustCompile(`(?s)<tr>\s*<td><b>(\d+)</b></td>.*?</tr>`).FindAllStringSubmatch(sec, -1)
	if len(rows) != 4 {
		t.Fatalf("%d history rows, want 4:\n%s", len(rows), sec)
	}
	for i, want := range []struct{ has, hasNot []string }{
		{[]string{"control-plane", ">2<", "current"}, []string{"Roll back"}},
		{[]string{"control-plane", ">2<", "same version"}, []string{"Roll back"}},
		{[]string{">file<", ">7<", "Roll back", `value="41"`}, nil},
		{[]string{"unknown", "—", "Roll back"}, []string{">0<"}},
	} {
		for _, w := range want.has {
			if !strings.Contains(rows[i][0], w) {
				t.Errorf("row %d lacks %q: %s", i, w, rows[i][0])
			}
		}
		for _, w := range want.hasNot {
			if strings.Contains(rows[i][0], w) {
				t.Errorf("row %d has %q: %s", i, w, rows[i][0])
			}
		}
	}
}
