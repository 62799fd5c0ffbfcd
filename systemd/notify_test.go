package systemd

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// listenNotify binds a unixgram socket at a short path (sun_path is 108 bytes,
// t.TempDir is often longer), points NOTIFY_SOCKET at it and returns a channel
// of the datagrams it receives.
func listenNotify(t *testing.T) <-chan string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("NOTIFY_SOCKET", path)
	ch := make(chan string, 256)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			ch <- string(buf[:n])
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return ch
}

func recv(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no datagram on NOTIFY_SOCKET within 5s")
		return ""
	}
}

func TestNotifierMessages(t *testing.T) {
	ch := listenNotify(t)
	n := NewNotifier()
	n.monotonic = func() string { return "MONOTONIC_USEC=12345\n" }
	if !n.Enabled() {
		t.Fatal("Enabled() = false with NOTIFY_SOCKET set")
	}
	cases := []struct {
		name string
		call func() error
		want string
	}{
		{"ready", func() error { return n.Ready("") }, "READY=1"},
		{"ready with status", func() error { return n.Ready("serving snapshot 7") }, "READY=1\nSTATUS=serving snapshot 7"},
		{"status newline folded", func() error { return n.Status("line one\nline two") }, "STATUS=line one line two"},
		{"reloading", func() error { return n.Reloading("reloading env.conf") }, "RELOADING=1\nMONOTONIC_USEC=12345\nSTATUS=reloading env.conf"},
		{"stopping", func() error { return n.Stopping("draining") }, "STOPPING=1\nSTATUS=draining"},
		{"watchdog", n.Watchdog, "WATCHDOG=1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.call(); err != nil {
				t.Fatal(err)
			}
			if got := recv(t, ch); got != c.want {
				t.Fatalf("sent %q, want %q", got, c.want)
			}
		})
	}
}

func TestNotifierRealMonotonic(t *testing.T) {
	ch := listenNotify(t)
	n := NewNotifier()
	if err := n.Reloading(""); err != nil {
		t.Fatal(err)
	}
	got := recv(t, ch)
	lines := strings.Split(got, "\n")
	if len(lines) != 2 || lines[0] != "RELOADING=1" || !strings.HasPrefix(lines[1], "MONOTONIC_USEC=") {
		t.Fatalf("got %q", got)
	}
	if v, err := strconv.ParseInt(strings.TrimPrefix(lines[1], "MONOTONIC_USEC="), 10, 64); err != nil || v <= 0 {
		t.Fatalf("MONOTONIC_USEC not a positive number: %q", lines[1])
	}
}

func TestNotifierDisabled(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	n := NewNotifier()
	if n.Enabled() {
		t.Fatal("Enabled() with NOTIFY_SOCKET empty")
	}
	for _, err := range []error{n.Ready("x"), n.Status("x"), n.Reloading(""), n.Stopping(""), n.Watchdog()} {
		if err != nil {
			t.Fatalf("disabled notifier returned %v", err)
		}
	}
	var nilN *Notifier
	if nilN.Enabled() || nilN.Ready("") != nil {
		t.Fatal("nil notifier must be a no-op")
	}
}

func TestNotifierSocketGone(t *testing.T) {
	dir, err := os.MkdirTemp("", "sd")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	t.Setenv("NOTIFY_SOCKET", filepath.Join(dir, "missing"))
	err = NewNotifier().Ready("")
	if err == nil || !strings.Contains(err.Error(), "notify READY=1") {
		t.Fatalf("Ready to a missing socket: %v, want an error naming READY=1", err)
	}
}

func TestWatchdogInterval(t *testing.T) {
	pid := strconv.Itoa(os.Getpid())
	cases := []struct {
		usec, pid string
		want      time.Duration
		err       bool
	}{
		{"", "", 0, false},
		{"2000000", "", 2 * time.Second, false},
		{"2000000", pid, 2 * time.Second, false},
		{"2000000", "1", 0, false}, // meant for another process
		{"abc", "", 0, true},
		{"-5", "", 0, true},
		{"1000", "x", 0, true},
	}
	for i, c := range cases {
		t.Setenv("WATCHDOG_USEC", c.usec)
		t.Setenv("WATCHDOG_PID", c.pid)
		got, err := WatchdogInterval()
		if (err != nil) != c.err || got != c.want {
			t.Errorf("case %d (%q,%q): %v, %v; want %v, err=%v", i, c.usec, c.pid, got, err, c.want, c.err)
		}
		if c.err && !errors.Is(err, ErrWatchdogEnv) {
			t.Errorf("case %d: error %v is not ErrWatchdogEnv", i, err)
		}
	}
}

// countPings counts WATCHDOG=1 datagrams arriving within d.
func countPings(ch <-chan string, d time.Duration) int {
	n := 0
	deadline := time.After(d)
	for {
		select {
		case m := <-ch:
			if m == "WATCHDOG=1" {
				n++
			}
		case <-deadline:
			return n
		}
	}
}

// startWatchdog runs a watchdog configured from WATCHDOG_USEC/WATCHDOG_PID (as
// systemd would set them) and returns a stop function that waits for Run.
func startWatchdog(t *testing.T, check Check) (stop func()) {
	t.Helper()
	t.Setenv("WATCHDOG_USEC", "200000") // 200ms: ping every 100ms, check timeout 50ms
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	w := &Watchdog{Notifier: NewNotifier(), Check: check}
	go func() { done <- w.Run(ctx) }()
	return func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(2 * time.Second):
			t.Error("Run did not return within 2s of cancel")
		}
	}
}

func TestWatchdogStopsWhenCheckFails(t *testing.T) {
	ch := listenNotify(t)
	var healthy atomic.Bool
	healthy.Store(true)
	stop := startWatchdog(t, func(ctx context.Context) error {
		if healthy.Load() {
			return nil
		}
		return errors.New("loop 2 wedged")
	})
	defer stop()

	if n := countPings(ch, 600*time.Millisecond); n < 3 {
		t.Fatalf("healthy: %d pings in 600ms, want ≥3 (every 100ms)", n)
	}
	healthy.Store(false)
	countPings(ch, 150*time.Millisecond) // a round may be in flight
	if n := countPings(ch, 600*time.Millisecond); n != 0 {
		t.Fatalf("failing check: %d pings, want 0", n)
	}
	healthy.Store(true)
	if n := countPings(ch, 600*time.Millisecond); n < 3 {
		t.Fatalf("recovered: %d pings in 600ms, want ≥3", n)
	}
}

func TestWatchdogStopsWhenCheckHangs(t *testing.T) {
	ch := listenNotify(t)
	var wedged atomic.Bool
	release := make(chan struct{})
	var started atomic.Int32
	stop := startWatchdog(t, func(ctx context.Context) error {
		if !wedged.Load() {
			return nil
		}
		started.Add(1)
		<-release // a wedged loop ignores ctx
		return nil
	})
	defer stop()
	if n := countPings(ch, 400*time.Millisecond); n < 2 {
		t.Fatalf("healthy: %d pings, want ≥2", n)
	}
	wedged.Store(true)
	countPings(ch, 150*time.Millisecond)
	if n := countPings(ch, 800*time.Millisecond); n != 0 {
		t.Fatalf("hung check: %d pings, want 0", n)
	}
	if s := started.Load(); s != 1 {
		t.Fatalf("a hung check was started %d times; want exactly 1 (no pile-up)", s)
	}
	wedged.Store(false)
	close(release)
	if n := countPings(ch, 600*time.Millisecond); n < 2 {
		t.Fatalf("after the loop unwedged: %d pings, want ≥2", n)
	}
}

func TestWatchdogSlowCheckCountsAsFailure(t *testing.T) {
	ch := listenNotify(t)
	stop := startWatchdog(t, func(ctx context.Context) error {
		select { // slower than the 50ms timeout, but honours ctx
		case <-time.After(80 * time.Millisecond):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	defer stop()
	if n := countPings(ch, 600*time.Millisecond); n != 0 {
		t.Fatalf("check slower than interval/4: %d pings, want 0", n)
	}
}

func TestWatchdogOffOrForeignPid(t *testing.T) {
	for _, env := range [][2]string{{"", ""}, {"200000", "1"}} {
		t.Setenv("WATCHDOG_USEC", env[0])
		t.Setenv("WATCHDOG_PID", env[1])
		w := &Watchdog{Notifier: NewNotifier(), Check: func(context.Context) error { return nil }}
		done := make(chan error, 1)
		go func() { done <- w.Run(context.Background()) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("%v: Run = %v", env, err)
			}
		case <-time.After(time.Second):
			t.Fatalf("%v: Run did not return at once with the watchdog off", env)
		}
	}
	t.Setenv("WATCHDOG_USEC", "junk")
	w := &Watchdog{Notifier: NewNotifier(), Check: func(context.Context) error { return nil }}
	if err := w.Run(context.Background()); !errors.Is(err, ErrWatchdogEnv) {
		t.Fatalf("malformed WATCHDOG_USEC: %v", err)
	}
}

func TestNotifierReload(t *testing.T) {
	ch := listenNotify(t)
	n := NewNotifier()
	n.monotonic = func() string { return "MONOTONIC_USEC=7\n" }
	if err := n.Reload("reloading env.conf", "serving snapshot 42", func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, ch); got != "RELOADING=1\nMONOTONIC_USEC=7\nSTATUS=reloading env.conf" {
		t.Fatalf("first %q", got)
	}
	if got := recv(t, ch); got != "READY=1\nSTATUS=serving snapshot 42" {
		t.Fatalf("second %q", got)
	}
	boom := errors.New("env.conf:3: malformed line")
	if err := n.Reload("reloading", "ok", func() error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("Reload returned %v, want fn's error", err)
	}
	recv(t, ch)
	if got := recv(t, ch); got != "READY=1\nSTATUS=reload failed, previous configuration kept: env.conf:3: malformed line" {
		t.Fatalf("after a failed reload %q", got)
	}
}
