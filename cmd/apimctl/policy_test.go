package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPolicyCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.xml")
	bad := filepath.Join(dir, "bad.xml")
	frag := filepath.Join(dir, "frag.xml")
	os.WriteFile(good, []byte(`<policies><inbound><base/><set-header name="x" exists-action="override"><value>@(context.Request.Method == "GET" ? "{{nv}}" : "b")</value></set-header><include-fragment fragment-id="f"/></inbound></policies>`), 0o644)
	os.WriteFile(bad, []byte("<policies>\n  <inbound>\n    <xsl-transform/>\n  </inbound>\n</policies>"), 0o644)
	os.WriteFile(frag, []byte(`<fragment><set-variable name="a" value="1"/></fragment>`), 0o644)
	cases := []struct {
		args []string
		code int
		out  []string
	}{
		{[]string{"check", good}, 0, []string{good + ": OK"}},
		{[]string{"check", "--fragment", "f=" + frag, good, frag}, 0, []string{good + ": OK", frag + ": OK"}},
		{[]string{"check", good, bad}, 1, []string{good + ": OK", bad + ":3:5: <xsl-transform>: policy <xsl-transform> is not supported"}},
		{[]string{"check", filepath.Join(dir, "missing.xml")}, 1, []string{"missing.xml: open"}},
		{[]string{"check"}, 2, nil},
		{[]string{"lint", good}, 2, nil},
	}
	for _, tc := range cases {
		var out, errb bytes.Buffer
		code := runPolicyTo(tc.args, &out, &errb)
		if code != tc.code {
			t.Errorf("%v: exit %d, want %d (%s%s)", tc.args, code, tc.code, out.String(), errb.String())
		}
		for _, want := range tc.out {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%v: output %q lacks %q", tc.args, out.String(), want)
			}
		}
	}
}
