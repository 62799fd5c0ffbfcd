package status

import (
	"context"
	"image"
	"image/color"
	"image/png"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// chromiumFlags keep a headless Chromium off the network and away from any
// profile: only the page under test is loaded.
var chromiumFlags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
	"--disable-default-apps", "--disable-extensions", "--hide-scrollbars", "--mute-audio",
}

func runChromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	all := append(append([]string{}, chromiumFlags...), "--user-data-dir="+t.TempDir())
	cmd := exec.CommandContext(ctx, bin, append(all, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr)
	}
	return out
}

// TestChromiumRendersPage loads the page from a running status server in a real
// headless Chromium, checks the rendered DOM and the pixels of a screenshot
// (the header bar and the red alert are drawn, so the inline CSS applied), and
// keeps the screenshot as docs/status.png when APIMGW_STATUS_SCREENSHOT names
// that path.
func TestChromiumRendersPage(t *testing.T) {
	bin := requireTool(t, "chromium")
	src := &fakeSource{facts: hybridFacts()}
	s, err := New(Config{Source: src, Recorder: busyRecorder(), Now: func() time.Time { return t0 }, Logger: quiet, Refresh: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, ln) }()
	defer func() { cancel(); <-done }()
	url := "http://" + ln.Addr().String() + "/"

	dom := string(runChromium(t, bin, "--dump-dom", url))
	for _, want := range []string{
		`<h1>apimgw · edge-berlin-1</h1>`,
		`id="version">0.1.0+abc1234</b>`,
		`id="mode">hybrid</span>`,
		`id="ready">ready</span>`,
		`Control plane unreachable since 2026-11-26 08:48:00 UTC`,
		`Gateway token expires in 3d 4h`,
		`<span class="badge b-bad">offline</span>`,
		`Orders &lt;v2&gt;`,
		`<td class="n">320</td>`,
		`<td class="n err">4.95%</td>`,
		`Roll back</button>`,
		`7.0 MiB of 256.0 MiB`,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered DOM lacks %q", want)
		}
	}
	if n := strings.Count(dom, `action="/rollback"`); n != 2 {
		t.Errorf("%d rollback forms, want 2 (snapshots 41 and 40)", n)
	}
	if t.Failed() {
		t.Logf("DOM:\n%s", dom)
	}

	shot := filepath.Join(t.TempDir(), "status.png")
	runChromium(t, bin, "--window-size=1280,1100", "--screenshot="+shot, url)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 1100 {
		t.Errorf("screenshot is %v, want 1280x1100", b)
	}
	// The header bar (#14202e) at the top left, the page background
	// (#f4f6f8) below the cards, and the red alert (#ffe0dc) somewhere.
	if !near(img.At(5, 5), color.RGBA{0x14, 0x20, 0x2e, 255}) {
		t.Errorf("top-left pixel %v is not the header colour", img.At(5, 5))
	}
	if !find(img, color.RGBA{0xff, 0xe0, 0xdc, 255}) {
		t.Error("no red alert background in the screenshot")
	}
	if !find(img, color.RGBA{0xda, 0xfb, 0xe1, 255}) {
		t.Error("no green badge in the screenshot")
	}
	if dst := os.Getenv("APIMGW_STATUS_SCREENSHOT"); dst != "" {
		b, err := os.ReadFile(shot)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot kept as %s", dst)
	}
}

func near(c color.Color, want color.RGBA) bool {
	r, g, b, _ := c.RGBA()
	d := func(x uint32, y uint8) bool { v := int(x>>8) - int(y); return v > -6 && v < 6 }
	return d(r, want.R) && d(g, want.G) && d(b, want.B)
}

func find(img image.Image, want color.RGBA) bool {
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			if near(img.At(x, y), want) {
				return true
			}
		}
	}
	return false
}
