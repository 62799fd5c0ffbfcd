package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// SnapshotInfo describes one stored config snapshot.
type SnapshotInfo struct {
	// ID is the store's own increasing number for the snapshot (1, 2, …).
	ID uint64 `json:"id"`
	// Version is the caller's version string (the control plane's snapshot
	// version, or a file's modification stamp in standalone mode).
	Version string `json:"version"`
	// Checksum is "sha256:<hex>" of the bytes as received; it is verified on
	// every read.
	Checksum   string    `json:"checksum"`
	Size       int       `json:"size"`
	AcceptedAt time.Time `json:"acceptedAt"`
	// SnapshotFacts are what the caller told PutSnapshotFacts about it; they
	// stay with the row for as long as it is kept (zero for rows stored
	// before the store recorded them).
	SnapshotFacts
	Current bool `json:"-"`
}

// SnapshotFacts are facts about a snapshot that the caller knows and the
// store keeps beside it, because the store never parses the bytes.
type SnapshotFacts struct {
	// Origin is where the snapshot came from ("control-plane", "file").
	Origin string `json:"origin,omitempty"`
	// APIs is how many APIs it serves.
	APIs int `json:"apis"`
}

// Snapshot is a stored snapshot with its bytes, exactly as they were given to
// PutSnapshot. The store never parses them.
type Snapshot struct {
	SnapshotInfo
	Data []byte
}

// Checksum returns the checksum the store records for data: "sha256:<hex>".
func Checksum(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// PutSnapshot stores an accepted snapshot and makes it current, durably (one
// fsynced transaction) before it returns: call it before swapping the running
// config. If the current snapshot already has the same version and bytes, it
// is kept and returned (a resync after restart adds nothing). Older snapshots
// beyond Options.KeepSnapshots are pruned, never the current one.
func (s *Store) PutSnapshot(version string, data []byte) (SnapshotInfo, error) {
	return s.PutSnapshotFacts(version, data, SnapshotFacts{})
}

// PutSnapshotFacts is PutSnapshot that also records facts about the snapshot
// with it (shown in the history long after the snapshot stopped serving).
func (s *Store) PutSnapshotFacts(version string, data []byte, facts SnapshotFacts) (SnapshotInfo, error) {
	info := SnapshotInfo{Version: version, Checksum: Checksum(data), Size: len(data), AcceptedAt: s.opts.Now().UTC(), SnapshotFacts: facts, Current: true}
	err := s.update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		infos := tx.Bucket(bucketSnapInfo)
		if cur := getU64(meta, keySnapCurrent); cur != 0 {
			if old, err := decodeInfo(infos.Get(u64(cur))); err == nil && old.Version == version && old.Checksum == info.Checksum {
				old.Current = true
				info = old
				return nil
			}
		}
		id := getU64(meta, keySnapNext)
		if id == 0 {
			id = 1
		}
		info.ID = id
		raw, err := json.Marshal(info)
		if err != nil {
			return err
		}
		k := u64(id)
		if err := infos.Put(k, raw); err != nil {
			return err
		}
		if err := tx.Bucket(bucketSnapData).Put(k, data); err != nil {
			return err
		}
		if err := meta.Put(keySnapNext, u64(id+1)); err != nil {
			return err
		}
		if err := meta.Put(keySnapCurrent, k); err != nil {
			return err
		}
		return s.pruneSnapshots(tx, id)
	})
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("store: put snapshot %q: %w", version, err)
	}
	return info, nil
}

func (s *Store) pruneSnapshots(tx *bolt.Tx, current uint64) error {
	infos := tx.Bucket(bucketSnapInfo)
	datas := tx.Bucket(bucketSnapData)
	n := 0
	c := infos.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	var victims [][]byte
	for k, _ := c.First(); k != nil && n-len(victims) > s.opts.KeepSnapshots; k, _ = c.Next() {
		if binary.BigEndian.Uint64(k) == current {
			continue
		}
		victims = append(victims, bytes.Clone(k))
	}
	for _, k := range victims {
		if err := infos.Delete(k); err != nil {
			return err
		}
		if err := datas.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// CurrentSnapshot returns the current snapshot (what the appliance serves at
// start). ErrNoSnapshot if none was ever stored; ErrSnapshotChecksum if its
// bytes were damaged on disk.
func (s *Store) CurrentSnapshot() (Snapshot, error) {
	var snap Snapshot
	err := s.view(func(tx *bolt.Tx) error {
		cur := getU64(tx.Bucket(bucketMeta), keySnapCurrent)
		if cur == 0 {
			return ErrNoSnapshot
		}
		var err error
		snap, err = s.readSnapshot(tx, cur, cur)
		return err
	})
	return snap, err
}

// Snapshot returns the kept snapshot with that id (ErrSnapshotNotFound).
func (s *Store) Snapshot(id uint64) (Snapshot, error) {
	var snap Snapshot
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		snap, err = s.readSnapshot(tx, id, getU64(tx.Bucket(bucketMeta), keySnapCurrent))
		return err
	})
	return snap, err
}

func (s *Store) readSnapshot(tx *bolt.Tx, id, cur uint64) (Snapshot, error) {
	k := u64(id)
	raw := tx.Bucket(bucketSnapInfo).Get(k)
	data := tx.Bucket(bucketSnapData).Get(k)
	if raw == nil || data == nil {
		return Snapshot{}, fmt.Errorf("%w: id %d", ErrSnapshotNotFound, id)
	}
	info, err := decodeInfo(raw)
	if err != nil {
		return Snapshot{}, fmt.Errorf("%w: %s: snapshot %d metadata: %v", ErrCorrupt, s.path, id, err)
	}
	info.Current = id == cur
	if got := Checksum(data); got != info.Checksum {
		return Snapshot{}, fmt.Errorf("%w: snapshot %d (version %q): recorded %s, bytes hash to %s", ErrSnapshotChecksum, id, info.Version, info.Checksum, got)
	}
	return Snapshot{SnapshotInfo: info, Data: bytes.Clone(data)}, nil
}

// Snapshots lists the kept snapshots, newest first, without their bytes.
func (s *Store) Snapshots() ([]SnapshotInfo, error) {
	var out []SnapshotInfo
	err := s.view(func(tx *bolt.Tx) error {
		cur := getU64(tx.Bucket(bucketMeta), keySnapCurrent)
		c := tx.Bucket(bucketSnapInfo).Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			info, err := decodeInfo(v)
			if err != nil {
				return fmt.Errorf("%w: %s: snapshot metadata: %v", ErrCorrupt, s.path, err)
			}
			info.Current = info.ID == cur
			out = append(out, info)
		}
		return nil
	})
	return out, err
}

// SetCurrentSnapshot makes a kept snapshot current again (rollback, or roll
// forward after a rollback) and returns it; its bytes are verified first. The
// history is not changed otherwise.
func (s *Store) SetCurrentSnapshot(id uint64) (Snapshot, error) {
	var snap Snapshot
	err := s.update(func(tx *bolt.Tx) error {
		var err error
		if snap, err = s.readSnapshot(tx, id, id); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keySnapCurrent, u64(id))
	})
	if err != nil {
		return Snapshot{}, fmt.Errorf("store: set current snapshot %d: %w", id, err)
	}
	return snap, nil
}

func decodeInfo(raw []byte) (SnapshotInfo, error) {
	var info SnapshotInfo
	if raw == nil {
		return info, fmt.Errorf("missing")
	}
	err := json.Unmarshal(raw, &info)
	return info, err
}
