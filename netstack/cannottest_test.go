package netstack

import (
	"os"
	"testing"
)

// cannotTest stops a test that cannot run here (a missing /proc file, a low fd
// limit): it fails when CI is set (.ci/run sets CI=true: a test that never
// runs proves nothing) and is skipped, saying what was not tested, otherwise.
func cannotTest(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("cannot run under CI: "+format, args...)
	}
	t.Skipf("NOT TESTED: "+format, args...)
}
