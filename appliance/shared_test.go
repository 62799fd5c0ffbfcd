package appliance

import (
	"os"
	"path/filepath"
	"testing"
)

// sharedDir returns ../shared/<rel> beside the repository root: the corpus the
// tests read in place, never a path of one machine. When it is absent the test
// fails if CI is set (.ci/run sets CI=true: a test that never runs proves
// nothing) and is skipped with a message saying what did not run otherwise.
func sharedDir(t testing.TB, rel string) string {
	t.Helper()
	d := filepath.Join(repoRoot(t), "..", "shared", filepath.FromSlash(rel))
	if _, err := os.Stat(d); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing and CI is set, so this test may not be skipped: put the shared folder beside the repository (../shared)", d)
		}
		t.Skipf("NOT TESTED: %s is missing; put the shared folder beside the repository (../shared)", d)
	}
	return d
}

// repoRoot walks up from the working directory to the directory with go.mod.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("repository root (go.mod) not found above the working directory")
		}
		dir = parent
	}
}
