package store

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Counter is the checkpointed state of one long-window counter (a quota, a
// long rate limit), keyed by the policy identity the caller chooses.
type Counter struct {
	Key   string
	Count int64 // calls counted in the window
	Bytes int64 // bandwidth counted in the window
	// WindowStart and WindowEnd bound the counting window. A counter whose
	// window has ended is dropped on load and on the next save.
	WindowStart time.Time
	WindowEnd   time.Time
}

const counterValueLen = 32

// SaveCounters checkpoints counters (insert or replace by Key) in one durable
// transaction, and deletes stored counters whose window has ended. A counter
// with an empty key or a key over 32 KiB is ErrInvalidArgument and nothing is
// written.
func (s *Store) SaveCounters(cs []Counter) error {
	for _, c := range cs {
		if c.Key == "" || len(c.Key) > bolt.MaxKeySize {
			return fmt.Errorf("%w: counter key of %d bytes", ErrInvalidArgument, len(c.Key))
		}
	}
	now := s.opts.Now()
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCounters)
		var val [counterValueLen]byte
		for _, c := range cs {
			binary.BigEndian.PutUint64(val[0:], uint64(c.Count))
			binary.BigEndian.PutUint64(val[8:], uint64(c.Bytes))
			binary.BigEndian.PutUint64(val[16:], nanos(c.WindowStart))
			binary.BigEndian.PutUint64(val[24:], nanos(c.WindowEnd))
			if err := b.Put([]byte(c.Key), val[:]); err != nil {
				return err
			}
		}
		return pruneCounters(b, now)
	})
	if err != nil {
		return fmt.Errorf("store: save %d counters: %w", len(cs), err)
	}
	return nil
}

func pruneCounters(b *bolt.Bucket, now time.Time) error {
	var expired [][]byte
	err := b.ForEach(func(k, v []byte) error {
		if c, ok := decodeCounter(k, v); !ok || (!c.WindowEnd.IsZero() && !c.WindowEnd.After(now)) {
			expired = append(expired, append([]byte(nil), k...))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range expired {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// LoadCounters returns the checkpointed counters whose window has not ended.
func (s *Store) LoadCounters() ([]Counter, error) {
	now := s.opts.Now()
	var out []Counter
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCounters).ForEach(func(k, v []byte) error {
			c, ok := decodeCounter(k, v)
			if ok && (c.WindowEnd.IsZero() || c.WindowEnd.After(now)) {
				out = append(out, c)
			}
			return nil
		})
	})
	return out, err
}

// DeleteCounters removes counters by key (missing keys are ignored).
func (s *Store) DeleteCounters(keys ...string) error {
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCounters)
		for _, k := range keys {
			if k == "" {
				continue
			}
			if err := b.Delete([]byte(k)); err != nil {
				return err
			}
		}
		return nil
	})
}

func decodeCounter(k, v []byte) (Counter, bool) {
	if len(v) != counterValueLen {
		return Counter{}, false
	}
	return Counter{
		Key:         string(k),
		Count:       int64(binary.BigEndian.Uint64(v[0:])),
		Bytes:       int64(binary.BigEndian.Uint64(v[8:])),
		WindowStart: timeFromNanos(binary.BigEndian.Uint64(v[16:])),
		WindowEnd:   timeFromNanos(binary.BigEndian.Uint64(v[24:])),
	}, true
}
