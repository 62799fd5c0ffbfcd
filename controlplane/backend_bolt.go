package controlplane

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/apimgw/apimgw/wire"
)

// boltBackend keeps everything in one bbolt file, which one process at a
// time may open (bbolt locks it): the configuration revision is therefore
// kept in memory only.
type boltBackend struct {
	db  *bolt.DB
	rev atomic.Int64
	log *slog.Logger

	// idleAfter is how long after the last ingest or telemetry scan the
	// file's mapped pages are released (releaseMapped).
	idleAfter time.Duration
	idleMu    sync.Mutex
	idle      *time.Timer // nil until first used, stopped by close
	closed    bool
}

// boltIdleRelease is boltBackend.idleAfter: ingest comes in batches a
// fraction of a second apart while gateways upload, and a report scans in
// one go, so 30 s without either is idle.
const boltIdleRelease = 30 * time.Second

// openBolt opens (creating if needed) the bbolt file at path, creates its
// buckets and converts telemetry of older builds (migrateTelemetry).
func openBolt(path string, log *slog.Logger) (*boltBackend, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("controlplane: open %s: %w", path, err)
	}
	// Batch (telemetry, heartbeats) waits this long for company: short, so
	// one gateway flushing its backlog batch after batch is not slowed down.
	db.MaxBatchDelay = time.Millisecond
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
				return err
			}
		}
		n, err := migrateTelemetry(tx)
		if err != nil {
			return fmt.Errorf("bucket %s: %w", bucketTelemetry, err)
		}
		if n > 0 {
			log.Info("controlplane: telemetry records converted to the wire record format", "records", n)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("controlplane: load %s: %w", path, err)
	}
	return &boltBackend{db: db, log: log, idleAfter: boltIdleRelease}, nil
}

// used notes that telemetry pages of the file were just read or written:
// idleAfter from now, unless used again, releaseMapped runs.
func (b *boltBackend) used() {
	b.idleMu.Lock()
	defer b.idleMu.Unlock()
	switch {
	case b.closed:
	case b.idle == nil:
		b.idle = time.AfterFunc(b.idleAfter, b.releaseMapped)
	default:
		b.idle.Reset(b.idleAfter)
	}
}

// releaseMapped is store.(*Store).ReleaseMapped for this file (controlplane
// may not import store, docs/architecture.md). It tells the kernel that apimcp no longer needs the pages of
// the file it has mapped (madvise MADV_DONTNEED). Ingest and reports map
// the telemetry they touch, and bbolt's mapping is never unmapped while the
// file stays open, so after a few million records the pages counted in
// apimcp's RSS for good were most of the file (docs/benchmarks.md, "Idle
// footprint, fourth pass"). bbolt maps the file read-only and shared and
// writes with pwrite, so the pages stay in the page cache and are faulted
// back in when read: nothing is lost. It runs inside a read transaction, so
// bbolt cannot remap (on growth) while the range is advised.
func (b *boltBackend) releaseMapped() {
	err := b.db.View(func(tx *bolt.Tx) error {
		data, size := b.db.Info().Data, tx.Size()
		if data == 0 || size <= 0 {
			return nil
		}
		// The mapping is not Go memory: pass its address as it is.
		if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, data, uintptr(size), syscall.MADV_DONTNEED); e != 0 {
			return e
		}
		return nil
	})
	if err != nil && err != bolt.ErrDatabaseNotOpen && b.log != nil {
		b.log.Debug("controlplane: store pages not released", "error", err)
	}
}

type boltTx struct {
	tx   *bolt.Tx
	rev  int64
	bump bool
}

func (t *boltTx) revision() int64 { return t.rev }
func (t *boltTx) bumpRevision()   { t.bump = true }

func (t *boltTx) forEach(bucket string, fn func(string, []byte) error) error {
	return t.tx.Bucket([]byte(bucket)).ForEach(func(k, v []byte) error { return fn(string(k), v) })
}

func (t *boltTx) put(bucket, key string, v []byte) error {
	return t.tx.Bucket([]byte(bucket)).Put([]byte(key), v)
}

func (t *boltTx) del(bucket, key string) error {
	return t.tx.Bucket([]byte(bucket)).Delete([]byte(key))
}

func (b *boltBackend) update(fn func(backendTx) error) error {
	var bump bool
	err := b.db.Update(func(tx *bolt.Tx) error {
		t := &boltTx{tx: tx, rev: b.rev.Load()}
		if err := fn(t); err != nil {
			return err
		}
		bump = t.bump
		return nil
	})
	if err == nil && bump {
		b.rev.Add(1)
	}
	return err
}

func (b *boltBackend) revision() (int64, error) { return b.rev.Load(), nil }
func (b *boltBackend) changed() <-chan struct{} { return nil }
func (b *boltBackend) shared() bool             { return false }

func (b *boltBackend) putStatus(gw string, data []byte) error {
	return b.db.Batch(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketGWStatus)).Put([]byte(gw), data)
	})
}

func (b *boltBackend) deleteStatus(gw string) error {
	return b.db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte(bucketGWStatus)).Delete([]byte(gw)) })
}

func (b *boltBackend) allStatuses() (map[string][]byte, error) {
	out := map[string][]byte{}
	err := b.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketGWStatus)).ForEach(func(k, v []byte) error {
			out[string(k)] = append([]byte(nil), v...)
			return nil
		})
	})
	return out, err
}

// ingest stores the records of batch not yet stored, in one transaction
// (shared with concurrent uploads: one commit, one fsync). Per record it is
// one bbolt Put, and the duplicate check costs nothing when the key sorts
// after every key stored (the usual case: keys begin with the time, and a
// gateway uploads what it has just served); otherwise one Seek of a cursor
// kept for the batch. Keys are made in one buffer and the values copied into
// one arena per batch (bbolt keeps values until the commit; it copies keys).
func (b *boltBackend) ingest(gw string, batch *wire.RawBatch, cutoff time.Time, ack *wire.TelemetryAck) error {
	size := 0
	for i := range batch.Records {
		size += len(batch.Records[i].Data)
	}
	arena := make([]byte, 0, size)
	vals := make([][]byte, len(batch.Records))
	for i := range batch.Records {
		d := batch.Records[i].Data
		arena = append(arena, d...)
		vals[i] = arena[len(arena)-len(d):]
	}
	defer b.used()
	var key, newest []byte
	// Batch: concurrent uploads from many gateways share one commit (one
	// fsync). The function may run twice; it starts its counts afresh.
	return b.db.Batch(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte(bucketTelemetry))
		c := bk.Cursor()
		last, _ := c.Last()
		newest = append(newest[:0], last...) // nil: empty bucket
		ack.Accepted, ack.Duplicates, ack.Expired = 0, 0, 0
		for i := range batch.Records {
			r := &batch.Records[i]
			t := wire.RecordTime(r.Data)
			if t.Before(cutoff) {
				ack.Expired++
				continue
			}
			key = appendTelemetryKey(key[:0], t, gw, batch.Stream, r.Seq)
			if newest == nil || bytes.Compare(key, newest) > 0 {
				newest = append(newest[:0], key...)
			} else if k, _ := c.Seek(key); bytes.Equal(k, key) {
				ack.Duplicates++
				continue
			}
			if err := bk.Put(key, vals[i]); err != nil {
				return err
			}
			ack.Accepted++
		}
		return nil
	})
}

func (b *boltBackend) pruneTelemetry(cutoffTime time.Time) (int, error) {
	defer b.used()
	cutoff := uint64(cutoffTime.UnixNano())
	n := 0
	for {
		done := true
		err := b.db.Update(func(tx *bolt.Tx) error {
			c := tx.Bucket([]byte(bucketTelemetry)).Cursor()
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				if len(k) < 8 || binary.BigEndian.Uint64(k) >= cutoff {
					return nil
				}
				if err := c.Delete(); err != nil {
					return err
				}
				n++
				if n%10000 == 0 {
					done = false // keep transactions short
					return nil
				}
			}
			return nil
		})
		if err != nil || done {
			return n, err
		}
	}
}

func (b *boltBackend) scanTelemetry(from, to time.Time, fn func(k, v []byte) bool) error {
	defer b.used()
	return b.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket([]byte(bucketTelemetry)).Cursor()
		var k, v []byte
		if from.IsZero() {
			k, v = c.First()
		} else {
			k, v = c.Seek(binary.BigEndian.AppendUint64(nil, uint64(from.UnixNano())))
		}
		var end uint64 = math.MaxUint64
		if !to.IsZero() {
			end = uint64(to.UnixNano())
		}
		for ; k != nil; k, v = c.Next() {
			if binary.BigEndian.Uint64(k) > end || !fn(k, v) {
				return nil
			}
		}
		return nil
	})
}

func (b *boltBackend) close() error {
	b.idleMu.Lock()
	b.closed = true
	if b.idle != nil {
		b.idle.Stop()
	}
	b.idleMu.Unlock()
	return b.db.Close()
}
