package envconf

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultDebounce is how long the Watcher waits after the last filesystem
// event before it looks at the files: editors and ConfigMap updates produce
// bursts (truncate+write, rename+chmod, symlink swap+delete).
const DefaultDebounce = 100 * time.Millisecond

// Watcher calls back when one of a few files changes. It watches the
// directories holding them (and, for a symlink, the directory of its target),
// never the files themselves, so it sees all the ways a file gets replaced:
// an in-place write, an editor's write-to-temp-then-rename, a delete and
// re-create, and Kubernetes ConfigMap updates, which swap the "..data" symlink
// and never touch the file's own name.
//
// After each burst of events it compares every watched file's identity
// (resolved path, inode, size, modification time) with what it saw before and
// calls onChange once per file that differs, including a file that
// disappeared. onChange runs on the Watcher's goroutine, one call at a time;
// a slow callback delays later notifications but loses none (changes during
// the call are seen at the next comparison). Close stops it; no callback runs
// after Close returns.
type Watcher struct {
	fs       *fsnotify.Watcher
	files    []string // cleaned absolute paths as given
	debounce time.Duration
	onChange func(path string)
	log      *slog.Logger

	mu    sync.Mutex
	state map[string]fileID
	dirs  map[string]bool

	done   chan struct{}
	exited chan struct{}
	once   sync.Once
}

type fileID struct {
	exists bool
	real   string
	ino    uint64
	dev    uint64
	size   int64
	mtime  int64
	ctime  int64
}

// WatchOptions tune NewWatcher.
type WatchOptions struct {
	Debounce time.Duration // default DefaultDebounce
	Logger   *slog.Logger  // default slog.Default()
}

// NewWatcher starts watching paths (empty strings are skipped; relative paths
// are made absolute). Each file's directory must exist; the file need not
// (it is reported once it appears). onChange receives the path as given.
func NewWatcher(paths []string, onChange func(path string), opts WatchOptions) (*Watcher, error) {
	if opts.Debounce <= 0 {
		opts.Debounce = DefaultDebounce
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("envconf: watcher: %w", err)
	}
	w := &Watcher{
		fs: fw, debounce: opts.Debounce, onChange: onChange, log: opts.Logger,
		state: map[string]fileID{}, dirs: map[string]bool{},
		done: make(chan struct{}), exited: make(chan struct{}),
	}
	given := map[string]string{}
	for _, p := range paths {
		if p == "" {
			continue
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			fw.Close()
			return nil, fmt.Errorf("envconf: watch %s: %w", p, err)
		}
		if _, dup := given[abs]; dup {
			continue
		}
		given[abs] = p
		w.files = append(w.files, abs)
		if err := w.addDir(filepath.Dir(abs)); err != nil {
			fw.Close()
			return nil, fmt.Errorf("envconf: watch directory of %s: %w", p, err)
		}
	}
	for _, f := range w.files {
		id := identify(f)
		w.state[f] = id
		w.watchTarget(id)
	}
	go w.loop(given)
	return w, nil
}

func (w *Watcher) addDir(dir string) error {
	if w.dirs[dir] {
		return nil
	}
	if err := w.fs.Add(dir); err != nil {
		return err
	}
	w.dirs[dir] = true
	return nil
}

// watchTarget also watches the directory a symlinked file resolves to, so an
// in-place edit of the target is seen.
func (w *Watcher) watchTarget(id fileID) {
	if !id.exists || id.real == "" {
		return
	}
	if err := w.addDir(filepath.Dir(id.real)); err != nil {
		w.log.Debug("envconf: cannot watch symlink target directory", "dir", filepath.Dir(id.real), "err", err)
	}
}

// Close stops watching and waits for a running callback to return.
func (w *Watcher) Close() error {
	var err error
	w.once.Do(func() {
		close(w.done)
		err = w.fs.Close()
		<-w.exited
	})
	return err
}

func (w *Watcher) loop(given map[string]string) {
	defer close(w.exited)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	pending := false
	for {
		select {
		case <-w.done:
			timer.Stop()
			return
		case ev, ok := <-w.fs.Events:
			if !ok {
				return
			}
			if ev.Has(fsnotify.Remove) && w.dirs[ev.Name] {
				// A watched directory (a ConfigMap's old timestamped
				// directory) is gone; the kernel dropped its watch.
				delete(w.dirs, ev.Name)
			}
			pending = true
			timer.Reset(w.debounce)
		case err, ok := <-w.fs.Errors:
			if !ok {
				return
			}
			w.log.Warn("envconf: file watch error; changes may be seen late", "err", err)
			// An overflow loses events: compare everything soon.
			pending = true
			timer.Reset(w.debounce)
		case <-timer.C:
			if !pending {
				continue
			}
			pending = false
			for _, f := range w.files {
				id := identify(f)
				w.mu.Lock()
				old := w.state[f]
				w.state[f] = id
				w.mu.Unlock()
				if id == old {
					continue
				}
				w.watchTarget(id)
				select {
				case <-w.done:
					return
				default:
				}
				w.onChange(given[f])
			}
		}
	}
}

// identify stats a file through its symlinks.
func identify(path string) fileID {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return fileID{}
	}
	fi, err := os.Stat(real)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fileID{}
		}
		return fileID{real: real}
	}
	id := fileID{exists: true, real: real, size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.ino, id.dev = st.Ino, uint64(st.Dev)
		id.ctime = st.Ctim.Nano()
	}
	return id
}
