package gateway_test

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/apimgw/apimgw/internal/testenv"
)

// TestBinaryPagesReleased runs the real binary three times side by side.
// Once start-up has settled (a second after ready), a gateway holds under
// 30 % of the executable pages (RssFile) that one started with
// APIMGW_KEEP_BINARY_PAGES=1 holds, and still serves. A third, with
// APIMGW_IDLE_RELEASE=1s, takes a burst of requests, which brings the code
// they run back; a second without records later the telemetry idle hook
// releases them again.
func TestBinaryPagesReleased(t *testing.T) {
	b := backend(t)
	keep := newDaemon(t, b.URL, "")
	keep.start("APIMGW_KEEP_BINARY_PAGES=1")
	rel := newDaemon(t, b.URL, "")
	rel.start()
	idler := newDaemon(t, b.URL, "")
	idler.start("APIMGW_IDLE_RELEASE=1s")
	rssFile := func(d *daemon) int64 {
		return testenv.ProcStatusKiB(t, strconv.Itoa(d.cmd.Process.Pid), "RssFile:")
	}
	for _, d := range []*daemon{keep, rel} {
		if got := statusOf(t, d.data+"/echo/hello"); got != http.StatusOK {
			t.Fatalf("GET /echo/hello: %d", got)
		}
	}
	var kept, released int64
	eventually(t, 10*time.Second, "the releasing gateway holding under 30 % of the other's executable pages", func() bool {
		kept, released = rssFile(keep), rssFile(rel)
		return released*10 < kept*3
	})
	t.Logf("after start-up: RssFile %d KiB kept, %d KiB released", kept, released)
	for _, d := range []*daemon{keep, rel} {
		if got := statusOf(t, d.data+"/echo/after"); got != http.StatusOK {
			t.Fatalf("GET /echo/after: %d", got)
		}
	}

	eventually(t, 10*time.Second, "the idle-releasing gateway settled", func() bool {
		return rssFile(idler)*10 < kept*3
	})
	for i := range 200 {
		if got := statusOf(t, fmt.Sprintf("%s/echo/load/%d", idler.data, i)); got != http.StatusOK {
			t.Fatalf("request %d: %d", i, got)
		}
	}
	loaded := rssFile(idler)
	var idle int64
	eventually(t, 10*time.Second, "the executable's pages released again after telemetry went idle", func() bool {
		idle = rssFile(idler)
		return idle*10 < loaded*8
	})
	t.Logf("after 200 requests: RssFile %d KiB; after the idle release %d KiB", loaded, idle)
	if got := statusOf(t, idler.data+"/echo/after"); got != http.StatusOK {
		t.Fatalf("GET /echo/after: %d", got)
	}
}
