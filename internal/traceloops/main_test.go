package main

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"runtime/trace"
	"strings"
	"testing"
	"time"

	xtrace "golang.org/x/exp/trace"
	"golang.org/x/sys/unix"
)

// fakeLoop stands for an event loop: it writes to a pipe and sleeps in a
// system call, over and over, as a loop alternates writes and epoll_wait
// (back from the sleep it needs a P again; a timer would only make it
// runnable once a P looked).
func fakeLoop(fd int, stop <-chan struct{}) {
	b := []byte("x")
	for {
		select {
		case <-stop:
			return
		default:
		}
		unix.Write(fd, b)
		ts := unix.NsecToTimespec(100_000)
		unix.Nanosleep(&ts, nil)
	}
}

// hog holds the processor for d without a pause, then closes done.
func hog(d time.Duration, done chan<- struct{}) {
	for t := time.Now(); time.Since(t) < d; {
	}
	close(done)
}

// TestTraceloops: on one P, a goroutine that computes for 60 ms keeps a
// loop that is due every 100 µs waiting for the P (the runtime preempts
// after 10 ms), and the report says so and names the hog; a real trace of
// this Go version parses.
func TestTraceloops(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var p [2]int
	if err := unix.Pipe(p[:]); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	go func() { // drain the pipe
		b := make([]byte, 4096)
		for {
			if _, err := unix.Read(p[0], b); err != nil {
				return
			}
		}
	}()
	var buf bytes.Buffer
	if err := trace.Start(&buf); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { fakeLoop(p[1], stop); close(done) }()
	time.Sleep(5 * time.Millisecond)
	hogDone := make(chan struct{})
	go hog(60*time.Millisecond, hogDone)
	<-hogDone
	close(stop)
	<-done
	trace.Stop()

	path := filepath.Join(t.TempDir(), "t.trace")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := analyzeFileWith(path, "github.com/apimgw/apimgw/internal/traceloops.fakeLoop", time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	r.print(&out)
	t.Log(out.String())
	if r.Loops != 1 || r.PWaits == 0 || r.PWait < 5*time.Millisecond {
		t.Fatalf("want one loop that waited for the P: %+v", r)
	}
	if r.PBlame["github.com/apimgw/apimgw/internal/traceloops.hog"] < 5*time.Millisecond {
		t.Fatalf("the hog is not named: %v", r.PBlame)
	}
	if _, err := xtrace.NewReader(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
}
