package status

import "testing"

// TestMetricsPolicyCounters: the counter pool's size and evictions, and the
// trace policy's counts, reach /metrics.
func TestMetricsPolicyCounters(t *testing.T) {
	f := hybridFacts()
	f.Counters = PolicyCounters{RateKeys: 10, QuotaKeys: 3, RateEvictions: 12345, QuotaEvictions: 7, MaxKeys: 65536}
	f.Traces = []TraceCount{{"information", "logged", 4}, {"verbose", "below-level", 9}}
	m := parseExposition(t, scrape(t, newTestServer(t, &fakeSource{facts: f}, nil)))
	want := map[string]float64{
		`apimgw_policy_limit_keys{kind="rate"}`:                 10,
		`apimgw_policy_limit_keys{kind="quota"}`:                3,
		`apimgw_policy_limit_key_evictions_total{kind="rate"}`:  12345,
		`apimgw_policy_limit_key_evictions_total{kind="quota"}`: 7,
		`apimgw_policy_limit_max_keys`:                          65536,
	}
	for k, v := range want {
		if got, ok := m[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
}
