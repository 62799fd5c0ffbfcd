package store

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Metadata is what the store remembers about the gateway itself.
type Metadata struct {
	SchemaVersion uint32
	CreatedAt     time.Time
	// StoreID is a random id made when the file was created. Telemetry
	// sequences are unique only within one StoreID: a quarantined or deleted
	// file starts a new stream from sequence 1, so an uploader sends the pair.
	StoreID   string
	GatewayID string
	// LastSync is when a config sync last succeeded.
	LastSync time.Time
	// LastError is the last error the sync agent recorded ("" after
	// SetLastError("", t)), with its time.
	LastError   string
	LastErrorAt time.Time
}

// Metadata reads the metadata.
func (s *Store) Metadata() (Metadata, error) {
	var m Metadata
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMeta)
		if v := b.Get(keySchema); len(v) == 4 {
			m.SchemaVersion = binary.BigEndian.Uint32(v)
		}
		m.CreatedAt = timeFromNanos(getU64(b, keyCreated))
		m.StoreID = string(b.Get(keyStoreID))
		m.GatewayID = string(b.Get(keyGatewayID))
		m.LastSync = timeFromNanos(getU64(b, keyLastSync))
		m.LastError = string(b.Get(keyLastError))
		m.LastErrorAt = timeFromNanos(getU64(b, keyLastErrorAt))
		return nil
	})
	return m, err
}

// SetGatewayID records the gateway's identity (from env.conf or its token).
func (s *Store) SetGatewayID(id string) error {
	return s.putMeta("gateway id", func(b *bolt.Bucket) error { return b.Put(keyGatewayID, []byte(id)) })
}

// SetLastSync records the time of the last successful config sync.
func (s *Store) SetLastSync(t time.Time) error {
	return s.putMeta("last sync", func(b *bolt.Bucket) error { return b.Put(keyLastSync, u64(nanos(t))) })
}

// SetLastError records the sync agent's last error; an empty msg clears it.
func (s *Store) SetLastError(msg string, t time.Time) error {
	return s.putMeta("last error", func(b *bolt.Bucket) error {
		if err := b.Put(keyLastError, []byte(msg)); err != nil {
			return err
		}
		return b.Put(keyLastErrorAt, u64(nanos(t)))
	})
}

func (s *Store) putMeta(what string, fn func(b *bolt.Bucket) error) error {
	err := s.update(func(tx *bolt.Tx) error { return fn(tx.Bucket(bucketMeta)) })
	if err != nil {
		return fmt.Errorf("store: set %s: %w", what, err)
	}
	return nil
}
