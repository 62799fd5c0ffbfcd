package policy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadTolerant(t *testing.T) {
	cases := []struct {
		name, src string
		check     func(t *testing.T, d *Document)
	}{
		{"raw quotes in attribute expression",
			`<policies><inbound><choose><when condition="@(context.Request.Method == "GET" && true)"/></choose></inbound></policies>`,
			func(t *testing.T, d *Document) {
				w := d.Root.Children[0].Children[0].Children[0]
				if a, _ := w.Attr("condition"); a.Value != `@(context.Request.Method == "GET" && true)` {
					t.Fatalf("condition = %q", a.Value)
				}
				if w.Pos != (Pos{1, 28}) {
					t.Fatalf("when at %v", w.Pos)
				}
			}},
		{"generics in text",
			"<policies>\n  <outbound><set-body>@(context.Response.Body.As<string>())</set-body></outbound></policies>",
			func(t *testing.T, d *Document) {
				b := d.Root.Children[0].Children[0]
				if b.Text != "@(context.Response.Body.As<string>())" || b.TextPos != (Pos{2, 23}) {
					t.Fatalf("text %q at %v", b.Text, b.TextPos)
				}
			}},
		{"block with strings, verbatim, interpolation, comments",
			`<fragment><set-body>@{ var a = ")}"; var b = @"x""}"; var c = $"{a + "}"}{{"; // })
 /* ) */ return '}' + a; }</set-body></fragment>`,
			func(t *testing.T, d *Document) {
				b := d.Root.Children[0]
				if !strings.HasSuffix(b.Text, "return '}' + a; }") {
					t.Fatalf("text %q", b.Text)
				}
			}},
		{"comment holding --",
			"<!-- a -- b --><policies><!-- x -- y --><inbound/></policies>",
			func(t *testing.T, d *Document) {
				if len(d.Root.Children) != 1 || d.Root.Children[0].Name != "inbound" {
					t.Fatalf("children %+v", d.Root.Children)
				}
			}},
		{"named values anywhere, entities decoded",
			`<policies><inbound><set-header name="{{hdr}}" exists-action="override"><value>{{v}} &amp; &lt;x&gt; a && b</value></set-header></inbound></policies>`,
			func(t *testing.T, d *Document) {
				sh := d.Root.Children[0].Children[0]
				if a, _ := sh.Attr("name"); a.Value != "{{hdr}}" {
					t.Fatalf("name %q", a.Value)
				}
				if v := sh.Children[0].Text; v != "{{v}} & <x> a && b" {
					t.Fatalf("value %q", v)
				}
			}},
		{"quot entity strings in expression",
			`<a x="@(b.Split(&quot;(&quot;))"/>`,
			func(t *testing.T, d *Document) {
				if d.Root.Attrs[0].Value != `@(b.Split("("))` {
					t.Fatalf("got %q", d.Root.Attrs[0].Value)
				}
			}},
		{"cdata",
			"<a><![CDATA[<x>&amp;]]></a>",
			func(t *testing.T, d *Document) {
				if d.Root.Text != "<x>&amp;" {
					t.Fatalf("got %q", d.Root.Text)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Read("t.xml", []byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, d)
		})
	}
}

func TestReadErrors(t *testing.T) {
	cases := []struct {
		src  string
		want string // substring of the error
		pos  Pos
	}{
		{"", "empty document", Pos{1, 1}},
		{"<a>", "never closed", Pos{1, 1}},
		{"<a></b>", "does not match", Pos{1, 4}},
		{"<a x=1/>", "must be quoted", Pos{1, 4}},
		{"<a>\n  <b x=\"@(foo(\"/></a>", "unterminated string", Pos{2, 15}},
		{"<a>\n<b>@{ return \"x; }</b></a>", "unterminated string", Pos{2, 14}},
		{"<a/>junk", "after the end", Pos{1, 5}},
		{"<!-- never", "unterminated comment", Pos{1, 1}},
		{"<a x=\"@(a])\"/>", "unbalanced", Pos{1, 10}},
		{"<a x='1' x='2'/>", "appears twice", Pos{1, 10}},
	}
	for _, tc := range cases {
		_, err := Read("f.xml", []byte(tc.src))
		var pe *Error
		if !errors.As(err, &pe) || !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrUnsupported) {
			t.Errorf("%q: err = %v, want *Error", tc.src, err)
			continue
		}
		if !strings.Contains(pe.Msg, tc.want) || pe.Pos != tc.pos || pe.File != "f.xml" {
			t.Errorf("%q: got %v at %v, want %q at %v", tc.src, pe.Msg, pe.Pos, tc.want, tc.pos)
		}
	}
}

// corpusDir is ../shared/corpus/apim-policy-snippets beside the repository
// root (see sharedDir).
func corpusDir(t testing.TB) string {
	return sharedDir(t, "corpus/apim-policy-snippets")
}

func corpusFiles(t testing.TB) []string {
	dir := corpusDir(t)
	var files []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".xml") {
			files = append(files, p)
		}
		return nil
	})
	if len(files) == 0 {
		t.Fatalf("no .xml files under %s", dir)
	}
	return files
}

func TestReadCorpus(t *testing.T) {
	for _, f := range corpusFiles(t) {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d, err := Read(filepath.Base(f), src)
		if err != nil {
			// This one document in the corpus is damaged (an expression cut
			// into pseudo-attributes); the reader must say where.
			if strings.HasPrefix(filepath.Base(f), "Call out to an HTTP endpoint") && strings.Contains(err.Error(), ":41:") {
				continue
			}
			t.Errorf("%v", err)
			continue
		}
		if d.Root.Name != "policies" && d.Root.Name != "fragment" {
			t.Errorf("%s: root <%s>", f, d.Root.Name)
		}
	}
}

func FuzzRead(f *testing.F) {
	f.Add([]byte(`<policies><inbound><set-header name="a"><value>@(context.Request.Headers.GetValueOrDefault("x", ""))</value></set-header></inbound></policies>`))
	f.Add([]byte(`<a x="@($"{b["c"]}")">@{ return @"q""}"; }</a>`))
	f.Add([]byte("<!-- -- --><a><![CDATA[x]]>&#x41;&#65;&bogus;</a>"))
	f.Add([]byte(`<a b='@("'")' c="@('\'')"/>`))
	f.Fuzz(func(t *testing.T, src []byte) {
		d, err := Read("fuzz.xml", src)
		if err == nil && d.Root == nil {
			t.Fatal("nil root without error")
		}
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error is not *Error: %v", err)
			}
		}
	})
}
