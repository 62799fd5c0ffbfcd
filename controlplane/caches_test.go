package controlplane

import (
	"strings"
	"testing"
	"time"

	"github.com/apimgw/apimgw/wire"
)

// TestCaches: the caches resource is validated (400 naming the part of the
// connection string at fault, never echoing the password), shown with the
// password masked, kept across a restart, and the snapshot of each gateway
// carries the cache of its location, else the default one.
func TestCaches(t *testing.T) {
	ts := newTestServer(t)
	ts.seed() // gw1 in location "edge"
	ts.must(201, "PUT", "/gateways/gw2", props(map[string]any{"locationData": map[string]any{"name": "West Europe"}}))
	ts.must(201, "PUT", "/gateways/gw2/apis/echo", nil)

	for _, c := range []struct {
		body map[string]any
		want string
	}{
		{map[string]any{"useFromLocation": "default"}, "properties.connectionString: is required"},
		{map[string]any{"connectionString": "r:6380,password=s3cret"}, "properties.useFromLocation: is required"},
		{map[string]any{"connectionString": "r:6380,password=s3cret,colour=blue", "useFromLocation": "default"}, `unknown option \"colour\"`},
		{map[string]any{"connectionString": "r:99999,password=s3cret", "useFromLocation": "default"}, `port \"99999\"`},
		{map[string]any{"connectionString": "a:1,b:2,password=s3cret", "useFromLocation": "default"}, "only one Redis endpoint"},
		{map[string]any{"connectionString": "r:1,password=s3cret,ssl=maybe", "useFromLocation": "default"}, `ssl=\"maybe\"`},
		{map[string]any{"connectionString": "r:1,password=***", "useFromLocation": "default"}, "masked value"},
		{map[string]any{"connectionString": "r:1,password=" + strings.Repeat("x", 300), "useFromLocation": "default"}, "longer than 300"},
	} {
		r := ts.do("PUT", "/caches/bad", props(c.body))
		if r.status != 400 || !strings.Contains(string(r.body), c.want) || strings.Contains(string(r.body), "s3cret") {
			t.Errorf("PUT %v: %d %s (want 400 naming %s, without the password)", c.body, r.status, r.body, c.want)
		}
	}
	if r := ts.do("GET", "/caches/bad", nil); r.status != 404 {
		t.Fatalf("a refused cache was stored: %d", r.status)
	}

	ts.must(201, "PUT", "/caches/everywhere", props(map[string]any{"connectionString": "shared.redis:6380,password=s3cret,ssl=True,abortConnect=False",
		"useFromLocation": "default", "description": "all gateways"}))
	get := ts.must(200, "GET", "/caches/everywhere", nil)
	if s := string(get.body); strings.Contains(s, "s3cret") || !strings.Contains(s, `"connectionString":"shared.redis:6380,password=***,ssl=True,abortConnect=False"`) ||
		!strings.Contains(s, `"type":"Microsoft.ApiManagement/service/caches"`) || !strings.Contains(s, `"useFromLocation":"default"`) {
		t.Errorf("GET shows %s", s)
	}
	// Two caches for one location conflict.
	if r := ts.do("PUT", "/caches/again", props(map[string]any{"connectionString": "x:1", "useFromLocation": "Default"})); r.status != 409 {
		t.Errorf("a second default cache: %d %s", r.status, r.body)
	}
	ts.must(201, "PUT", "/caches/westeu", props(map[string]any{"connectionString": "weu.redis:6379,password=w3st", "useFromLocation": "west europe"}))

	snapCache := func(gw string) *wire.ExternalCache {
		t.Helper()
		return decodeSnap(t, ts.gwGet(ts.token(gw, time.Hour), wire.PathConfig).body).Cache
	}
	check := func(when string) {
		t.Helper()
		if c := snapCache("gw1"); c == nil || c.ID != "everywhere" || c.ConnectionString != "shared.redis:6380,password=s3cret,ssl=True,abortConnect=False" {
			t.Errorf("%s: gw1 (edge) has %+v, want the default cache with its real password", when, c)
		}
		if c := snapCache("gw2"); c == nil || c.ID != "westeu" || c.UseFromLocation != "west europe" {
			t.Errorf("%s: gw2 (West Europe) has %+v, want its location's cache", when, c)
		}
	}
	check("created")

	// A GET edited and sent back with the masked password keeps the password.
	ts.must(200, "PUT", "/caches/everywhere", props(map[string]any{"connectionString": "shared.redis:6380,password=***,ssl=True,abortConnect=False,syncTimeout=2000",
		"useFromLocation": "default"}))
	if c := snapCache("gw1"); c == nil || !strings.Contains(c.ConnectionString, "password=s3cret") || !strings.Contains(c.ConnectionString, "syncTimeout=2000") {
		t.Errorf("after a PUT with the masked password: %+v", c)
	}
	list := ts.must(200, "GET", "/caches", nil)
	if s := string(list.body); strings.Contains(s, "s3cret") || strings.Contains(s, "w3st") || strings.Count(s, `"name":`) != 2 {
		t.Errorf("LIST shows %s", s)
	}
	// If-Match on a stale ETag is refused.
	etag := get.header.Get("ETag")
	if r := ts.do("PUT", "/caches/everywhere", props(map[string]any{"connectionString": "x:1", "useFromLocation": "default"}), "If-Match", etag); r.status != 412 {
		t.Errorf("stale If-Match: %d", r.status)
	}
	ts.restart()
	if c := snapCache("gw1"); c == nil || c.ID != "everywhere" {
		t.Errorf("after a restart: %+v", c)
	}
	ts.must(200, "DELETE", "/caches/westeu", nil)
	if c := snapCache("gw2"); c == nil || c.ID != "everywhere" {
		t.Errorf("gw2 after its location's cache was deleted: %+v, want the default", c)
	}
	ts.must(200, "DELETE", "/caches/everywhere", nil)
	if c := snapCache("gw1"); c != nil {
		t.Errorf("no cache left, the snapshot has %+v", c)
	}
	if strings.Contains(ts.logs.String(), "s3cret") {
		t.Error("the connection string's password is in the log")
	}
}
