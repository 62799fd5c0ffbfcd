package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Drop reasons: every telemetry record that does not reach the queue, or
// leaves it without being acknowledged, is counted under exactly one of these.
const (
	// DropQueueFull: evicted (oldest first) to keep the queue within
	// Options.QueueMaxBytes.
	DropQueueFull = "queue_full"
	// DropDiskFull: the commit failed with ENOSPC, EDQUOT or EFBIG.
	DropDiskFull = "disk_full"
	// DropWriteError: the commit failed with another I/O error.
	DropWriteError = "write_error"
	// DropTooLarge: the record exceeded Options.MaxRecordBytes.
	DropTooLarge = "too_large"
	// DropBacklog: more than Options.PendingMaxBytes were waiting for the disk.
	DropBacklog = "backlog"
)

// DropReasons lists every reason, for metrics that want a zero line each.
var DropReasons = []string{DropQueueFull, DropDiskFull, DropWriteError, DropTooLarge, DropBacklog}

// recordOverhead is what the queue stores besides the record's bytes: the
// 8-byte sequence key and the 8-byte append time.
const recordOverhead = 16

// Keys of the queue_meta bucket.
var (
	keyNextSeq   = []byte("next_seq")
	keyAcked     = []byte("acked")
	keyCount     = []byte("count")
	keyBytes     = []byte("bytes")
	keyDropPrefx = "dropped/"
	// keyInFlight: how many records were evicted while on the wire and not
	// yet acknowledged (queue.inFlight). Loading a file counts them dropped.
	keyInFlight = []byte("evicted_in_flight")
)

// Record is one telemetry record read back from the queue. Data is the caller's
// bytes as appended; the store never looks inside.
type Record struct {
	Seq      uint64
	Appended time.Time
	Data     []byte
}

// QueueStats describes the telemetry backlog (heartbeat, status page, metrics).
type QueueStats struct {
	Records  int64 // committed, not yet acknowledged
	Bytes    int64 // their bytes, as counted against MaxBytes
	MaxBytes int64
	// HeadSeq and TailSeq are the oldest and newest committed sequences still
	// queued (0 when empty). Acked is the highest acknowledged sequence ever.
	HeadSeq, TailSeq, Acked uint64
	// Oldest is the append time of the head record (zero when empty).
	Oldest time.Time
	// Pending records are appended but not yet committed.
	Pending      int
	PendingBytes int
	// Dropped is the total of DroppedBy over all reasons, since the file was
	// created (drop counts are persisted with each commit).
	Dropped   uint64
	DroppedBy map[string]uint64
	// Commits counts successful group commits since Open (a metric, and the
	// proof that appends are batched).
	Commits uint64
	// EvictedInFlight records were evicted by the budget while an upload of
	// them was in flight (ReadToSend), not yet acknowledged: neither queued
	// nor dropped yet. An Ack makes them delivered; reopening the file
	// counts them dropped.
	EvictedInFlight int
}

// pendingBatch holds appended records until the committer writes them. Values
// are laid out back to back in buf as [8-byte append time][record]; seqs are
// consecutive from first.
type pendingBatch struct {
	buf   []byte
	ends  []int
	first uint64
}

func (b *pendingBatch) reset() {
	b.buf = b.buf[:0]
	b.ends = b.ends[:0]
	b.first = 0
}

type queue struct {
	mu      sync.Mutex // guards everything below
	cur     *pendingBatch
	spare   *pendingBatch
	nextSeq uint64 // next sequence to hand out

	// committed state, as of the last successful transaction
	count, bytes int64
	tail         uint64 // highest committed seq
	acked        uint64
	head         uint64            // lowest seq that may be live (below: acknowledged or evicted)
	drops        map[string]uint64 // persisted + not yet persisted
	dropsDirty   bool
	resolved     uint64        // every seq <= resolved is committed or dropped
	resolvedCh   chan struct{} // closed and replaced whenever resolved moves

	commits uint64

	// sent is the highest sequence ReadToSend handed out for sending. A
	// record at or below it that the budget evicts before its Ack may have
	// reached the control plane: it is not counted dropped but kept in
	// inFlight (its sequence), until an Ack covers it (delivered: the
	// uploader sends its copy until acknowledged) or the file is loaded
	// again (then it counts as dropped). Counted dropped at eviction, it
	// would count twice once the upload in flight succeeded.
	sent     uint64
	inFlight []uint64

	kick    chan struct{} // first record of an empty batch
	urgent  chan struct{} // commit now (batch large, Flush)
	keybuf  []byte
	packbuf []byte
}

func (q *queue) load(s *Store) error {
	q.cur = &pendingBatch{}
	q.spare = &pendingBatch{}
	q.kick = make(chan struct{}, 1)
	q.urgent = make(chan struct{}, 1)
	q.resolvedCh = make(chan struct{})
	q.drops = make(map[string]uint64)
	return s.db.View(func(tx *bolt.Tx) error {
		qm := tx.Bucket(bucketQueueMeta)
		q.nextSeq = getU64(qm, keyNextSeq)
		if q.nextSeq == 0 {
			q.nextSeq = 1
		}
		q.acked = getU64(qm, keyAcked)
		q.count = int64(getU64(qm, keyCount))
		q.bytes = int64(getU64(qm, keyBytes))
		q.tail = q.nextSeq - 1
		q.resolved = q.tail
		q.head = getU64(qm, keyHead)
		c := qm.Cursor()
		for k, v := c.Seek([]byte(keyDropPrefx)); k != nil && strings.HasPrefix(string(k), keyDropPrefx); k, v = c.Next() {
			if len(v) == 8 {
				q.drops[string(k[len(keyDropPrefx):])] = binary.BigEndian.Uint64(v)
			}
		}
		// Records evicted while an upload of them was in flight, never
		// acknowledged: the copies the uploader held are gone with the
		// process, so they count as dropped now (the next commit persists
		// that and clears the key in one transaction).
		if n := getU64(qm, keyInFlight); n > 0 {
			q.drops[DropQueueFull] += n
			q.dropsDirty = true
		}
		// Guard against a counter that disagrees with the data (it is
		// maintained in the same transactions, so this is only a safety net).
		qc := tx.Bucket(bucketQueue).Cursor()
		if k, v := qc.Last(); k != nil {
			it := newPackIter(k, v)
			if it.err != nil {
				return fmt.Errorf("%w: %s: %v", ErrCorrupt, s.path, it.err)
			}
			if last := lastSeq(k, it); last >= q.nextSeq {
				q.nextSeq = last + 1
				q.tail = q.nextSeq - 1
				q.resolved = q.tail
			}
		}
		if q.head == 0 {
			// A file of a build before packs: every stored record is live.
			q.head = q.acked + 1
			if k, _ := qc.First(); k != nil {
				q.head = max(q.head, binary.BigEndian.Uint64(k))
			}
		}
		return nil
	})
}

// Append queues one telemetry record and returns its sequence number. It
// copies rec and returns at once: it never waits for the disk. The record is
// committed by the group committer within Options.CommitInterval; if that
// commit fails (disk full) or the record is evicted before being
// acknowledged, it is counted in QueueStats.DroppedBy, never lost silently.
// Sequences increase strictly, also across restarts, within one store file
// (Metadata.StoreID); a dropped record leaves a gap. Sequence 0 with a nil
// error means the record was dropped at once (DropBacklog: the disk is far
// behind) and counted. Returns ErrRecordTooLarge (counted) or ErrClosed.
func (s *Store) Append(rec []byte) (uint64, error) {
	if s.closed.Load() {
		return 0, ErrClosed
	}
	q := &s.q
	q.mu.Lock()
	seq, err := s.appendLocked(rec)
	q.mu.Unlock()
	return seq, err
}

// AppendBatch is Append for several records under one lock; it returns the
// first record's sequence (the others follow consecutively). A record that is
// too large is dropped and counted; the others are queued.
func (s *Store) AppendBatch(recs [][]byte) (uint64, error) {
	if s.closed.Load() {
		return 0, ErrClosed
	}
	q := &s.q
	q.mu.Lock()
	defer q.mu.Unlock()
	var first uint64
	var firstErr error
	for _, r := range recs {
		seq, err := s.appendLocked(r)
		if first == 0 && seq != 0 {
			first = seq
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return first, firstErr
}

func (s *Store) appendLocked(rec []byte) (uint64, error) {
	q := &s.q
	if s.closed.Load() {
		return 0, ErrClosed
	}
	if len(rec) > s.opts.MaxRecordBytes || int64(len(rec)+recordOverhead) > s.opts.QueueMaxBytes {
		q.drops[DropTooLarge]++
		q.dropsDirty = true
		return 0, fmt.Errorf("%w: %d bytes (limit %d)", ErrRecordTooLarge, len(rec), s.opts.MaxRecordBytes)
	}
	b := q.cur
	if len(b.buf)+len(rec)+8 > s.opts.PendingMaxBytes {
		q.drops[DropBacklog]++
		q.dropsDirty = true
		return 0, nil
	}
	seq := q.nextSeq
	q.nextSeq++
	if len(b.ends) == 0 {
		b.first = seq
		select {
		case q.kick <- struct{}{}:
		default:
		}
	}
	b.buf = binary.BigEndian.AppendUint64(b.buf, uint64(s.opts.Now().UnixNano()))
	b.buf = append(b.buf, rec...)
	b.ends = append(b.ends, len(b.buf))
	if len(b.buf) >= s.opts.CommitMaxBytes {
		select {
		case q.urgent <- struct{}{}:
		default:
		}
	}
	return seq, nil
}

// Flush waits until every record appended before the call is committed (or
// dropped and counted), or ctx ends. It asks the committer not to wait for the
// rest of its interval.
func (s *Store) Flush(ctx context.Context) error {
	q := &s.q
	q.mu.Lock()
	target := q.nextSeq - 1
	q.mu.Unlock()
	select {
	case q.urgent <- struct{}{}:
	default:
	}
	for {
		q.mu.Lock()
		done, ch := q.resolved >= target, q.resolvedCh
		q.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.exited:
			q.mu.Lock()
			done = q.resolved >= target
			q.mu.Unlock()
			if done {
				return nil
			}
			return ErrClosed
		}
	}
}

// committer is the group-commit goroutine: one write transaction (one fsync)
// per batch of appended records.
func (s *Store) committer() {
	defer close(s.exited)
	q := &s.q
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		urgent := false
		select {
		case <-q.kick:
		case <-q.urgent:
			urgent = true
		case <-s.done:
			s.commitPending()
			return
		}
		if !urgent {
			// Let the batch fill for one interval (Go ≥ 1.23 timers: Reset
			// and Stop leave no stale tick behind).
			timer.Reset(s.opts.CommitInterval)
			select {
			case <-timer.C:
			case <-q.urgent:
				timer.Stop()
			case <-s.done:
				timer.Stop()
			}
		}
		s.commitPending()
	}
}

// commitPending writes the current batch in one transaction. On failure the
// batch's records are counted as dropped with the classified reason and the
// store is marked degraded; the next batch tries again, so the queue resumes
// by itself once space returns.
func (s *Store) commitPending() {
	q := &s.q
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	q.mu.Lock()
	b := q.cur
	if len(b.ends) == 0 && !q.dropsDirty {
		q.mu.Unlock()
		return
	}
	q.cur, q.spare = q.spare, nil
	var lastSeq uint64
	if len(b.ends) > 0 {
		lastSeq = b.first + uint64(len(b.ends)) - 1
	}
	drops := make(map[string]uint64, len(q.drops)+1)
	for k, v := range q.drops {
		drops[k] = v
	}
	q.dropsDirty = false
	// count and bytes change only under writeMu, which we hold.
	count, bytes := q.count, q.bytes
	q.mu.Unlock()

	q.mu.Lock()
	head, sent := q.head, q.sent // sent changes only under writeMu, too
	inFlight := q.inFlight
	q.mu.Unlock()
	var evicted uint64
	var evictedSent []uint64
	err := s.updateNoClosedCheck(func(tx *bolt.Tx) error {
		evicted = 0
		evictedSent = evictedSent[:0]
		cnt, byt, hd := count, bytes, head
		qb := tx.Bucket(bucketQueue)
		qb.FillPercent = 1.0 // keys only ever grow: pack pages full
		qm := tx.Bucket(bucketQueueMeta)
		n := len(b.ends)
		incoming := int64(len(b.buf) + 8*n)
		// Evict the oldest live records first.
		if over := byt + incoming - s.opts.QueueMaxBytes; over > 0 && cnt > 0 {
			nh, recs, freed, err := advanceHead(qb, hd, func(r packRecord) bool {
				if over <= 0 {
					return true
				}
				over -= int64(len(r.data) + recordOverhead)
				if r.seq <= sent {
					evictedSent = append(evictedSent, r.seq)
				}
				return false
			})
			if err != nil {
				return err
			}
			hd, cnt, byt = nh, cnt-recs, byt-freed
			evicted += uint64(recs) - uint64(len(evictedSent))
		}
		// If the batch alone exceeds the budget, its own oldest records go.
		start := 0
		for start < n && byt+incoming > s.opts.QueueMaxBytes {
			incoming -= int64(recSize(b, start) + 8)
			evicted++
			start++
		}
		if cnt == 0 && start < n {
			hd = b.first + uint64(start) // everything before is gone
		}
		if err := s.putPacks(qb, b, start); err != nil {
			return err
		}
		cnt += int64(n - start)
		byt += incoming
		if n > 0 {
			if err := qm.Put(keyNextSeq, u64(lastSeq+1)); err != nil {
				return err
			}
		}
		if err := putQueueMeta(qm, cnt, byt, hd); err != nil {
			return err
		}
		drops[DropQueueFull] += evicted
		for reason, v := range drops {
			if err := qm.Put([]byte(keyDropPrefx+reason), u64(v)); err != nil {
				return err
			}
		}
		if err := qm.Put(keyInFlight, u64(uint64(len(inFlight)+len(evictedSent)))); err != nil {
			return err
		}
		count, bytes, head = cnt, byt, hd
		return nil
	})

	// Status first, then the queue state: whoever sees the drop counted or
	// Flush return also sees the status and the log line.
	nrec := len(b.ends)
	s.statusMu.Lock()
	wasDegraded := s.status.Degraded
	s.status.Degraded = err != nil
	if err != nil {
		s.status.LastWriteError = err.Error()
		s.status.LastWriteErrorAt = s.opts.Now()
	}
	s.statusMu.Unlock()
	switch {
	case err != nil && !wasDegraded:
		s.log.Error("store: telemetry commit failed; records are dropped and counted until writes succeed again",
			"path", s.path, "records", nrec, "reason", classify(err), "err", err.Error())
	case err == nil && wasDegraded:
		s.log.Warn("store: telemetry commits succeed again", "path", s.path)
	}

	q.mu.Lock()
	if err == nil {
		// Drops counted by appenders meanwhile stay in q.drops (and dirty).
		q.drops[DropQueueFull] += evicted
		q.inFlight = append(q.inFlight, evictedSent...)
		q.count, q.bytes, q.head = count, bytes, head
		q.commits++
		if lastSeq > 0 {
			q.tail = lastSeq
		}
	} else {
		if nrec > 0 {
			q.drops[classify(err)] += uint64(nrec)
		}
		q.dropsDirty = true
	}
	if lastSeq > q.resolved {
		q.resolved = lastSeq
	}
	close(q.resolvedCh)
	q.resolvedCh = make(chan struct{})
	b.reset()
	if cap(b.buf) > 2*s.opts.CommitMaxBytes {
		// A stalled disk grew this buffer; give the memory back.
		b.buf, b.ends = nil, nil
	}
	q.spare = b
	q.mu.Unlock()
}

func recSize(b *pendingBatch, i int) int {
	if i == 0 {
		return b.ends[0]
	}
	return b.ends[i] - b.ends[i-1]
}

// putPacks writes records [start, n) of b as packs of at most packMaxBytes
// (or one record), each under its first sequence.
func (s *Store) putPacks(qb *bolt.Bucket, b *pendingBatch, start int) error {
	q := &s.q
	n := len(b.ends)
	if start >= n {
		return nil
	}
	// bbolt keeps key and value slices until the commit: every pack gets its
	// own part of one buffer sized so that appending never moves it.
	packs := n - start // at most one per record
	need := len(b.buf) + (n-start)*binary.MaxVarintLen64 + packs*(1+binary.MaxVarintLen64)
	if cap(q.packbuf) < need {
		q.packbuf = make([]byte, 0, need)
	}
	if cap(q.keybuf) < 8*packs {
		q.keybuf = make([]byte, 8*packs)
	}
	buf, keys := q.packbuf[:0], q.keybuf[:8*packs]
	from := start
	for p := 0; from < n; p++ {
		to, size := from, 1+binary.MaxVarintLen16
		for to < n {
			// Each record adds its time, a length of at most 3 bytes (records
			// that fit a pack are shorter than 2^21), and its bytes.
			add := recSize(b, to) + 3
			if to > from && size+add > packMaxBytes {
				break
			}
			size += add
			to++
		}
		k := keys[8*p : 8*p+8]
		binary.BigEndian.PutUint64(k, b.first+uint64(from))
		off := len(buf)
		buf = appendPack(buf, b, from, to)
		if err := qb.Put(k, buf[off:len(buf):len(buf)]); err != nil {
			return err
		}
		from = to
	}
	return nil
}

// advanceHead kills live records from head on, oldest first, until stop
// says to keep one (or none is left), deletes every value whose records are
// all dead, and returns the new head, the records killed and their bytes as
// counted against the budget.
func advanceHead(qb *bolt.Bucket, head uint64, stop func(r packRecord) bool) (newHead uint64, recs, freed int64, err error) {
	newHead = head
	c := qb.Cursor()
	for k, v := seekPack(c, head); k != nil; k, v = c.First() {
		it := newPackIter(k, v)
		kept := false
		for r, ok := it.next(); ok; r, ok = it.next() {
			if r.seq < newHead {
				continue
			}
			if stop(r) {
				kept = true
				break
			}
			newHead = r.seq + 1
			recs++
			freed += int64(len(r.data) + recordOverhead)
		}
		if it.err != nil {
			return 0, 0, 0, fmt.Errorf("%w: %v", ErrCorrupt, it.err)
		}
		if kept {
			return newHead, recs, freed, nil
		}
		if err := c.Delete(); err != nil {
			return 0, 0, 0, err
		}
	}
	return newHead, recs, freed, nil
}

func putQueueMeta(qm *bolt.Bucket, count, bytes int64, head uint64) error {
	if err := qm.Put(keyCount, u64(uint64(count))); err != nil {
		return err
	}
	if err := qm.Put(keyBytes, u64(uint64(bytes))); err != nil {
		return err
	}
	return qm.Put(keyHead, u64(head))
}

// classify maps a commit error to a drop reason.
func classify(err error) string {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EFBIG) {
		return DropDiskFull
	}
	// bbolt formats some errors with %s (file resize), losing the chain.
	msg := err.Error()
	if strings.Contains(msg, syscall.ENOSPC.Error()) || strings.Contains(msg, syscall.EDQUOT.Error()) || strings.Contains(msg, syscall.EFBIG.Error()) {
		return DropDiskFull
	}
	return DropWriteError
}

// Read returns up to max committed records with sequence greater than after,
// oldest first, stopping early once maxBytes of record data are collected
// (always at least one record if any is queued). Pass after=0 to read from
// the head. Reading does not remove anything: Ack does. The records' Data
// share one freshly allocated buffer owned by the caller.
func (s *Store) Read(after uint64, maxRecs, maxBytes int) ([]Record, error) {
	return s.readInto(nil, after, maxRecs, maxBytes)
}

// ReadBuffer is memory a read may reuse (ReadToSendInto): the records and
// their bytes of the last read into it, which the next read into it
// overwrites. The uploader keeps one per batch in flight, so that reading
// 5,000 records a batch makes no garbage.
type ReadBuffer struct {
	recs []Record
	data []byte
}

func (s *Store) readInto(rb *ReadBuffer, after uint64, maxRecs, maxBytes int) ([]Record, error) {
	if maxRecs <= 0 {
		return nil, nil
	}
	var out []Record
	err := s.view(func(tx *bolt.Tx) error {
		from := max(after+1, s.liveHead(tx))
		// First pass sizes the buffer so the copy is one allocation.
		total, n := 0, 0
		err := forEachLive(tx, from, func(r packRecord) error {
			n++
			total += len(r.data)
			if n >= maxRecs || (maxBytes > 0 && total >= maxBytes) {
				return errStop
			}
			return nil
		})
		if err != nil && err != errStop {
			return fmt.Errorf("%w: %s: %v", ErrCorrupt, s.path, err)
		}
		if n == 0 {
			return nil
		}
		var buf []byte
		switch {
		case rb == nil:
			buf, out = make([]byte, 0, total), make([]Record, 0, n)
		default:
			if cap(rb.data) < total {
				rb.data = make([]byte, 0, total)
			}
			if cap(rb.recs) < n {
				rb.recs = make([]Record, 0, n)
			}
			buf, out = rb.data[:0], rb.recs[:0]
		}
		err = forEachLive(tx, from, func(r packRecord) error {
			if len(out) == n {
				return errStop
			}
			if len(out)%readYieldEvery == readYieldEvery-1 {
				runtime.Gosched()
			}
			start := len(buf)
			buf = append(buf, r.data...)
			out = append(out, Record{Seq: r.seq, Appended: appendedTime(r.appended), Data: buf[start:len(buf):len(buf)]})
			return nil
		})
		if err != nil && err != errStop {
			return fmt.Errorf("%w: %s: %v", ErrCorrupt, s.path, err)
		}
		return nil
	})
	return out, err
}

// readYieldEvery: Read gives up its processor (runtime.Gosched) after every
// this many records it copies, so that reading an upload batch (5,000
// records) does not hold a P an event loop is waiting for: the runtime
// preempts a running goroutine only after 10 ms, and a gateway on one CPU
// has one P (docs/benchmarks.md, "Who holds the P").
const readYieldEvery = 1024

// Backlog estimates what Read(after, ...) would find, without a
// transaction: how many committed records have a sequence above after, and
// their bytes (from the queue's average record size, overhead not
// counted). The uploader polls it to send a batch as soon as it is full.
func (s *Store) Backlog(after uint64) (recs, bytes int64) {
	q := &s.q
	q.mu.Lock()
	defer q.mu.Unlock()
	from := max(after+1, q.head)
	if q.count <= 0 || q.tail < from {
		return 0, 0
	}
	recs = min(int64(q.tail-from+1), q.count)
	return recs, max(0, q.bytes*recs/q.count-recs*recordOverhead)
}

// ReadToSend reads like Read and, when send(recs) says the records go to the
// control plane now, marks them sent, in step with the committer: from then
// until an Ack covers them, a record the budget evicts is not counted as
// dropped (the caller holds its copy and sends it until it is acknowledged;
// the control plane stores each sequence once). So a record is counted
// once: delivered, or dropped, never both. Records marked sent that are
// evicted and never acknowledged count as dropped when the file is opened
// again. Only the uploader calls it; send runs under the store's write lock
// and must be quick.
func (s *Store) ReadToSend(after uint64, maxRecs, maxBytes int, send func([]Record) bool) ([]Record, error) {
	return s.ReadToSendInto(nil, after, maxRecs, maxBytes, send)
}

// ReadToSendInto is ReadToSend reading into rb (nil: fresh memory): the
// records returned live in rb until the next read into it.
func (s *Store) ReadToSendInto(rb *ReadBuffer, after uint64, maxRecs, maxBytes int, send func([]Record) bool) ([]Record, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	recs, err := s.readInto(rb, after, maxRecs, maxBytes)
	if err != nil || len(recs) == 0 || !send(recs) {
		return recs, err
	}
	q := &s.q
	q.mu.Lock()
	q.sent = max(q.sent, recs[len(recs)-1].Seq)
	q.mu.Unlock()
	return recs, nil
}

// Unsend says the records above keep that ReadToSend handed out never
// reached the control plane (the uploader could not connect) and will be
// read again: those the budget evicted meanwhile count as dropped now, and
// those still queued are evicted as any other record from now on.
func (s *Store) Unsend(keep uint64) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	q := &s.q
	q.mu.Lock()
	defer q.mu.Unlock()
	if keep >= q.sent {
		return
	}
	q.sent = keep
	i := len(q.inFlight)
	for i > 0 && q.inFlight[i-1] > keep {
		i--
	}
	if n := len(q.inFlight) - i; n > 0 {
		// Persisted by the next commit, with the in-flight count: a crash
		// before it counts them dropped on open all the same.
		q.drops[DropQueueFull] += uint64(n)
		q.dropsDirty = true
		q.inFlight = q.inFlight[:i]
	}
}

// Ack acknowledges every record with sequence <= upTo: they are deleted in one
// durable transaction before Ack returns, so an acknowledged record never comes
// back, not even after a crash. Acknowledging records already gone (evicted,
// acknowledged before) is a no-op. upTo beyond the newest committed record is
// ErrAckAhead and changes nothing.
func (s *Store) Ack(upTo uint64) error {
	if s.closed.Load() {
		return ErrClosed
	}
	q := &s.q
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	q.mu.Lock()
	count, bytes, tail, acked, head := q.count, q.bytes, q.tail, q.acked, q.head
	// Records evicted while in flight, up to upTo, were delivered (by the
	// uploader's copies): they leave inFlight, never counted as dropped.
	delivered := 0
	for delivered < len(q.inFlight) && q.inFlight[delivered] <= upTo {
		delivered++
	}
	stillInFlight := len(q.inFlight) - delivered
	q.mu.Unlock()
	if upTo > tail {
		return fmt.Errorf("%w: ack %d, newest committed %d", ErrAckAhead, upTo, tail)
	}
	if upTo <= acked {
		return nil
	}
	err := s.update(func(tx *bolt.Tx) error {
		qb := tx.Bucket(bucketQueue)
		nh, recs, freed, err := advanceHead(qb, head, func(r packRecord) bool { return r.seq > upTo })
		if err != nil {
			return err
		}
		cnt, byt, hd := count-recs, bytes-freed, max(nh, upTo+1, head)
		qm := tx.Bucket(bucketQueueMeta)
		if err := qm.Put(keyAcked, u64(upTo)); err != nil {
			return err
		}
		if err := qm.Put(keyInFlight, u64(uint64(stillInFlight))); err != nil {
			return err
		}
		if err := putQueueMeta(qm, cnt, byt, hd); err != nil {
			return err
		}
		count, bytes, head = cnt, byt, hd
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: ack %d: %w", upTo, err)
	}
	q.mu.Lock()
	q.count, q.bytes, q.acked, q.head = count, bytes, upTo, head
	q.inFlight = append(q.inFlight[:0], q.inFlight[delivered:]...)
	q.mu.Unlock()
	return nil
}

// liveHead is the queue's head as of transaction tx (the persisted one, so
// that it agrees with the packs tx sees).
func (s *Store) liveHead(tx *bolt.Tx) uint64 {
	if h := getU64(tx.Bucket(bucketQueueMeta), keyHead); h != 0 {
		return h
	}
	s.q.mu.Lock()
	defer s.q.mu.Unlock()
	return s.q.head // a file of a build before packs, not yet committed to
}

// errStop ends a forEachLive walk early.
var errStop = errors.New("store: stop")

// QueueStats reports the telemetry backlog. It reads the head record's time
// in a short read transaction.
func (s *Store) QueueStats() (QueueStats, error) {
	q := &s.q
	q.mu.Lock()
	st := QueueStats{
		Records:         q.count,
		Bytes:           q.bytes,
		MaxBytes:        s.opts.QueueMaxBytes,
		Acked:           q.acked,
		Pending:         len(q.cur.ends),
		EvictedInFlight: len(q.inFlight),
		PendingBytes:    len(q.cur.buf),
		Commits:         q.commits,
		DroppedBy:       make(map[string]uint64, len(DropReasons)),
	}
	for _, r := range DropReasons {
		st.DroppedBy[r] = q.drops[r]
		st.Dropped += q.drops[r]
	}
	q.mu.Unlock()
	err := s.view(func(tx *bolt.Tx) error {
		err := forEachLive(tx, s.liveHead(tx), func(r packRecord) error {
			st.HeadSeq, st.Oldest = r.seq, appendedTime(r.appended)
			return errStop
		})
		if err != nil && err != errStop {
			return err
		}
		if k, v := tx.Bucket(bucketQueue).Cursor().Last(); k != nil && st.HeadSeq != 0 {
			if it := newPackIter(k, v); it.err == nil {
				st.TailSeq = lastSeq(k, it)
			}
		}
		return nil
	})
	return st, err
}

// trimFloor is the buffer capacity TrimBuffers keeps: what a light load needs
// without growing again.
const trimFloor = 64 << 10

// TrimBuffers lets go of the queue's commit buffers that load grew beyond
// trimFloor while they are empty (the batch being filled, the spare one, the
// pack scratch): they hold 100 ms of records at the peak rate (hundreds of
// KiB at 30,000 requests/s) and would otherwise stay allocated after the
// load. They grow again when needed. The gateway calls it when telemetry
// has been idle for a while. Safe for concurrent use.
func (s *Store) TrimBuffers() {
	q := &s.q
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if cap(q.packbuf) > trimFloor {
		q.packbuf = nil
	}
	if cap(q.keybuf) > trimFloor {
		q.keybuf = nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, b := range []*pendingBatch{q.cur, q.spare} {
		if b != nil && len(b.ends) == 0 && (cap(b.buf) > trimFloor || cap(b.ends)*8 > trimFloor) {
			b.buf, b.ends = nil, nil
		}
	}
}
