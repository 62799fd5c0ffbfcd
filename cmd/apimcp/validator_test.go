package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apimgw/apimgw/controlplane"
)

func TestCompilerValidator(t *testing.T) {
	v := compilerValidator{}
	base := controlplane.PolicyDoc{Name: "/apis/a/policies/policy", Scope: "api",
		NamedValues: map[string]string{"env": "prod", "pw": "s3cret"}, Secret: map[string]bool{"pw": true},
		Fragments: map[string]string{"f1": `<fragment><set-header name="x" exists-action="override"><value>1</value></set-header></fragment>`},
		Backends:  map[string]string{"b1": "http://127.0.0.1:9"}}
	cases := []struct {
		name, scope, xml string
		want             string // "" = accepted; else a substring of the first problem
	}{
		{"ok", "api", `<policies><inbound><base/><set-header name="e" exists-action="override"><value>{{env}}</value></set-header></inbound></policies>`, ""},
		{"fragment include", "operation", `<policies><inbound><base/><include-fragment fragment-id="f1"/></inbound></policies>`, ""},
		{"rate limit", "operation", `<policies><inbound><rate-limit calls="2" renewal-period="10"/></inbound></policies>`, ""},
		{"bad number", "operation", "<policies>\n<inbound>\n<rate-limit calls=\"x\" renewal-period=\"10\"/></inbound></policies>", "rate-limit"},
		{"unknown element", "api", `<policies><inbound><frobnicate/></inbound></policies>`, "frobnicate"},
		{"fragment ok", "fragment", `<fragment><set-header name="y" exists-action="override"><value>{{env}}</value></set-header></fragment>`, ""},
		{"fragment root", "fragment", `<policies/>`, "fragment"},
		{"syntax", "global", `<policies><inbound>`, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := base
			doc.Scope, doc.XML = c.scope, c.xml
			probs := v.ValidatePolicy(doc)
			if c.name == "syntax" {
				if len(probs) == 0 {
					t.Fatal("unclosed document accepted")
				}
				return
			}
			if c.want == "" {
				if len(probs) != 0 {
					t.Fatalf("refused: %+v", probs)
				}
				return
			}
			if len(probs) == 0 {
				t.Fatal("accepted")
			}
			p := probs[0]
			if !strings.Contains(p.Element+" "+p.Message, c.want) || p.Line == 0 {
				t.Fatalf("problem %+v, want %q with a position", p, c.want)
			}
			for _, pr := range probs {
				if strings.Contains(pr.Message, "s3cret") {
					t.Fatal("secret in a message")
				}
			}
		})
	}
}

// TestAPIOpsPoliciesCompile reports which sample APIOps policies the
// compiler accepts; it fails only if one is refused without a position.
func TestAPIOpsPoliciesCompile(t *testing.T) {
	dir := sharedDir(t, "corpus/apiops-sample")
	v := compilerValidator{}
	doc := controlplane.PolicyDoc{Scope: "api", NamedValues: map[string]string{"environment-name": "x", "allowed-ip-address": "10.0.0.1",
		"intranet-proxy-url": "http://127.0.0.1", "rewrite-search-term": "y"}, Fragments: map[string]string{}, Backends: map[string]string{"backend1": "http://127.0.0.1", "backend2": "http://127.0.0.1"}}
	frags, _ := filepath.Glob(filepath.Join(dir, "policy fragments", "*", "policy.xml"))
	for _, f := range frags {
		b, _ := os.ReadFile(f)
		doc.Fragments[filepath.Base(filepath.Dir(f))] = string(b)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*", "policy.xml"))
	more, _ := filepath.Glob(filepath.Join(dir, "apis", "*", "operations", "*", "policy.xml"))
	files = append(append(files, filepath.Join(dir, "policy.xml")), more...)
	if len(files) < 10 {
		t.Fatalf("only %d policy.xml files under %s, want the sample's 10 or more", len(files), dir)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d := doc
		d.Name, d.XML = f, string(b)
		if strings.Contains(f, "policy fragments") {
			d.Scope = "fragment"
		}
		for _, p := range v.ValidatePolicy(d) {
			t.Logf("%s:%d:%d: <%s> %s", strings.TrimPrefix(f, dir+"/"), p.Line, p.Col, p.Element, p.Message)
			if p.Line == 0 {
				t.Errorf("problem without a position: %+v", p)
			}
		}
	}
}
