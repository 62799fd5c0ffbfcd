package envconf

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// recorder collects callbacks.
type recorder struct {
	mu    sync.Mutex
	calls []string
	ch    chan string
}

func newRecorder() *recorder { return &recorder{ch: make(chan string, 100)} }

func (r *recorder) cb(path string) {
	r.mu.Lock()
	r.calls = append(r.calls, path)
	r.mu.Unlock()
	r.ch <- path
}

// expect waits for one callback for want.
func (r *recorder) expect(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-r.ch:
		if got != want {
			t.Fatalf("callback for %s, want %s", got, want)
		}
	case <-time.After(3 * time.Second):
		t.Fatalf("no callback for %s within 3s", want)
	}
}

// quiet asserts that no callback arrives for a while.
func (r *recorder) quiet(t *testing.T) {
	t.Helper()
	r.quietFor(t, 300*time.Millisecond)
}

func (r *recorder) quietFor(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case got := <-r.ch:
		t.Fatalf("unexpected callback for %s", got)
	case <-time.After(d):
	}
}

const testDebounce = 50 * time.Millisecond

func startWatcher(t *testing.T, paths ...string) *recorder {
	t.Helper()
	r := newRecorder()
	w, err := NewWatcher(paths, r.cb, WatchOptions{Debounce: testDebounce})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return r
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestWatchInPlaceWrite(t *testing.T) {
	dir := t.TempDir()
	env := filepath.Join(dir, "env.conf")
	write(t, env, "a=1\n")
	r := startWatcher(t, env)
	write(t, env, "a=2\n")
	r.expect(t, env)
	r.quiet(t)
}

// Editors (vim with backupcopy=no, VS Code, sed -i) write a temporary file and
// rename it over the original.
func TestWatchRenameOver(t *testing.T) {
	dir := t.TempDir()
	env := filepath.Join(dir, "env.conf")
	write(t, env, "a=1\n")
	r := startWatcher(t, env)
	tmp := filepath.Join(dir, ".env.conf.swp")
	write(t, tmp, "a=2\n")
	if err := os.Rename(tmp, env); err != nil {
		t.Fatal(err)
	}
	r.expect(t, env)
	r.quiet(t)
}

// vim's default: move the original to a backup name, write a new file.
func TestWatchDeleteAndRecreate(t *testing.T) {
	dir := t.TempDir()
	env := filepath.Join(dir, "env.conf")
	write(t, env, "a=1\n")
	r := startWatcher(t, env)
	os.Rename(env, env+"~")
	write(t, env, "a=2\n")
	os.Remove(env + "~")
	r.expect(t, env)
	r.quiet(t)
}

// A Kubernetes ConfigMap volume: env.conf -> ..data/env.conf, ..data ->
// ..<timestamp>. An update writes a new timestamped directory and renames a
// new ..data symlink over the old one; env.conf's own name sees no event.
func TestWatchConfigMapSymlinkSwap(t *testing.T) {
	dir := t.TempDir()
	mkVersion := func(name, content string) {
		os.Mkdir(filepath.Join(dir, name), 0o755)
		write(t, filepath.Join(dir, name, "env.conf"), content)
	}
	mkVersion("..2026_11_26_03_00_00.1", "a=1\n")
	if err := os.Symlink("..2026_11_26_03_00_00.1", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..data/env.conf", filepath.Join(dir, "env.conf")); err != nil {
		t.Fatal(err)
	}
	env := filepath.Join(dir, "env.conf")
	r := startWatcher(t, env)

	swap := func(version, content, old string) {
		mkVersion(version, content)
		if err := os.Symlink(version, filepath.Join(dir, "..data_tmp")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
		os.RemoveAll(filepath.Join(dir, old))
	}
	swap("..2026_11_26_03_01_00.2", "a=2\n", "..2026_11_26_03_00_00.1")
	r.expect(t, env)
	r.quiet(t)
	got, _ := os.ReadFile(env)
	if string(got) != "a=2\n" {
		t.Fatalf("content after swap %q", got)
	}
	// And again: the watcher keeps working after the old target was deleted.
	swap("..2026_11_26_03_02_00.3", "a=3\n", "..2026_11_26_03_01_00.2")
	r.expect(t, env)
	r.quiet(t)
}

// A plain symlink to a file elsewhere, whose target is edited in place.
func TestWatchSymlinkTargetEditedInPlace(t *testing.T) {
	etc, srv := t.TempDir(), t.TempDir()
	target := filepath.Join(srv, "env.conf")
	write(t, target, "a=1\n")
	env := filepath.Join(etc, "env.conf")
	if err := os.Symlink(target, env); err != nil {
		t.Fatal(err)
	}
	r := startWatcher(t, env)
	write(t, target, "a=2\n")
	r.expect(t, env)
	r.quiet(t)
}

// Two files (env.conf and the standalone snapshot file) in different
// directories: the callback names the one that changed; unrelated files in
// the same directories are ignored.
func TestWatchTwoFilesAndNeighbours(t *testing.T) {
	etc, data := t.TempDir(), t.TempDir()
	env := filepath.Join(etc, "env.conf")
	snap := filepath.Join(data, "snapshot.json")
	write(t, env, "a=1\n")
	write(t, snap, "{}")
	r := startWatcher(t, env, snap)
	write(t, filepath.Join(etc, "other.conf"), "x")
	write(t, filepath.Join(data, "notes.txt"), "y")
	r.quiet(t)
	write(t, snap, `{"v":2}`)
	r.expect(t, snap)
	write(t, env, "a=2\n")
	r.expect(t, env)
	r.quiet(t)
}

// A burst of writes within the debounce window is one callback.
func TestWatchDebounce(t *testing.T) {
	dir := t.TempDir()
	env := filepath.Join(dir, "env.conf")
	write(t, env, "a=0\n")
	r := newRecorder()
	w, err := NewWatcher([]string{env}, r.cb, WatchOptions{Debounce: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i := 1; i <= 5; i++ {
		write(t, env, fmt.Sprintf("a=%d\n", i))
		time.Sleep(10 * time.Millisecond)
	}
	r.expect(t, env)
	r.quietFor(t, time.Second)
}

// A file that does not exist yet is reported when it appears, and when it
// goes away.
func TestWatchFileAppearsAndDisappears(t *testing.T) {
	dir := t.TempDir()
	snap := filepath.Join(dir, "snapshot.json")
	r := startWatcher(t, snap)
	write(t, snap, "{}")
	r.expect(t, snap)
	os.Remove(snap)
	r.expect(t, snap)
	r.quiet(t)
}

func TestWatchMissingDirectory(t *testing.T) {
	_, err := NewWatcher([]string{filepath.Join(t.TempDir(), "nope", "env.conf")}, func(string) {}, WatchOptions{})
	if err == nil {
		t.Fatal("watching a file in a missing directory succeeded")
	}
}

func TestWatchCloseStopsCallbacks(t *testing.T) {
	dir := t.TempDir()
	env := filepath.Join(dir, "env.conf")
	write(t, env, "a=1\n")
	r := newRecorder()
	w, err := NewWatcher([]string{env}, r.cb, WatchOptions{Debounce: testDebounce})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w.Close() // idempotent
	write(t, env, "a=2\n")
	r.quiet(t)
}
