package store

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// childEnv selects a child-process role of the test binary (crash test, lock
// holder, disk-full runs). See TestMain.
const childEnv = "APIMGW_STORE_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(runChild(mode))
	}
	os.Exit(m.Run())
}

func runChild(mode string) int {
	path := os.Getenv("APIMGW_STORE_PATH")
	var err error
	switch mode {
	case "crash":
		err = childCrash(path)
	case "lock":
		err = childLock(path)
	case "fsize":
		err = childDiskFull(path, "fsize")
	case "tmpfs":
		err = childDiskFull(path, "tmpfs")
	default:
		err = fmt.Errorf("unknown child mode %q", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testLogger(buf *syncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// openTest opens a store in a fresh temporary directory. On cleanup it closes
// the store and runs bbolt's consistency check on the file.
func openTest(t *testing.T, opts Options) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "apimgw.db")
	if opts.Logger == nil {
		opts.Logger = testLogger(&syncBuffer{})
	}
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		checkFile(t, path)
	})
	return s, path
}

// checkFile runs bbolt's consistency check on a closed store file.
func checkFile(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Errorf("reopen %s for check: %v", path, err)
		return
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		var first error
		for e := range tx.Check() {
			if first == nil {
				first = e
			}
		}
		return first
	})
	if err != nil {
		t.Errorf("consistency check of %s: %v", path, err)
	}
}

func rec(n int, size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte('a' + (n+i)%26)
	}
	copy(b, fmt.Sprintf("%08d", n))
	return b
}
