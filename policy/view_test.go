package policy

import "testing"

func TestHeaders(t *testing.T) {
	var h Headers
	h.Add("Accept", "a")
	h.Add("X-A", "1")
	h.Add("accept", "b")
	if v, _ := h.Joined("ACCEPT"); v != "a,b" {
		t.Fatalf("joined %q", v)
	}
	h.Set("Accept", "c")
	if len(h.List) != 2 || h.List[0] != (Header{"Accept", "c"}) {
		t.Fatalf("set %v", h.List)
	}
	h.Del("x-a")
	if h.Has("X-A") || len(h.List) != 1 {
		t.Fatalf("del %v", h.List)
	}
}

func TestQueryAndBackendURL(t *testing.T) {
	c := NewContext()
	ParseQuery("a=1&b=x+y&c=%2Fz&&d&e=%zz", &c.Request.Query)
	want := []Param{{"a", "1"}, {"b", "x y"}, {"c", "/z"}, {"d", ""}, {"e", "%zz"}}
	if len(c.Request.Query.List) != len(want) {
		t.Fatalf("%v", c.Request.Query.List)
	}
	for i := range want {
		if c.Request.Query.List[i] != want[i] {
			t.Fatalf("%d: %v, want %v", i, c.Request.Query.List[i], want[i])
		}
	}
	c.Upstream.BaseURL = "http://b:81/api/"
	c.Request.Path = "/items/1"
	if got := string(c.AppendBackendURL(nil)); got != "http://b:81/api/items/1?a=1&b=x%20y&c=%2Fz&d=&e=%25zz" {
		t.Fatalf("url %q", got)
	}
	buf := make([]byte, 0, 256)
	if got, where := mallocs(1000, func() { buf = c.AppendBackendURL(buf[:0]) }); got != 0 {
		t.Fatalf("AppendBackendURL: %d allocations in 1000 calls, want 0:\n%s", got, where)
	}
}
