package controlplane

import (
	"time"

	"github.com/apimgw/apimgw/wire"
)

// backend is where a Store keeps its state: configuration records and
// gateway snapshot versions (by bucket and key, JSON values), gateway status
// and telemetry. Two implement it: boltBackend (one bbolt file, one process)
// and pgBackend (PostgreSQL, any number of apimcp processes on one
// database). A Store keeps the configuration model in memory and uses the
// backend only to persist it, to learn of changes made by other processes,
// and for gateway status and telemetry.
type backend interface {
	// update runs fn in one transaction that excludes every other update of
	// the same database, also by other processes, and commits it when fn
	// returns nil. fn's error rolls everything back and is returned.
	update(fn func(tx backendTx) error) error
	// revision returns the configuration revision now committed (cheap, no
	// lock): it changes with every configuration write by any process.
	revision() (int64, error)
	// changed receives a value when another process may have committed a
	// configuration write (nil for a backend only one process uses).
	changed() <-chan struct{}
	// shared reports whether other processes may use the same database.
	shared() bool

	// putStatus stores a gateway's status record (JSON); deleteStatus
	// removes it; allStatuses reads every one (only called when shared).
	putStatus(gw string, data []byte) error
	deleteStatus(gw string) error
	allStatuses() (map[string][]byte, error)

	// ingest stores the records of b from gw once per (time, gw, stream,
	// seq), counting in ack what was accepted, already there (duplicate) or
	// older than cutoff (expired).
	ingest(gw string, b *wire.RawBatch, cutoff time.Time, ack *wire.TelemetryAck) error
	// pruneTelemetry deletes records older than cutoff.
	pruneTelemetry(cutoff time.Time) (int, error)
	// scanTelemetry calls fn with each record whose time is in [from, to]
	// (zero: unbounded), oldest first, its key as appendTelemetryKey makes
	// it, until fn returns false.
	scanTelemetry(from, to time.Time, fn func(k, v []byte) bool) error

	close() error
}

// backendTx is one update transaction of a backend.
type backendTx interface {
	// revision is the configuration revision this transaction started from.
	revision() int64
	// bumpRevision makes this transaction a configuration write: at commit
	// the revision grows by one and other processes are told.
	bumpRevision()
	forEach(bucket string, fn func(key string, v []byte) error) error
	put(bucket, key string, v []byte) error
	del(bucket, key string) error
}
