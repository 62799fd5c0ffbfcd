package policy

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/apimgw/apimgw/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// TestCorpusGolden checks every document of the shared APIM policy corpus
// (../shared/corpus/apim-policy-snippets from the repository root) and
// compares the report with testdata/corpus.golden. The corpus is read in place,
// never copied. Run with -update after a deliberate change.
func TestCorpusGolden(t *testing.T) {
	dir := corpusDir(t)
	files := corpusFiles(t)
	sort.Strings(files)
	var out bytes.Buffer
	ok := 0
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, f)
		err = Check(Options{Offline: true}, rel, src)
		if err == nil {
			ok++
		}
		WriteCheck(&out, rel, err)
	}
	out.WriteString(strings.Repeat("-", 20) + "\n")
	out.WriteString(summary(ok, len(files)))
	golden := filepath.Join("testdata", "corpus.golden")
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run CorpusGolden -update to create it)", err)
	}
	// docs/policies.md reports the same count.
	line := "compiled " + itoa(ok) + " of " + itoa(len(files)) + " documents"
	if d, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "docs", "policies.md")); err != nil || !bytes.Contains(d, []byte(line)) {
		t.Errorf("docs/policies.md does not say %q (%v): update it with the corpus results", line, err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("corpus report differs from %s (go test -run CorpusGolden -update after a deliberate change):\n%s", golden, lineDiff(string(want), out.String()))
	}
}

func summary(ok, total int) string {
	return "compiled " + itoa(ok) + " of " + itoa(total) + " documents\n"
}

func itoa(n int) string { return strconv.Itoa(n) }

func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out strings.Builder
	in := map[string]bool{}
	for _, l := range al {
		in[l] = true
	}
	inB := map[string]bool{}
	for _, l := range bl {
		inB[l] = true
		if !in[l] {
			out.WriteString("+ " + l + "\n")
		}
	}
	for _, l := range al {
		if !inB[l] {
			out.WriteString("- " + l + "\n")
		}
	}
	return out.String()
}
