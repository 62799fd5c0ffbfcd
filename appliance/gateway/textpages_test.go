package gateway

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apimgw/apimgw/internal/testenv"
)

// TestReleaseBinaryPages: the executable's read-only mappings are advised
// (text and read-only data: several MiB for this test binary), its
// file-backed RSS drops, and the code and data keep working afterwards
// (the pages come back from the page cache as they are used). The
// environment knob turns it off.
func TestReleaseBinaryPages(t *testing.T) {
	before := testenv.RSSFileKiB(t)
	n, err := releaseBinaryPages()
	if err != nil {
		t.Fatal(err)
	}
	after := testenv.RSSFileKiB(t)
	t.Logf("advised %d KiB of mappings; RssFile %d → %d KiB", n/1024, before, after)
	if n < 1<<20 {
		t.Errorf("advised %d bytes; want the binary's read-only mappings (MiB)", n)
	}
	if after >= before {
		t.Errorf("RssFile %d KiB after, %d before: not released", after, before)
	}
	// Everything still runs: read-only data (a string table) and code.
	if got := strconv.Quote("ä\n"); got != `"ä\n"` {
		t.Errorf("strconv.Quote after release: %s", got)
	}
	t.Setenv("APIMGW_KEEP_BINARY_PAGES", "1")
	if n, err := releaseBinaryPages(); n != 0 || err != nil {
		t.Errorf("with APIMGW_KEEP_BINARY_PAGES=1: %d, %v; want 0, nil", n, err)
	}
}

// TestIdleRelease: APIMGW_IDLE_RELEASE gives telemetry's idle period;
// unset is the pipeline's default (0), and a value that is not a positive
// duration is refused with a message naming it (the gateway logs it and
// keeps the default).
func TestIdleRelease(t *testing.T) {
	for _, c := range []struct {
		env  string
		want time.Duration
		err  bool
	}{{"", 0, false}, {"1s", time.Second, false}, {"250ms", 250 * time.Millisecond, false}, {"0s", 0, true}, {"-1s", 0, true}, {"soon", 0, true}} {
		t.Setenv("APIMGW_IDLE_RELEASE", c.env)
		d, err := idleRelease()
		if d != c.want || (err != nil) != c.err {
			t.Errorf("APIMGW_IDLE_RELEASE=%q: %v, %v; want %v, error %v", c.env, d, err, c.want, c.err)
		}
		if err != nil && !strings.Contains(err.Error(), strconv.Quote(c.env)) {
			t.Errorf("APIMGW_IDLE_RELEASE=%q: error %q does not name the value", c.env, err)
		}
	}
}
