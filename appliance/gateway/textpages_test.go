package gateway

import (
	"strconv"
	"testing"

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
