// Package testenv finds what the tests read from outside the repository: the
// shared corpus beside the checkout (../shared). It is imported by _test.go
// files only, never by a binary.
package testenv

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// SharedDir returns ../shared/<rel> beside the repository root: the corpus the
// tests read in place, never a path of one machine. When it is absent the test
// fails if CI is set (.ci/run sets CI=true: a test that never runs proves
// nothing) and is skipped with a message saying what did not run otherwise.
func SharedDir(t testing.TB, rel string) string {
	t.Helper()
	d := filepath.Join(RepoRoot(t), "..", "shared", filepath.FromSlash(rel))
	if _, err := os.Stat(d); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing and CI is set, so this test may not be skipped: put the shared folder beside the repository (../shared)", d)
		}
		t.Skipf("NOT TESTED: %s is missing; put the shared folder beside the repository (../shared)", d)
	}
	return d
}

// RepoRoot walks up from the working directory to the directory with go.mod.
func RepoRoot(t testing.TB) string {
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

// RSSFileKiB is this process's file-backed resident memory in KiB (RssFile
// in /proc/self/status); the test fails when it cannot be read.
func RSSFileKiB(t testing.TB) int64 {
	t.Helper()
	return ProcStatusKiB(t, "self", "RssFile:")
}

// RSSAnonKiB is this process's anonymous resident memory in KiB (RssAnon in
// /proc/self/status); the test fails when it cannot be read.
func RSSAnonKiB(t testing.TB) int64 {
	t.Helper()
	return ProcStatusKiB(t, "self", "RssAnon:")
}

// ProcStatusKiB reads one "Name: N kB" line (name with its colon, e.g.
// "RssFile:") of /proc/PID/status; pid is a process ID or "self". The test
// fails when it cannot be read.
func ProcStatusKiB(t testing.TB, pid, name string) int64 {
	t.Helper()
	path := "/proc/" + pid + "/status"
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no %s in %s", name, path)
	return 0
}
