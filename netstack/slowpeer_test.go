package netstack

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// transferSize is 1 GiB, or 256 MiB under the race detector (which makes the
// proxy in this process several times slower; the bound is the same).
func transferSize() int64 {
	if raceEnabled {
		return 256 << 20
	}
	return 1 << 30
}

// rssKiB reads a field (VmRSS, VmHWM) of /proc/self/status.
func rssKiB(t *testing.T, field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		cannotTest(t, "no /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field+":") {
			n, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return n
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// resetPeak resets VmHWM to the current RSS (Linux: write 5 to clear_refs).
func resetPeak(t *testing.T) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		cannotTest(t, "cannot reset the peak RSS: %v", err)
	}
}

// pattern fills b with bytes that depend on their offset in the stream.
func pattern(b []byte, off int64) {
	for i := range b {
		b[i] = byte((off + int64(i)) * 131 >> 3)
	}
}

func TestSlowUpstreamUpload(t *testing.T) {
	size := transferSize()
	got := make(chan string, 1)
	var proxy atomic.Pointer[Server]
	b := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read nothing until the proxy has parked the client at least once:
		// with the kernel's socket buffers full, its queue toward this
		// backend must pass the high-water mark whatever the relative speed
		// of client and backend (a client slowed by the race detector on a
		// busy machine could otherwise stay slower than the slow reader, and
		// flow control would never engage: a flaky 0 parks).
		for deadline := time.Now().Add(10 * time.Second); proxy.Load().Parks() == 0 && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		h := sha256.New()
		buf := make([]byte, 128<<10)
		var n int64
		for {
			k, err := r.Body.Read(buf)
			h.Write(buf[:k])
			n += int64(k)
			if err != nil {
				break
			}
			time.Sleep(time.Millisecond) // a slow reader
		}
		got <- fmt.Sprintf("%d %x", n, h.Sum(nil))
		io.WriteString(w, "ok")
	})}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go b.Serve(ln)
	defer b.Close()
	s := startProxy(t, &testHandler{upstream: ln.Addr().String()}, Config{Loops: 1})
	proxy.Store(s)

	runtime.GC()
	before := rssKiB(t, "VmRSS")
	resetPeak(t)
	want := sha256.New()
	pr, pw := io.Pipe()
	go func() {
		buf := make([]byte, 256<<10)
		for off := int64(0); off < size; off += int64(len(buf)) {
			pattern(buf, off)
			want.Write(buf)
			if _, err := pw.Write(buf); err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", "http://"+s.Addr().String()+"/upload", pr)
	req.ContentLength = size
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	peak := rssKiB(t, "VmHWM")
	if g, w := <-got, fmt.Sprintf("%d %x", size, want.Sum(nil)); g != w {
		t.Fatalf("backend got %s, want %s", g, w)
	}
	growth := peak - before
	t.Logf("upload %d MiB: RSS before %d KiB, peak %d KiB, growth %d KiB, %d parks", size>>20, before, peak, growth, s.Parks())
	if growth > 32<<10 {
		t.Errorf("RSS grew by %d KiB (limit 32 MiB)", growth)
	}
	if s.Parks() == 0 {
		t.Error("no connection was parked: flow control never engaged, so the RSS bound shows nothing")
	}
}

func TestSlowClientDownload(t *testing.T) {
	size := transferSize()
	b := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		buf := make([]byte, 256<<10)
		for off := int64(0); off < size; off += int64(len(buf)) {
			pattern(buf, off)
			if _, err := w.Write(buf); err != nil {
				return
			}
		}
	})}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go b.Serve(ln)
	defer b.Close()
	s := startProxy(t, &testHandler{upstream: ln.Addr().String()}, Config{Loops: 1})

	runtime.GC()
	before := rssKiB(t, "VmRSS")
	resetPeak(t)
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /download HTTP/1.1\r\nHost: a\r\n\r\n")
	r := bufio.NewReaderSize(c, 64<<10)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 128<<10)
	exp := make([]byte, 128<<10)
	var n int64
	for {
		k, err := resp.Body.Read(buf)
		pattern(exp[:k], n)
		if !bytes.Equal(buf[:k], exp[:k]) {
			t.Fatalf("corrupt bytes at offset %d", n)
		}
		n += int64(k)
		if err != nil {
			break
		}
		if n%(1<<20) < int64(k) {
			time.Sleep(8 * time.Millisecond) // a slow reader: ~128 MB/s at most
		}
	}
	peak := rssKiB(t, "VmHWM")
	if n != size {
		t.Fatalf("got %d bytes of %d", n, size)
	}
	growth := peak - before
	t.Logf("download %d MiB: RSS before %d KiB, peak %d KiB, growth %d KiB, %d parks", size>>20, before, peak, growth, s.Parks())
	if growth > 32<<10 {
		t.Errorf("RSS grew by %d KiB (limit 32 MiB)", growth)
	}
	if s.Parks() == 0 {
		t.Error("no connection was parked: flow control never engaged, so the RSS bound shows nothing")
	}
}
