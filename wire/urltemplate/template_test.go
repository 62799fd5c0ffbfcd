package urltemplate

import (
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"
)

var parseCases = []struct {
	tmpl   string
	params []string // nil: want an error
	errHas string
}{
	{tmpl: "/", params: []string{}},
	{tmpl: "/items", params: []string{}},
	{tmpl: "/items/", params: []string{}},
	{tmpl: "/users/{id}/orders/{orderId}", params: []string{"id", "orderId"}},
	{tmpl: "/files/{name}.json", params: []string{"name"}},
	{tmpl: "/v{version}/items", params: []string{"version"}},
	{tmpl: "/{a}-{b}", params: []string{"a", "b"}},
	{tmpl: "/*", params: []string{}},
	{tmpl: "/static/*", params: []string{}},
	{tmpl: "/files/{*path}", params: []string{"path"}},
	{tmpl: "/items?id={id}", params: []string{"id"}},
	{tmpl: "/customers/{cid}/orders/{oid}/?date={date}", params: []string{"cid", "oid", "date"}},
	{tmpl: "/search?format=json&q={q}", params: []string{"q"}},
	{tmpl: "/2.0/files/{file_id}/versions/{file_version_id}", params: []string{"file_id", "file_version_id"}},
	{tmpl: "items", errHas: "does not start with /"},
	{tmpl: "", errHas: "does not start with /"},
	{tmpl: "/a//b", errHas: "empty path segment"},
	{tmpl: "/a/{b", errHas: "unclosed {"},
	{tmpl: "/a/b}", errHas: "unmatched }"},
	{tmpl: "/a/{}", errHas: "empty name"},
	{tmpl: "/a/{x}/{x}", errHas: "appears twice"},
	{tmpl: "/{a}{b}", errHas: "touch"},
	{tmpl: "/{*rest}/tail", errHas: "must be the last"},
	{tmpl: "/*/tail", errHas: "must be the last"},
	{tmpl: "/x{*rest}", errHas: "whole segment"},
	{tmpl: "/a*", errHas: "only a whole last segment"},
	{tmpl: "/a#frag", errHas: "fragment"},
	{tmpl: "/a?", errHas: "empty query part"},
	{tmpl: "/a?x", errHas: "not name=value"},
	{tmpl: "/a?x={y}&", errHas: "empty query parameter"},
	{tmpl: "/a?x=a{y}", errHas: "mixes text"},
	{tmpl: "/a?{x}={y}", errHas: "cannot be a template parameter"},
	{tmpl: "/a?x={*y}", errHas: "wildcard"},
	{tmpl: "/a/{b c}", errHas: "name holds"},
	{tmpl: "/" + strings.Repeat("{p}x", 1), params: []string{"p"}},
	{tmpl: "/{p0}/{p1}/{p2}/{p3}/{p4}/{p5}/{p6}/{p7}/{p8}/{p9}/{p10}/{p11}/{p12}/{p13}/{p14}/{p15}/{p16}", errHas: "more than 16"},
}

func TestParse(t *testing.T) {
	for _, tc := range parseCases {
		tp, err := Parse(tc.tmpl)
		if tc.params == nil {
			if err == nil {
				t.Errorf("Parse(%q): no error, want one containing %q", tc.tmpl, tc.errHas)
				continue
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("Parse(%q) = %v, want ErrInvalid containing %q", tc.tmpl, err, tc.errHas)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.tmpl, err)
			continue
		}
		got := tp.Params()
		if got == nil {
			got = []string{}
		}
		if !reflect.DeepEqual(got, tc.params) {
			t.Errorf("Parse(%q).Params() = %q, want %q", tc.tmpl, got, tc.params)
		}
		if tp.String() != tc.tmpl {
			t.Errorf("String() = %q", tp.String())
		}
	}
}

func TestMatch(t *testing.T) {
	cases := []struct {
		tmpl, path, query string
		want              map[string]string // nil: no match
		rest              string            // the wildcard's remaining path
	}{
		{"/", "", "", map[string]string{}, ""},
		{"/", "/", "", map[string]string{}, ""},
		{"/", "/x", "", nil, ""},
		{"/items", "/items", "", map[string]string{}, ""},
		{"/items", "/ITEMS/", "", map[string]string{}, ""},
		{"/items", "/items/1", "", nil, ""},
		{"/items", "/item", "", nil, ""},
		{"/items/{id}", "/items/42", "", map[string]string{"id": "42"}, ""},
		{"/items/{id}", "/items/42/", "", map[string]string{"id": "42"}, ""},
		{"/items/{id}", "/items/", "", nil, ""},
		{"/items/{id}", "/items", "", nil, ""},
		{"/items/{id}", "/items/4/2", "", nil, ""},
		{"/files/{name}.json", "/files/report.json", "", map[string]string{"name": "report"}, ""},
		{"/files/{name}.json", "/files/a.b.JSON", "", map[string]string{"name": "a.b"}, ""},
		{"/files/{name}.json", "/files/.json", "", nil, ""},
		{"/files/{name}.json", "/files/report.xml", "", nil, ""},
		{"/v{version}/items", "/v2/items", "", map[string]string{"version": "2"}, ""},
		{"/v{version}/items", "/v/items", "", nil, ""},
		{"/{a}-{b}", "/x-y-z", "", map[string]string{"a": "x", "b": "y-z"}, ""},
		{"/{a}-{b}.{c}", "/x-y.tar.gz", "", map[string]string{"a": "x", "b": "y", "c": "tar.gz"}, ""},
		{"/pre{a}mid{b}post", "/preXmidYmidZpost", "", map[string]string{"a": "X", "b": "YmidZ"}, ""},
		{"/*", "", "", map[string]string{}, ""},
		{"/*", "/", "", map[string]string{}, ""},
		{"/*", "/anything/at/all", "", map[string]string{}, "anything/at/all"},
		{"/static/*", "/static", "", map[string]string{}, ""},
		{"/static/*", "/static/css/a.css", "", map[string]string{}, "css/a.css"},
		{"/static/*", "/statics/a", "", nil, ""},
		{"/files/{*path}", "/files/a/b/c.txt", "", map[string]string{"path": "a/b/c.txt"}, "a/b/c.txt"},
		{"/files/{*path}", "/files", "", map[string]string{"path": ""}, ""},
		{"/items?id={id}", "/items", "id=7&x=1", map[string]string{"id": "7"}, ""},
		{"/items?id={id}", "/items", "x=1&id=7", map[string]string{"id": "7"}, ""},
		{"/items?id={id}", "/items", "id=", map[string]string{"id": ""}, ""},
		{"/items?id={id}", "/items", "idx=7", nil, ""},
		{"/items?id={id}", "/items", "", nil, ""},
		{"/search?format=json&q={q}", "/search", "q=go&format=json", map[string]string{"q": "go"}, ""},
		{"/search?format=json&q={q}", "/search", "q=go&format=xml", nil, ""},
		// REST API OperationContract's example template.
		{"/customers/{cid}/orders/{oid}/?date={date}", "/customers/1/orders/2", "date=2020-01-01",
			map[string]string{"cid": "1", "oid": "2", "date": "2020-01-01"}, ""},
	}
	for _, tc := range cases {
		tp, err := Parse(tc.tmpl)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.tmpl, err)
		}
		var m Match
		ok := tp.Match(tc.path, tc.query, &m)
		if ok != (tc.want != nil) {
			t.Errorf("%q.Match(%q, %q) = %v, want %v", tc.tmpl, tc.path, tc.query, ok, tc.want != nil)
			continue
		}
		if !ok {
			continue
		}
		got := map[string]string{}
		for i, n := range tp.Params() {
			got[n] = m.Value(tp, i, tc.path, tc.query)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q.Match(%q, %q) params = %q, want %q", tc.tmpl, tc.path, tc.query, got, tc.want)
		}
		if tp.Wildcard() {
			if rest := tc.path[m.Rest:]; rest != tc.rest {
				t.Errorf("%q.Match(%q): rest %q, want %q", tc.tmpl, tc.path, rest, tc.rest)
			}
		} else if m.Rest != -1 {
			t.Errorf("%q: Rest = %d without a wildcard", tc.tmpl, m.Rest)
		}
	}
}

// TestPrecedence picks, among templates that all match a request, the most
// specific one the way APIM does: literal segments over text around
// parameters, over parameters, over the wildcard. The cases come from APIM's
// documentation: "Add an API manually"
// (https://learn.microsoft.com/azure/api-management/add-api-manually) builds
// one API on httpbin with the operations GET /get, GET /status/{code} and the
// wildcard GET /*, and calls /get, /status/418 and /headers through them; the
// REST API's OperationContract.urlTemplate example is
// /customers/{cid}/orders/{oid}/?date={date}; "What is API Management Context
// Request MatchedParameters?" (learn.microsoft.com archive, David Burg's blog)
// uses /user/{uid}/credentials?include={include}; "API import restrictions
// and known issues"
// (https://learn.microsoft.com/azure/api-management/api-management-api-import-restrictions)
// says operations are "discriminated by both path and query parameters".
func TestPrecedence(t *testing.T) {
	ops := []string{
		"/get", "/status/{code}", "/*",
		"/customers/{cid}/orders/{oid}/?date={date}", "/customers/{cid}/orders/{oid}",
		"/customers/{cid}/orders/latest",
		"/user/{uid}/credentials?include={include}", "/user/{uid}/credentials", "/user/me/credentials",
		"/files/{name}.json", "/files/{name}", "/files/{*path}", "/files/index.json",
		"/v{version}/items", "/{anything}/items",
	}
	cases := []struct{ path, query, want string }{
		{"/get", "", "/get"},
		{"/status/418", "", "/status/{code}"},
		{"/headers", "", "/*"},
		{"/status/418/extra", "", "/*"},
		{"/customers/1/orders/2", "date=today", "/customers/{cid}/orders/{oid}/?date={date}"},
		{"/customers/1/orders/2", "", "/customers/{cid}/orders/{oid}"},
		{"/customers/1/orders/latest", "date=today", "/customers/{cid}/orders/latest"},
		{"/user/5/credentials", "include=password&hash=true", "/user/{uid}/credentials?include={include}"},
		{"/user/5/credentials", "hash=true", "/user/{uid}/credentials"},
		{"/user/me/credentials", "include=password", "/user/me/credentials"},
		{"/files/index.json", "", "/files/index.json"},
		{"/files/report.json", "", "/files/{name}.json"},
		{"/files/report.xml", "", "/files/{name}"},
		{"/files/a/b.json", "", "/files/{*path}"},
		{"/files", "", "/files/{*path}"},
		{"/v2/items", "", "/v{version}/items"},
		{"/x2/items", "", "/{anything}/items"},
	}
	var tps []*Template
	for _, o := range ops {
		tp, err := Parse(o)
		if err != nil {
			t.Fatal(err)
		}
		tps = append(tps, tp)
	}
	// Any input order gives the same answers.
	for round := 0; round < 2; round++ {
		sorted := append([]*Template(nil), tps...)
		if round == 1 {
			for i, j := 0, len(sorted)-1; i < j; i, j = i+1, j-1 {
				sorted[i], sorted[j] = sorted[j], sorted[i]
			}
		}
		sort.SliceStable(sorted, func(i, j int) bool { return Compare(sorted[i], sorted[j]) < 0 })
		for _, tc := range cases {
			got := ""
			var m Match
			for _, tp := range sorted {
				if tp.Match(tc.path, tc.query, &m) {
					got = tp.String()
					break
				}
			}
			if got != tc.want {
				t.Errorf("round %d: %s?%s routed to %q, want %q", round, tc.path, tc.query, got, tc.want)
			}
		}
	}
}

func TestShape(t *testing.T) {
	same := [][2]string{
		{"/Users/{id}", "/users/{uid}"},
		{"/a?x={x}&y=1", "/a?y=1&x={z}"},
		{"/files/{*p}", "/files/*"},
		{"/a/", "/a"},
	}
	for _, p := range same {
		a, _ := Parse(p[0])
		b, _ := Parse(p[1])
		if a.Shape() != b.Shape() {
			t.Errorf("Shape(%q) = %q, Shape(%q) = %q: want equal", p[0], a.Shape(), p[1], b.Shape())
		}
	}
	a, _ := Parse("/a/{x}")
	b, _ := Parse("/a/{x}.json")
	if a.Shape() == b.Shape() {
		t.Errorf("different templates share the shape %q", a.Shape())
	}
}

func TestMatchAllocs(t *testing.T) {
	tp, err := Parse("/files/{dir}/v{version}/{name}.json?format={f}")
	if err != nil {
		t.Fatal(err)
	}
	var m Match
	if n, where := mallocs(1000, func() {
		if !tp.Match("/files/docs/v2/report.json", "format=full&x=1", &m) {
			t.Fatal("no match")
		}
	}); n != 0 {
		t.Errorf("Match: %d allocations in 1000 calls, want 0:\n%s", n, where)
	}
}

func BenchmarkMatch(b *testing.B) {
	tp, _ := Parse("/files/{dir}/v{version}/{name}.json?format={f}")
	var m Match
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		tp.Match("/files/docs/v2/report.json", "format=full&x=1", &m)
	}
}

func FuzzParseMatch(f *testing.F) {
	for _, tc := range parseCases {
		f.Add(tc.tmpl, "/files/a/b.json", "id=1&x=2")
	}
	f.Fuzz(func(t *testing.T, tmpl, path, query string) {
		tp, err := Parse(tmpl)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		_ = tp.Shape()
		var m Match
		if tp.Match(path, query, &m) {
			for i := range tp.Params() {
				_ = m.Value(tp, i, path, query) // in range, or this panics
			}
		}
	})
}
