package policy

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"testing"
)

// TestReadsBody: only pipelines whose policies or expressions read a body ask
// for it to be buffered.
func TestReadsBody(t *testing.T) {
	cases := []struct {
		doc       string
		req, resp bool
	}{
		{`<policies><inbound><set-header name="a" exists-action="override"><value>b</value></set-header><set-body>literal</set-body></inbound></policies>`, false, false},
		{`<policies><inbound><find-and-replace from="a" to="b"/></inbound></policies>`, true, false},
		{`<policies><outbound><find-and-replace from="a" to="b"/></outbound></policies>`, false, true},
	}
	for i, c := range cases {
		cp := NewCompiler(Options{})
		p, err := cp.Compile(ScopeOperation, Source{Name: "d", XML: []byte(c.doc)})
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		pl := cp.Link(nil, nil, nil, p)
		if pl.ReadsRequestBody() != c.req || pl.ReadsResponseBody() != c.resp {
			t.Errorf("case %d: reads request %v response %v, want %v %v", i, pl.ReadsRequestBody(), pl.ReadsResponseBody(), c.req, c.resp)
		}
	}
}

// TestNoteBodyReads: expressions are marked by the bodies their source
// mentions (whatever the expression language makes of them).
func TestNoteBodyReads(t *testing.T) {
	for _, c := range []struct {
		src  string
		want bodyNeeds
	}{
		{`context.Request.Headers.GetValueOrDefault("a")`, 0},
		{`context.Request.Body.As<string>(preserveContent: true)`, readsRequest},
		{`{ var b = context.Response.Body.As<JObject>(); return b.ToString(); }`, readsResponse},
		{`((IResponse)context.Variables["r"]).Body.As<JObject>()`, 0},
	} {
		var b builder
		b.noteBodyReads(c.src)
		if b.reads != c.want {
			t.Errorf("%s: %b, want %b", c.src, b.reads, c.want)
		}
	}
}

func TestFindAndReplace(t *testing.T) {
	pl := compilePipeline(t, Options{}, op(`<policies><inbound><find-and-replace from="cat" to="@(&quot;dog&quot;)"/></inbound>`+
		`<outbound><find-and-replace from="a" to=""/></outbound></policies>`))
	c := newCtx("POST", "/")
	c.Request.Body, c.Request.Buffered = []byte("cat and cat"), true
	if r := pl.Run(c, Inbound); r.Outcome != Continue || string(c.Request.Body) != "dog and dog" {
		t.Fatalf("inbound: %v %q", r, c.Request.Body)
	}
	c.Response.StatusCode, c.Response.Body, c.Response.BodyBuffered = 200, []byte("banana"), true
	if r := pl.Run(c, Outbound); r.Outcome != Continue || string(c.Response.Body) != "bnn" || !c.Response.BodySet {
		t.Fatalf("outbound: %v %q", r, c.Response.Body)
	}
}

func TestDecodeBody(t *testing.T) {
	var gz, zl bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write([]byte("hello gzip"))
	w.Close()
	z := zlib.NewWriter(&zl)
	z.Write([]byte("hello deflate"))
	z.Close()
	for _, c := range []struct {
		enc  string
		in   []byte
		want string
		ok   bool
		err  error
	}{
		{"", []byte("plain"), "plain", true, nil},
		{"gzip", gz.Bytes(), "hello gzip", true, nil},
		{"deflate", zl.Bytes(), "hello deflate", true, nil},
		{"br", []byte("??"), "??", false, nil},
		{"gzip", []byte("not gzip"), "", true, ErrBodyEncoding},
	} {
		out, ok, err := DecodeBody(c.enc, c.in, 1<<20)
		if string(out) != c.want || ok != c.ok || !errors.Is(err, c.err) {
			t.Errorf("%s: %q %v %v", c.enc, out, ok, err)
		}
	}
	big := bytes.Repeat([]byte("a"), 10000)
	gz.Reset()
	w = gzip.NewWriter(&gz)
	w.Write(big)
	w.Close()
	if _, _, err := DecodeBody("gzip", gz.Bytes(), 1000); !errors.Is(err, ErrBodyTooLarge) {
		t.Errorf("gzip bomb: %v", err)
	}
}
