package store

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// DefaultPath is where the appliance keeps its store unless env.conf's
// store.path says otherwise.
const DefaultPath = "/var/lib/apimgw/apimgw.db"

// SchemaVersion is the layout version this build writes. Files with an older
// version are migrated on Open (in one transaction: all or nothing); files with
// a newer one are refused with ErrSchemaTooNew.
const SchemaVersion uint32 = 1

// Bucket names. The layout is documented in docs/store.md.
var (
	bucketMeta      = []byte("meta")
	bucketSnapInfo  = []byte("snapshots")
	bucketSnapData  = []byte("snapshot_data")
	bucketQueue     = []byte("queue")
	bucketQueueMeta = []byte("queue_meta")
	bucketCounters  = []byte("counters")

	allBuckets = [][]byte{bucketMeta, bucketSnapInfo, bucketSnapData, bucketQueue, bucketQueueMeta, bucketCounters}
)

// Keys of the meta bucket.
var (
	keySchema      = []byte("schema")
	keyCreated     = []byte("created_at")
	keyStoreID     = []byte("store_id")
	keyGatewayID   = []byte("gateway_id")
	keyLastSync    = []byte("last_sync")
	keyLastError   = []byte("last_error")
	keyLastErrorAt = []byte("last_error_at")
	keySnapCurrent = []byte("snapshot_current")
	keySnapNext    = []byte("snapshot_next")
)

// migration upgrades a file from schema version `from` to from+1 inside the
// open write transaction of Open. currentSchema and migrations are variables
// only so that tests can exercise the path; production code never changes them.
type migration func(tx *bolt.Tx) error

var (
	currentSchema = SchemaVersion
	migrations    = map[uint32]migration{}
)

// Options tune a Store. The zero value gives the documented defaults.
type Options struct {
	// LockTimeout bounds the wait for the file lock held by another process.
	// Default 5s. Open then fails with ErrLocked; it never hangs.
	LockTimeout time.Duration
	// QueueMaxBytes is the telemetry queue's byte budget (record bytes plus
	// 16 bytes of key and timestamp each). Default 256 MiB. When a commit would
	// exceed it the oldest records are dropped first (DropQueueFull).
	QueueMaxBytes int64
	// KeepSnapshots is how many config snapshots are kept. Default 10.
	KeepSnapshots int
	// CommitInterval is the group-commit window: appended records are
	// committed (and fsynced) at most this long after the first of them was
	// appended. A power cut loses at most this window plus the commit in flight.
	// Default 10ms.
	CommitInterval time.Duration
	// CommitMaxBytes commits early once this many record bytes are pending.
	// Default 4 MiB.
	CommitMaxBytes int
	// PendingMaxBytes bounds the memory of records waiting for a commit when
	// the disk falls behind; appends beyond it are dropped (DropBacklog).
	// Default 32 MiB (about a second of 100k requests/s).
	PendingMaxBytes int
	// MaxRecordBytes rejects larger telemetry records (DropTooLarge).
	// Default 1 MiB.
	MaxRecordBytes int
	// SkipCheck skips the consistency check at Open (a full walk of the file
	// plus bbolt's check). Only for tools and benchmarks that open huge files.
	SkipCheck bool
	// Logger receives the loud lines (quarantine, write errors). Default
	// slog.Default().
	Logger *slog.Logger
	// Now is the clock (tests inject one). Default time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.LockTimeout <= 0 {
		o.LockTimeout = 5 * time.Second
	}
	if o.QueueMaxBytes <= 0 {
		o.QueueMaxBytes = 256 << 20
	}
	if o.KeepSnapshots <= 0 {
		o.KeepSnapshots = 10
	}
	if o.CommitInterval <= 0 {
		o.CommitInterval = 10 * time.Millisecond
	}
	if o.CommitMaxBytes <= 0 {
		o.CommitMaxBytes = 4 << 20
	}
	if o.PendingMaxBytes <= 0 {
		o.PendingMaxBytes = 32 << 20
	}
	if o.MaxRecordBytes <= 0 {
		o.MaxRecordBytes = 1 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Store is one open store file. All methods are safe for concurrent use.
// Values returned are copies: they stay valid after the call and after Close.
// A Store holds the file's lock until Close; Close flushes every appended
// telemetry record first, so a clean shutdown loses nothing.
type Store struct {
	path string
	opts Options
	db   *bolt.DB
	log  *slog.Logger

	status   Status
	statusMu sync.Mutex

	q       queue
	writeMu sync.Mutex // serializes queue writers (commits, acks) over q.count/q.bytes
	closed  atomic.Bool
	closeO  sync.Once
	done    chan struct{} // closed by Close: the committer drains and exits
	exited  chan struct{} // closed by the committer when it is gone
}

// Status is what the status page and heartbeat show about the store file.
type Status struct {
	Path          string
	SchemaVersion uint32
	// QuarantinedTo is where Open moved a damaged file before starting fresh
	// ("" if it did not). QuarantineReason says why.
	QuarantinedTo    string
	QuarantineReason string
	QuarantinedAt    time.Time
	// Degraded is true while the last queue commit failed (disk full, I/O
	// error); appends are then dropped and counted. It clears on the next
	// successful commit.
	Degraded         bool
	LastWriteError   string
	LastWriteErrorAt time.Time
}

// Open opens (or creates) the store at path. It waits at most
// Options.LockTimeout for another process's lock (ErrLocked). It refuses a file
// from a newer schema (ErrSchemaTooNew) and migrates an older one. A file that
// is garbage, truncated, fails the consistency check or is not an apimgw store
// is renamed to "<path>.corrupt-<UTC time>", logged at error level, reported in
// Status, and replaced by a fresh store: Open never fails twice for the same
// damaged file, so a restart loop cannot arise from it.
func Open(path string, opts Options) (*Store, error) {
	o := opts.withDefaults()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("store: create directory for %s: %w", path, err)
	}
	s := &Store{path: path, opts: o, log: o.Logger, done: make(chan struct{}), exited: make(chan struct{})}
	s.status.Path = path
	db, err := s.openChecked()
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			return nil, err
		}
		moved, qerr := s.quarantine(err)
		if qerr != nil {
			return nil, fmt.Errorf("%w; moving it aside failed too: %v", err, qerr)
		}
		s.log.Error("store: DAMAGED STORE FILE MOVED ASIDE; starting with an empty store (config comes from the control plane again, queued telemetry in the old file is not sent)",
			"path", path, "moved_to", moved, "reason", err.Error())
		db, err = s.openChecked()
		if err != nil {
			return nil, fmt.Errorf("store: fresh file %s after quarantine: %w", path, err)
		}
	}
	s.db = db
	s.status.SchemaVersion = currentSchema
	if err := s.q.load(s); err != nil {
		_ = db.Close()
		return nil, err
	}
	go s.committer()
	return s, nil
}

// Path is the file this store uses.
func (s *Store) Path() string { return s.path }

// Status returns a copy of the store's status.
func (s *Store) Status() Status {
	s.statusMu.Lock()
	defer s.statusMu.Unlock()
	return s.status
}

// Close commits every telemetry record appended so far, then releases the file
// and its lock. Calls after the first return nil. Other methods return
// ErrClosed afterwards.
func (s *Store) Close() error {
	var err error
	s.closeO.Do(func() {
		// Under the queue lock: an Append either got in before (and is
		// committed by the final commit) or sees closed.
		s.q.mu.Lock()
		s.closed.Store(true)
		s.q.mu.Unlock()
		close(s.done)
		<-s.exited
		err = s.db.Close()
	})
	return err
}

// openChecked opens the bbolt file, validates it and brings its schema up to
// date. Any damage is reported as ErrCorrupt; bbolt panics and memory faults
// (a truncated mmap) are caught and reported the same way.
func (s *Store) openChecked() (db *bolt.DB, err error) {
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: %v", ErrCorrupt, s.path, r)
			if db != nil {
				closeQuietly(db)
				db = nil
			}
		}
	}()
	_, statErr := os.Stat(s.path)
	existed := statErr == nil
	db, err = bolt.Open(s.path, 0o600, &bolt.Options{
		Timeout:      s.opts.LockTimeout,
		FreelistType: bolt.FreelistMapType,
	})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("%w: %s (waited %s; is another apimgw running with the same store.path?)", ErrLocked, s.path, s.opts.LockTimeout)
		}
		if !existed {
			// Creating the file failed: the directory's fault, not the file's.
			return nil, fmt.Errorf("store: create %s: %w", s.path, err)
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, s.path, err)
	}
	if err = s.validate(db); err == nil {
		err = db.Update(s.initOrMigrate)
	}
	if err != nil {
		closeQuietly(db)
		return nil, err
	}
	return db, nil
}

// closeQuietly closes a db that failed validation. bbolt rolls back a
// transaction that panicked, so Close does not block; the bound is a guard.
func closeQuietly(db *bolt.DB) {
	ch := make(chan struct{})
	go func() {
		defer func() { _ = recover(); close(ch) }()
		_ = db.Close()
	}()
	select {
	case <-ch:
	case <-time.After(2 * time.Second):
	}
}

// validate checks that the file is as long as its meta page says, then walks
// every key of every bucket on this goroutine (where faults are recoverable)
// and finally runs bbolt's own consistency check.
func (s *Store) validate(db *bolt.DB) error {
	fi, err := os.Stat(s.path)
	if err != nil {
		return fmt.Errorf("store: stat %s: %w", s.path, err)
	}
	return db.View(func(tx *bolt.Tx) error {
		if fi.Size() < tx.Size() {
			return fmt.Errorf("%w: %s: file is truncated (%d bytes, its header says %d)", ErrCorrupt, s.path, fi.Size(), tx.Size())
		}
		if s.opts.SkipCheck {
			return nil
		}
		err := tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			return b.ForEach(func(k, v []byte) error { return nil })
		})
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrCorrupt, s.path, err)
		}
		for cerr := range tx.Check() {
			// Drain the channel so the checker goroutine ends, keep the first.
			if err == nil {
				err = fmt.Errorf("%w: %s: consistency check: %v", ErrCorrupt, s.path, cerr)
			}
		}
		return err
	})
}

// initOrMigrate runs in Open's write transaction.
func (s *Store) initOrMigrate(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		foreign := false
		_ = tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			foreign = true
			return nil
		})
		if foreign {
			return fmt.Errorf("%w: %s: a bbolt file but not an apimgw store (no schema version)", ErrCorrupt, s.path)
		}
		for _, name := range allBuckets {
			if _, err := tx.CreateBucket(name); err != nil {
				return fmt.Errorf("store: create bucket %s: %w", name, err)
			}
		}
		meta = tx.Bucket(bucketMeta)
		if err := meta.Put(keySchema, u32(currentSchema)); err != nil {
			return err
		}
		var id [16]byte
		if _, err := rand.Read(id[:]); err != nil {
			return err
		}
		if err := meta.Put(keyStoreID, []byte(hex.EncodeToString(id[:]))); err != nil {
			return err
		}
		return meta.Put(keyCreated, u64(uint64(s.opts.Now().UnixNano())))
	}
	raw := meta.Get(keySchema)
	if len(raw) != 4 {
		return fmt.Errorf("%w: %s: schema version unreadable (%d bytes)", ErrCorrupt, s.path, len(raw))
	}
	ver := binary.BigEndian.Uint32(raw)
	if ver > currentSchema {
		return fmt.Errorf("%w: %s has schema version %d, this build understands up to %d; refusing to open it (was apimgw downgraded? start the newer build, or move the file aside)",
			ErrSchemaTooNew, s.path, ver, currentSchema)
	}
	if ver == 0 {
		return fmt.Errorf("%w: %s: schema version 0", ErrCorrupt, s.path)
	}
	for ver < currentSchema {
		m := migrations[ver]
		if m == nil {
			return fmt.Errorf("store: %s: no migration from schema %d to %d in this build", s.path, ver, ver+1)
		}
		if err := m(tx); err != nil {
			return fmt.Errorf("store: %s: migrating schema %d to %d: %w", s.path, ver, ver+1, err)
		}
		s.log.Info("store: migrated schema", "path", s.path, "from", ver, "to", ver+1)
		ver++
	}
	for _, name := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("store: create bucket %s: %w", name, err)
		}
	}
	return meta.Put(keySchema, u32(currentSchema))
}

// quarantine renames the damaged file aside. The name carries the UTC time so
// successive quarantines never overwrite each other.
func (s *Store) quarantine(reason error) (string, error) {
	now := s.opts.Now().UTC()
	base := s.path + ".corrupt-" + now.Format("20060102T150405Z")
	dst := base
	for i := 1; ; i++ {
		if _, err := os.Lstat(dst); errors.Is(err, os.ErrNotExist) {
			break
		}
		dst = fmt.Sprintf("%s.%d", base, i)
	}
	if err := os.Rename(s.path, dst); err != nil {
		return "", err
	}
	s.statusMu.Lock()
	s.status.QuarantinedTo = dst
	s.status.QuarantineReason = reason.Error()
	s.status.QuarantinedAt = now
	s.statusMu.Unlock()
	return dst, nil
}

// view and update run fn in a transaction, map a closed database to ErrClosed
// and turn a bbolt panic (a page damaged after Open) into ErrCorrupt instead
// of taking the appliance down.
func (s *Store) view(fn func(tx *bolt.Tx) error) (err error) {
	if s.closed.Load() {
		return ErrClosed
	}
	defer recoverCorrupt(&err, s.path)
	err = s.db.View(fn)
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		err = ErrClosed
	}
	return err
}

func (s *Store) update(fn func(tx *bolt.Tx) error) (err error) {
	if s.closed.Load() {
		return ErrClosed
	}
	return s.updateNoClosedCheck(fn)
}

func (s *Store) updateNoClosedCheck(fn func(tx *bolt.Tx) error) (err error) {
	defer recoverCorrupt(&err, s.path)
	err = s.db.Update(fn)
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		err = ErrClosed
	}
	return err
}

func recoverCorrupt(err *error, path string) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%w: %s: %v", ErrCorrupt, path, r)
	}
}

func u32(v uint32) []byte {
	b := make([]byte, 4)
	binary.BigEndian.PutUint32(b, v)
	return b
}

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func getU64(b *bolt.Bucket, k []byte) uint64 {
	v := b.Get(k)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func timeFromNanos(n uint64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(n))
}

func nanos(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	return uint64(t.UnixNano())
}
