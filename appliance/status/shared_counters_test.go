package status

import (
	"strings"
	"testing"
	"time"
)

// TestSharedCounters: replicas sharing counters through Redis show the
// state on /metrics and the page; a fallback to local counters is an alert
// naming the Redis (never its password) and the error; no Redis configured
// means no series at all.
func TestSharedCounters(t *testing.T) {
	since := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		sc      *SharedCounters
		up      float64
		present bool
		alert   string
	}{
		{"none", nil, 0, false, ""},
		{"sharing", &SharedCounters{Addr: "redis://10.0.0.9:6379/0", Sharing: true, Since: since, Sent: 42}, 1, true, ""},
		{"fallback", &SharedCounters{Addr: "redis://10.0.0.9:6379/0", Sharing: false, Since: since, Sent: 42, Local: 7, Fallbacks: 1,
			LastError: "dial tcp 10.0.0.9:6379: connect: connection refused", LastErrorAt: since}, 0, true,
			"Redis redis://10.0.0.9:6379/0 unreachable since"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := hybridFacts()
			f.SharedCounters = tc.sc
			srv := newTestServer(t, &fakeSource{facts: f}, nil)
			m := parseExposition(t, scrape(t, srv))
			got, ok := m["apimgw_shared_counters_up"]
			if ok != tc.present || got != tc.up {
				t.Fatalf("apimgw_shared_counters_up = %v (present %v), want %v (present %v)", got, ok, tc.up, tc.present)
			}
			if tc.present {
				if m[`apimgw_shared_counter_updates_total{outcome="sent"}`] != 42 || m[`apimgw_shared_counter_updates_total{outcome="local"}`] != float64(tc.sc.Local) ||
					m["apimgw_shared_counters_fallbacks_total"] != float64(tc.sc.Fallbacks) {
					t.Errorf("update counts: %v", m)
				}
			}
			page := do(t, srv, "GET", "/", nil, nil).Body.String()
			if strings.Contains(page, `id="sharedcounters"`) != tc.present {
				t.Errorf("the page's shared counters card: present %v, want %v", !tc.present, tc.present)
			}
			if tc.present && !tc.sc.Sharing && !strings.Contains(page, "local fallback") {
				t.Error("the page does not say the counters are local")
			}
			a := alerts(srv.Report(t.Context()))
			var text []string
			for _, x := range a {
				text = append(text, x.Text)
			}
			joined := strings.Join(text, "\n")
			if tc.alert == "" && strings.Contains(joined, "Redis") || tc.alert != "" && !strings.Contains(joined, tc.alert) {
				t.Errorf("alerts %q, want %q", joined, tc.alert)
			}
			if tc.alert != "" && !strings.Contains(joined, "connection refused") {
				t.Errorf("the alert does not give the error: %q", joined)
			}
		})
	}
}
