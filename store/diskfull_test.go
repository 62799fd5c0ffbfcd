package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childDiskFull runs the disk-full scenario in a child process, because both
// ways of making the disk full are process- or mount-wide:
//
//	fsize: RLIMIT_FSIZE below the file's next growth (writes fail with EFBIG),
//	       lifted again to let space "return";
//	tmpfs: the store lives on a 2 MiB tmpfs; a ballast file takes the free
//	       space (writes fail with ENOSPC) and is removed again.
//
// It prints "OK ..." when every expectation held.
func childDiskFull(path, how string) error {
	signal.Ignore(syscall.SIGXFSZ)
	logs := &syncBuffer{}
	s, err := Open(path, Options{CommitInterval: time.Millisecond, Logger: testLogger(logs)})
	if err != nil {
		return err
	}
	ctx := context.Background()
	for i := 0; i < 200; i++ {
		s.Append(rec(i, 300))
	}
	if err := s.Flush(ctx); err != nil {
		return err
	}
	var restore func() error
	switch how {
	case "fsize":
		fi, err := os.Stat(path)
		if err != nil {
			return err
		}
		var old syscall.Rlimit
		syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old)
		lim := syscall.Rlimit{Cur: uint64(fi.Size()), Max: old.Max}
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
			return fmt.Errorf("setrlimit: %w", err)
		}
		restore = func() error { return syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old) }
	case "tmpfs":
		ballast := filepath.Join(filepath.Dir(path), "ballast")
		f, err := os.Create(ballast)
		if err != nil {
			return err
		}
		chunk := make([]byte, 64<<10)
		for {
			if _, err := f.Write(chunk); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					return fmt.Errorf("ballast: %w", err)
				}
				break
			}
		}
		f.Close()
		restore = func() error { return os.Remove(ballast) }
	}
	// The disk is full: appends still succeed for the caller, and are counted.
	var st QueueStats
	for i := 0; i < 200000; i++ {
		if _, err := s.Append(rec(i, 300)); err != nil {
			return fmt.Errorf("append while disk full returned %v; it must not fail the caller", err)
		}
		if i%500 == 499 {
			s.Flush(ctx)
			if st, _ = s.QueueStats(); st.DroppedBy[DropDiskFull] > 0 {
				break
			}
		}
	}
	if st.DroppedBy[DropDiskFull] == 0 {
		return fmt.Errorf("never saw a disk_full drop: %+v", st)
	}
	// Degraded may already have cleared if a smaller batch fitted since; the
	// last write error stays for the status page.
	status := s.Status()
	if status.LastWriteError == "" || status.LastWriteErrorAt.IsZero() {
		return fmt.Errorf("status has no write error: %+v", status)
	}
	if !strings.Contains(logs.String(), "telemetry commit failed") {
		return fmt.Errorf("no log line about the failed commit: %s", logs.String())
	}
	// Reads and acks of what is committed keep working.
	if _, err := s.Read(0, 10, 0); err != nil {
		return fmt.Errorf("read while disk full: %w", err)
	}
	if err := restore(); err != nil {
		return err
	}
	restoredAt := time.Now()
	// Space is back: the queue resumes by itself.
	first, _ := s.Append([]byte("after-the-storm"))
	for i := 0; i < 99; i++ {
		s.Append([]byte("after-the-storm"))
	}
	if err := s.Flush(ctx); err != nil {
		return err
	}
	if status := s.Status(); status.Degraded {
		return fmt.Errorf("still degraded after space returned at %v: %+v\n%s", restoredAt, status, logs.String())
	}
	recs, err := s.Read(first-1, 1000, 0)
	if err != nil || len(recs) != 100 || string(recs[99].Data) != "after-the-storm" {
		return fmt.Errorf("records after recovery: %d %v", len(recs), err)
	}
	dropped := st.DroppedBy[DropDiskFull]
	if err := s.Close(); err != nil {
		return err
	}
	s2, err := Open(path, Options{})
	if err != nil {
		return fmt.Errorf("reopen: %w", err)
	}
	defer s2.Close()
	st2, _ := s2.QueueStats()
	if st2.DroppedBy[DropDiskFull] < dropped || s2.Status().QuarantinedTo != "" {
		return fmt.Errorf("after reopen drops %+v (had %d), status %+v", st2.DroppedBy, dropped, s2.Status())
	}
	fmt.Printf("OK disk_full=%d queued=%d reason=%q\n", st2.DroppedBy[DropDiskFull], st2.Records, status.LastWriteError)
	return nil
}

func runDiskFullChild(t *testing.T, cmd *exec.Cmd, path string) {
	t.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK disk_full=") {
		t.Fatalf("child: %v\n%s", err, out)
	}
	t.Logf("%s", strings.TrimSpace(string(out)))
	checkFile(t, path)
}

// TestDiskFullFileSizeLimit: a real write error from the kernel (EFBIG under
// RLIMIT_FSIZE), no privileges needed.
func TestDiskFullFileSizeLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fsize.db")
	runDiskFullChild(t, childCmd(t, "fsize", path), path)
}

// TestDiskFullTmpfs: a real ENOSPC on a 2 MiB tmpfs mounted in a private mount
// namespace. Needs root and unshare(1); skipped otherwise.
func TestDiskFullTmpfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs in a private mount namespace")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare(1) not installed")
	}
	dir := t.TempDir()
	exe, _ := os.Executable()
	probe := exec.Command(unshare, "--mount", "--propagation", "private", "sh", "-c", `mount -t tmpfs -o size=2m apimgwtest "$1"`, "sh", dir)
	if out, err := probe.CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	path := filepath.Join(dir, "enospc.db")
	cmd := exec.Command(unshare, "--mount", "--propagation", "private", "sh", "-c",
		`mount -t tmpfs -o size=2m apimgwtest "$1" && exec "$2" -test.run='^$'`, "sh", dir, exe)
	cmd.Env = append(os.Environ(), childEnv+"=tmpfs", "APIMGW_STORE_PATH="+path)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK disk_full=") {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "no space left on device") {
		t.Fatalf("expected an ENOSPC error in the status: %s", out)
	}
	t.Logf("%s", strings.TrimSpace(string(out)))
}
