package gateway_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apimgw/apimgw/internal/testredis"
)

// The cache policies of the cache e2e API: /value stores ?store= under
// ?user= (caching-type external) and answers what a lookup finds; /page is a
// response cached with cache-lookup/cache-store (prefer-external).
const (
	valuePolicy = `<policies><inbound><base/>
<choose><when condition="@(context.Request.Url.Query.ContainsKey(&quot;store&quot;))">
  <cache-store-value key="@(&quot;k-&quot; + context.Request.Url.Query.GetValueOrDefault(&quot;user&quot;, &quot;&quot;))" value="@(context.Request.Url.Query.GetValueOrDefault(&quot;store&quot;, &quot;&quot;))" duration="60" caching-type="external"/>
</when></choose>
<cache-lookup-value key="@(&quot;k-&quot; + context.Request.Url.Query.GetValueOrDefault(&quot;user&quot;, &quot;&quot;))" variable-name="v" default-value="miss" caching-type="external"/>
<return-response><set-status code="200" reason="OK"/><set-body>@((string)context.Variables[&quot;v&quot;])</set-body></return-response>
</inbound><backend><base/></backend><outbound><base/></outbound></policies>`
	pagePolicy = `<policies><inbound><base/><cache-lookup vary-by-developer="false" vary-by-developer-groups="false"/></inbound>
<backend><base/></backend><outbound><base/><cache-store duration="60"/></outbound></policies>`
)

// externalCacheOf reads status.json's externalCache (nil if absent).
func externalCacheOf(t *testing.T, g *gwProc) *struct {
	ID   string `json:"id"`
	Up   bool   `json:"up"`
	Hits int64  `json:"hits"`
	Down int64  `json:"downMisses"`
} {
	t.Helper()
	resp, err := http.Get(g.status + "/status.json")
	if err != nil {
		t.Fatalf("status.json: %v", err)
	}
	defer resp.Body.Close()
	var f struct {
		ExternalCache *struct {
			ID   string `json:"id"`
			Up   bool   `json:"up"`
			Hits int64  `json:"hits"`
			Down int64  `json:"downMisses"`
		} `json:"externalCache"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&f); err != nil {
		t.Fatalf("status.json: %v", err)
	}
	return f.ExternalCache
}

func metricOf(t *testing.T, g *gwProc, name string) string {
	t.Helper()
	resp, err := http.Get(g.status + "/metrics")
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

// TestExternalCacheReplicasRedis: the real apimcp holds a caches resource
// (useFromLocation default) pointing at a real redis-server; two real apimgw
// replicas of one gateway get it in their snapshot. A value stored through
// one replica is found through the other, a response cached by one is
// served by both without reaching the backend. Redis killed: every
// request still answers 200 (lookups miss), status.json and /metrics say
// the cache is down; Redis restarted: stores and hits again.
func TestExternalCacheReplicasRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end with the real binaries")
	}
	bin := e2eBinaries(t)
	const password = "r3dis-pa55"
	srv := testredis.Start(t, "--requirepass", password)
	var backendCalls atomic.Int64
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := backendCalls.Add(1)
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "page %d", n)
	}))
	defer be.Close()

	cp := startCP(t, bin)
	defer func() {
		if t.Failed() {
			t.Logf("apimcp log:\n%s", cp.log)
		}
	}()
	cp.mustARM("PUT", "/caches/default", map[string]any{"properties": map[string]any{
		"connectionString": srv.Addr() + ",password=" + password + ",ssl=False,abortConnect=False", "useFromLocation": "default"}}, 200, 201)
	cp.mustARM("PUT", "/apis/cached", map[string]any{"properties": map[string]any{"displayName": "Cached", "path": "cached",
		"serviceUrl": be.URL, "protocols": []string{"http"}, "subscriptionRequired": false}}, 200, 201)
	for id, doc := range map[string]string{"value": valuePolicy, "page": pagePolicy} {
		cp.mustARM("PUT", "/apis/cached/operations/"+id, map[string]any{"properties": map[string]any{"displayName": id, "method": "GET", "urlTemplate": "/" + id}}, 200, 201)
		cp.mustARM("PUT", "/apis/cached/operations/"+id+"/policies/policy", map[string]any{"properties": map[string]any{"format": "rawxml", "value": doc}}, 200, 201)
	}
	cp.mustARM("PUT", "/gateways/gw1", map[string]any{"properties": map[string]any{"locationData": map[string]any{"name": "edge"}}}, 200, 201)
	cp.ctl("gateway", "assign", "gw1", "cached")
	var tok struct{ Value string }
	json.Unmarshal(cp.ctl("-o", "json", "gateway", "token", "gw1", "--expiry", "1h"), &tok)

	var replicas []*gwProc
	for i := 0; i < 2; i++ {
		g := newGW(t, bin, cp.URL, "gw1", tok.Value)
		defer func() {
			if t.Failed() {
				t.Logf("apimgw replica log:\n%s", g.log)
			}
		}()
		g.start()
		g.waitReady(15 * time.Second)
		replicas = append(replicas, g)
	}
	a, b := replicas[0], replicas[1]
	eventually(t, 20*time.Second, "both replicas use the external cache", func() bool {
		ea, eb := externalCacheOf(t, a), externalCacheOf(t, b)
		return ea != nil && eb != nil && ea.Up && eb.Up && ea.ID == "default"
	})
	get := func(g *gwProc, path string) string {
		t.Helper()
		resp, err := http.Get(g.data + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		return string(body)
	}

	// Values: stored through a, found through b.
	if v := get(b, "/cached/value?user=ann"); v != "miss" {
		t.Fatalf("before any store: %q", v)
	}
	// (Stored again on every try: on a loaded machine a round trip may time
	// out, which marks the cache down for a probe interval and skips the
	// store — by design.)
	eventually(t, 20*time.Second, "replica b finds what replica a stored", func() bool {
		get(a, "/cached/value?user=ann&store=token-1")
		return get(b, "/cached/value?user=ann") == "token-1"
	})
	// Responses: cached by one, served by both without the backend.
	if p := get(a, "/cached/page"); p != "page 1" {
		t.Fatalf("first page: %q", p)
	}
	eventually(t, 20*time.Second, "both replicas serve the same cached response without the backend", func() bool {
		before := backendCalls.Load()
		pa, pb := get(a, "/cached/page"), get(b, "/cached/page")
		return pa == pb && backendCalls.Load() == before
	})
	if h := metricOf(t, b, `apimgw_external_cache_lookups_total{cache="default",outcome="hit"}`); h == "" || h == "0" {
		t.Errorf("b's hit count in /metrics: %q", h)
	}

	// Redis killed: 200s keep flowing, lookups miss, the replicas say so.
	srv.Kill()
	for i := 0; i < 20; i++ {
		if v := get(b, "/cached/value?user=ann"); v != "miss" && v != "token-1" {
			t.Fatalf("while Redis dies: %q", v)
		}
	}
	eventually(t, 20*time.Second, "both replicas see the cache down", func() bool {
		return !externalCacheOf(t, a).Up && !externalCacheOf(t, b).Up
	})
	start := time.Now()
	for i := 0; i < 50; i++ {
		if v := get(b, "/cached/value?user=ann"); v != "miss" {
			t.Fatalf("Redis down: %q, want a miss", v)
		}
		if p := get(a, fmt.Sprintf("/cached/page?n=%d", i)); !strings.HasPrefix(p, "page ") {
			t.Fatalf("Redis down, page: %q", p)
		}
	}
	t.Logf("100 requests with Redis down in %v", time.Since(start))
	if got := metricOf(t, a, `apimgw_external_cache_up{cache="default"}`); got != "0" {
		t.Errorf("apimgw_external_cache_up = %q while Redis is down", got)
	}
	if ec := externalCacheOf(t, b); ec.Down == 0 {
		t.Errorf("b counted no lookups missed while down: %+v", ec)
	}
	resp, _ := http.Get(a.status + "/")
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "External cache default") || strings.Contains(string(page), password) {
		t.Errorf("the status page does not warn about the cache (or shows its password)")
	}

	// Restarted (empty): stores and hits again.
	srv.Restart()
	eventually(t, 20*time.Second, "both replicas use the cache again", func() bool {
		return externalCacheOf(t, a).Up && externalCacheOf(t, b).Up
	})
	eventually(t, 20*time.Second, "b finds a's value after the restart", func() bool {
		get(a, "/cached/value?user=bob&store=token-2")
		return get(b, "/cached/value?user=bob") == "token-2"
	})
	for _, g := range replicas {
		if strings.Contains(g.log.String(), password) {
			t.Error("the connection string's password is in a replica's log")
		}
	}
	if strings.Contains(cp.log.String(), password) {
		t.Error("the connection string's password is in apimcp's log")
	}
}

// A standalone snapshot (config.local.path) naming the external cache.
const cachedSnapshot = `{
  "protocolVersion": 1, "version": 1, "generatedAt": "2026-12-01T00:00:00Z", "checksum": "",
  "apis": [{"id": "cached", "path": "cached", "serviceUrl": "http://127.0.0.1:9", "protocols": ["http"], "subscriptionRequired": false,
    "subscriptionKeyParameterNames": {"header": "", "query": ""},
    "operations": [{"id": "value", "method": "GET", "urlTemplate": "/value", "policy": %q}]}],
  "products": [], "subscriptions": [], "policyFragments": [], "namedValues": [], "backends": [],
  "cache": {"id": "local", "connectionString": %q, "useFromLocation": "default"}
}`

// TestExternalCacheStandaloneReplicasRedis: two standalone apimgw replicas
// whose snapshot file names the same Redis share cache-*-value entries.
func TestExternalCacheStandaloneReplicasRedis(t *testing.T) {
	srv := testredis.Start(t)
	var ds []*daemon
	for i := 0; i < 2; i++ {
		d := newDaemon(t, "http://127.0.0.1:9", "")
		os.WriteFile(filepath.Join(d.dir, "snapshot.json"), []byte(fmt.Sprintf(cachedSnapshot, valuePolicy, srv.Addr()+",abortConnect=False")), 0o644)
		d.start()
		eventually(t, 10*time.Second, "the replica serves the snapshot", func() bool { return statusOf(t, d.data+"/status-0123456789abcdef") == 200 })
		ds = append(ds, d)
	}
	body := func(d *daemon, path string) string {
		resp, err := http.Get(d.data + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	eventually(t, 20*time.Second, "the other standalone replica finds the value", func() bool {
		body(ds[0], "/cached/value?user=ann&store=standalone")
		return body(ds[1], "/cached/value?user=ann") == "standalone"
	})
	if got := srv.Do("EXISTS", "apimgw:cache:k-ann"); got != "1" {
		t.Fatalf("EXISTS in Redis: %q\n%s", got, ds[0].logs())
	}
}
