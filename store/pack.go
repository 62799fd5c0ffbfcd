package store

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The queue bucket holds packs: one bbolt value per group of records
// committed together, under the sequence of its first record, instead of one
// value per record. A commit of a few hundred records is then one Put, and an
// acknowledgement deletes a few keys, not thousands: per record, bbolt's
// cursor search, node insert and page write were most of the store's cost
// (docs/benchmarks.md, "Hybrid mode").
//
// Layout of a pack value:
//
//	byte     0 (packMarker)
//	uvarint  n, the number of records (sequences first .. first+n-1)
//	n times  8-byte append time (Unix ns, big endian), uvarint length, the record's bytes
//
// A value that does not start with packMarker is one record as builds before
// packs wrote it (8-byte append time, then the bytes): an append time's first
// byte is never 0 after 1972. Both read the same, so files written by older
// builds need no migration.
//
// Records below the queue's head (Ack, eviction) are dead even while their
// pack is still stored (a pack is deleted once all its records are dead).
// The head is persisted in queue_meta with the counts, in the same
// transactions, so a dead record never comes back.

const packMarker = 0

// Packs are cut below packMaxBytes: small enough that a leaf page holds two
// (bbolt rewrites a whole leaf, with every value in it, when one of its keys
// changes, and never splits a leaf of four keys or fewer — with large packs
// every commit and every acknowledgement rewrote their neighbours, and packs
// a little over half a page left every leaf a two-page overflow, doubling the
// file), large enough that a pack holds tens of records. On 4 KiB pages two
// packs, their keys and element headers and the page header fill the page
// exactly. A record larger than a pack is a pack of its own.
const packMaxBytes = 2016

// keyHead in queue_meta: the lowest sequence that may still be live.
var keyHead = []byte("head")

// packRecord is one record of a pack, aliasing the pack's bytes.
type packRecord struct {
	seq      uint64
	appended uint64 // Unix ns
	data     []byte
}

// packIter walks the records of one stored value, oldest first.
type packIter struct {
	seq    uint64 // of the next record
	left   int    // records not yet returned
	rest   []byte
	legacy bool // v is one record in the format before packs
	err    error
}

func newPackIter(k, v []byte) packIter {
	if len(k) != 8 {
		return packIter{err: fmt.Errorf("queue key of %d bytes", len(k))}
	}
	first := binary.BigEndian.Uint64(k)
	if len(v) > 0 && v[0] == packMarker {
		n, w := binary.Uvarint(v[1:])
		if w <= 0 || n == 0 || n > uint64(len(v)) {
			return packIter{err: fmt.Errorf("queue pack %d: bad record count", first)}
		}
		return packIter{seq: first, left: int(n), rest: v[1+w:]}
	}
	if len(v) < 8 {
		return packIter{err: fmt.Errorf("queue entry %d: %d bytes", first, len(v))}
	}
	return packIter{seq: first, left: 1, rest: v, legacy: true}
}

// count is the number of records the value holds (all of them, live or not).
func (it *packIter) count() int { return it.left }

// next returns the next record; ok is false at the end or on damage (err).
func (it *packIter) next() (r packRecord, ok bool) {
	if it.left <= 0 || it.err != nil {
		return r, false
	}
	if it.legacy {
		r = packRecord{seq: it.seq, appended: binary.BigEndian.Uint64(it.rest), data: it.rest[8:]}
		it.left, it.rest = 0, nil
		return r, true
	}
	if len(it.rest) < 9 {
		it.err = fmt.Errorf("queue pack: record %d truncated", it.seq)
		return r, false
	}
	t := binary.BigEndian.Uint64(it.rest)
	l, w := binary.Uvarint(it.rest[8:])
	if w <= 0 || l > uint64(len(it.rest)-8-w) {
		it.err = fmt.Errorf("queue pack: record %d truncated", it.seq)
		return r, false
	}
	start := 8 + w
	r = packRecord{seq: it.seq, appended: t, data: it.rest[start : start+int(l) : start+int(l)]}
	it.rest = it.rest[start+int(l):]
	it.seq++
	it.left--
	if it.left == 0 && len(it.rest) != 0 {
		it.err = fmt.Errorf("queue pack: %d bytes after record %d", len(it.rest), r.seq)
	}
	return r, true
}

// lastSeq is the sequence of the value's last record.
func lastSeq(k []byte, it packIter) uint64 {
	return binary.BigEndian.Uint64(k) + uint64(it.count()) - 1
}

// appendPack appends the pack of records [from, to) of b to dst. b.buf holds
// each record as [8-byte append time][bytes], ending at b.ends[i].
func appendPack(dst []byte, b *pendingBatch, from, to int) []byte {
	dst = append(dst, packMarker)
	dst = binary.AppendUvarint(dst, uint64(to-from))
	prev := 0
	if from > 0 {
		prev = b.ends[from-1]
	}
	for i := from; i < to; i++ {
		rec := b.buf[prev:b.ends[i]]
		dst = append(dst, rec[:8]...)
		dst = binary.AppendUvarint(dst, uint64(len(rec)-8))
		dst = append(dst, rec[8:]...)
		prev = b.ends[i]
	}
	return dst
}

// seekPack positions c on the value holding seq, or the first one after it,
// and returns it (nil key when none).
func seekPack(c *bolt.Cursor, seq uint64) (k, v []byte) {
	var key [8]byte
	binary.BigEndian.PutUint64(key[:], seq)
	k, v = c.Seek(key[:])
	if k != nil && binary.BigEndian.Uint64(k) == seq {
		return k, v
	}
	// The value before may hold seq.
	var pk, pv []byte
	if k == nil {
		pk, pv = c.Last()
	} else {
		pk, pv = c.Prev()
	}
	if pk != nil {
		if it := newPackIter(pk, pv); it.err == nil && lastSeq(pk, it) >= seq {
			return pk, pv
		}
		return c.Next()
	}
	return c.First()
}

// forEachLive calls fn for every live record (sequence >= head), oldest
// first, in transaction tx. The record's data aliases the mapping: valid only
// during the transaction.
func forEachLive(tx *bolt.Tx, head uint64, fn func(r packRecord) error) error {
	c := tx.Bucket(bucketQueue).Cursor()
	for k, v := seekPack(c, head); k != nil; k, v = c.Next() {
		it := newPackIter(k, v)
		for r, ok := it.next(); ok; r, ok = it.next() {
			if r.seq < head {
				continue
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		if it.err != nil {
			return it.err
		}
	}
	return nil
}

func appendedTime(ns uint64) time.Time { return time.Unix(0, int64(ns)) }
