package status

import "testing"

// TestPolicyMetrics: the built-in cache's counters and emit-metric's series
// are on /metrics, dimensions as labels with Prometheus-safe names.
func TestPolicyMetrics(t *testing.T) {
	f := hybridFacts()
	f.Policies = PolicyFacts{CacheEntries: 3, CacheBytes: 900, CacheBudget: 1 << 20, CacheHits: 7, CacheMisses: 2, CacheEvictions: 1,
		Metrics: []PolicyMetric{{Namespace: "shop", Name: "orders", Dimensions: [][2]string{{"API ID", "petstore"}, {"Client", "a"}}, Sum: 5, Count: 2}}}
	m := parseExposition(t, scrape(t, newTestServer(t, &fakeSource{facts: f}, nil)))
	for k, v := range map[string]float64{
		`apimgw_policy_cache_entries`:         3,
		`apimgw_policy_cache_bytes`:           900,
		`apimgw_policy_cache_hits_total`:      7,
		`apimgw_policy_cache_evictions_total`: 1,
		`apimgw_emitted_metric_sum{namespace="shop",metric="orders",api_id="petstore",client="a"}`:   5,
		`apimgw_emitted_metric_count{namespace="shop",metric="orders",api_id="petstore",client="a"}`: 2,
	} {
		if got, ok := m[k]; !ok || got != v {
			t.Errorf("%s = %v (%v), want %v", k, got, ok, v)
		}
	}
}
