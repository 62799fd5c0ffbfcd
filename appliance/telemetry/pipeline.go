package telemetry

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/apimgw/apimgw/appliance"
	"github.com/apimgw/apimgw/store"
)

// Queue is what the pipeline needs of the store (a *store.Store).
type Queue interface {
	AppendBatch(recs [][]byte) (uint64, error)
	Flush(ctx context.Context) error
}

var _ Queue = (*store.Store)(nil)

// Options tune a Pipeline. The zero value gives the defaults noted.
type Options struct {
	// Loops is the number of event loops (netstack.Server.Loops()):
	// appliance.Record.Loop indexes the per-loop buffers. Default
	// runtime.GOMAXPROCS(0), gnet's default loop count. Records of loops
	// beyond it still arrive, through a shared buffer with a lock.
	Loops int
	// BufferBytes is the size of each loop's ring buffer. When the committer
	// falls behind and a ring is full, records are dropped and counted
	// (Stats.DroppedBuffer). Default 1 MiB (some 10,000 records).
	BufferBytes int
	// FlushInterval is how often the committer moves the rings' records to
	// the store while records arrive. A record is in the store's queue at
	// most FlushInterval after OnDone (plus the store's own CommitInterval
	// until it is on disk). Default 5ms.
	FlushInterval time.Duration
	// IdleRelease is how long the buffers must have stayed empty before
	// their pages go back to the OS (madvise MADV_DONTNEED): a ring is
	// written all over under load and would otherwise keep its BufferBytes
	// resident for good. The next records fault pages in again, zeroed.
	// Default 30s; negative never.
	IdleRelease time.Duration
	// OnIdle, if set, is called on the committer's goroutine once per idle
	// period, right after the release (the gateway returns the Go heap's free
	// pages then: load leaves the heap at twice what stays live).
	OnIdle func()
	// Logger gets the pipeline's rare messages (store refusals). Default
	// slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Loops <= 0 {
		o.Loops = runtime.GOMAXPROCS(0)
	}
	if o.BufferBytes <= 0 {
		o.BufferBytes = 1 << 20
	}
	o.BufferBytes = max(o.BufferBytes, 4*MaxRecordBytes)
	if o.FlushInterval <= 0 {
		o.FlushInterval = 5 * time.Millisecond
	}
	if o.IdleRelease == 0 {
		o.IdleRelease = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// padding marks the rest of the ring, up to its end, as unused: the next
// record starts at offset 0.
const padding = ^uint32(0)

// ring is a single-producer single-consumer byte ring: the producer is one
// event loop (OnDone), the consumer the committer goroutine. head and tail
// are running byte counts (never wrapped); their difference is the bytes in
// use. Entries are a 4-byte little-endian length and the record, contiguous;
// an entry that would cross the end is preceded by a padding marker (or by
// fewer than 4 bytes of slack, which the consumer skips the same way).
type ring struct {
	buf []byte
	_   [64]byte // keep the producer's and consumer's words on their own cache lines
	// written by the producer only
	head     atomic.Uint64
	recorded atomic.Uint64
	dropped  atomic.Uint64
	busy     atomic.Uint32 // 1 while the producer writes into buf (release)
	_        [64]byte
	// written by the consumer only
	tail     atomic.Uint64
	parked   atomic.Uint32 // 1 while the consumer releases buf's pages
	released bool          // buf's pages are released and nothing came since
	_        [64]byte
}

// enter marks the producer busy with buf, waiting out a release in
// progress. With release it is a Dekker handshake on sequentially
// consistent atomics: whichever of the two stores its flag first, the other
// sees it, so the producer never writes into pages being released.
func (g *ring) enter() {
	g.busy.Store(1)
	for g.parked.Load() != 0 {
		g.busy.Store(0)
		for g.parked.Load() != 0 {
			runtime.Gosched() // a release is one madvise
		}
		g.busy.Store(1)
	}
}

// exit ends what enter began.
func (g *ring) exit() { g.busy.Store(0) }

// release returns the pages of an empty ring to the OS (consumer only) and
// reports whether it did. It gives up, to try again later, if the producer is
// writing or records are waiting.
func (g *ring) release() bool {
	if g.released || len(g.buf) == 0 {
		return false
	}
	g.parked.Store(1)
	if g.busy.Load() == 0 && g.head.Load() == g.tail.Load() {
		dontNeed(g.buf)
		g.released = true
	}
	g.parked.Store(0)
	return g.released
}

// dontNeed advises the OS that b's whole pages are not needed: they are
// dropped, and read as zeros when next touched. b must be memory only this
// package writes (a ring's buffer: no pointers, nobody reads it empty).
func dontNeed(b []byte) {
	page := uintptr(unix.Getpagesize())
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	off := (page - start%page) % page
	if uintptr(len(b)) <= off {
		return
	}
	n := (uintptr(len(b)) - off) &^ (page - 1)
	if n > 0 {
		unix.Madvise(b[off:off+n], unix.MADV_DONTNEED)
	}
}

// Pipeline buffers telemetry records per event loop and group-commits them
// to the store's queue.
//
// Concurrency: OnDone for loop i must only be called from loop i's goroutine
// (the netstack contract: a loop runs its callbacks one at a time); calls for
// different loops run in parallel without locks. Records whose Loop is
// outside 0..Loops-1 go through a shared, mutex-guarded buffer (correct, just
// not lock-free). Stats is safe from any goroutine. Close must be called
// after the data plane stopped calling OnDone: records offered later are
// dropped and counted.
type Pipeline struct {
	q     Queue
	opts  Options
	rings []ring
	// shared serves out-of-range loop indices; its buffer is made on first
	// use (the gateway passes its loop count, so normally never: 1 MiB less
	// heap, which also lowers the GC's goal).
	sharedMu sync.Mutex
	shared   ring

	closed   atomic.Bool
	sleeping atomic.Bool
	wake     chan struct{}
	done     chan struct{}
	exited   chan struct{}
	closeO   sync.Once

	committed  atomic.Uint64 // records handed to the store
	refused    atomic.Uint64 // records the store refused (too large, closed)
	lateDrops  atomic.Uint64 // offered after Close
	flushes    atomic.Uint64
	releases   atomic.Uint64
	lastErrMu  sync.Mutex
	lastErr    string
	lastErrAt  time.Time
	consMu     sync.Mutex // the rings' single consumer: committer or Flush
	recs       [][]byte   // consumer scratch, guarded by consMu
	loggedOnce atomic.Bool
}

// New starts a pipeline writing to q (normally the *store.Store). The
// caller must Close it, before closing the store.
func New(q Queue, opts Options) *Pipeline {
	o := opts.withDefaults()
	p := &Pipeline{q: q, opts: o, rings: make([]ring, o.Loops), wake: make(chan struct{}, 1),
		done: make(chan struct{}), exited: make(chan struct{})}
	for i := range p.rings {
		p.rings[i].buf = make([]byte, o.BufferBytes)
	}
	go p.committer()
	return p
}

// OnDone records one finished request: it is appliance.Handler.OnDone. It
// runs on the request's event loop, copies what it needs out of r (valid only
// during the call), never blocks, never takes a lock (for an in-range Loop)
// and does not allocate. When the loop's buffer is full the record is
// dropped and counted (Stats.DroppedBuffer).
func (p *Pipeline) OnDone(r *appliance.Record) {
	if r.Loop >= 0 && r.Loop < len(p.rings) {
		p.put(&p.rings[r.Loop], r)
		return
	}
	p.sharedMu.Lock()
	if p.shared.buf == nil {
		p.shared.buf = make([]byte, p.opts.BufferBytes)
	}
	p.put(&p.shared, r)
	p.sharedMu.Unlock()
}

func (p *Pipeline) put(g *ring, r *appliance.Record) {
	if p.closed.Load() {
		p.lateDrops.Add(1)
		return
	}
	g.enter()
	size := uint64(len(g.buf))
	need := uint64(4 + bound(r))
	head := g.head.Load()
	tail := g.tail.Load()
	off := head % size
	skip := uint64(0)
	if size-off < need {
		skip = size - off // wrap: this slack is not used
	}
	if head+skip+need-tail > size {
		g.exit()
		g.dropped.Add(1)
		return
	}
	if skip > 0 {
		if skip >= 4 {
			binary.LittleEndian.PutUint32(g.buf[off:], padding)
		}
		head += skip
		off = 0
	}
	body := AppendRecord(g.buf[off+4:off+4:off+need], r)
	binary.LittleEndian.PutUint32(g.buf[off:], uint32(len(body)))
	g.head.Store(head + 4 + uint64(len(body)))
	g.exit()
	g.recorded.Add(1)
	if p.sleeping.Load() && p.sleeping.CompareAndSwap(true, false) {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// drain collects every complete entry of g into p.recs (slices into the
// ring) and returns the tail to publish once they are copied by the store.
func (p *Pipeline) drain(g *ring) uint64 {
	size := uint64(len(g.buf))
	tail, head := g.tail.Load(), g.head.Load()
	if size == 0 {
		return tail // the shared ring, never used
	}
	for tail < head {
		off := tail % size
		if size-off < 4 {
			tail += size - off
			continue
		}
		n := binary.LittleEndian.Uint32(g.buf[off:])
		if n == padding {
			tail += size - off
			continue
		}
		p.recs = append(p.recs, g.buf[off+4:off+4+uint64(n)])
		tail += 4 + uint64(n)
	}
	return tail
}

// flush moves everything buffered to the store and reports how many records
// it moved. The caller holds consMu.
func (p *Pipeline) flush() int {
	moved := 0
	for i := range p.rings {
		moved += p.flushRing(&p.rings[i])
	}
	p.sharedMu.Lock()
	moved += p.flushRing(&p.shared)
	p.sharedMu.Unlock()
	if moved > 0 {
		p.flushes.Add(1)
	}
	return moved
}

func (p *Pipeline) flushRing(g *ring) int {
	p.recs = p.recs[:0]
	tail := p.drain(g)
	n := len(p.recs)
	if n == 0 {
		g.tail.Store(tail) // may skip trailing padding
		return 0
	}
	g.released = false
	_, err := p.q.AppendBatch(p.recs)
	switch {
	case errors.Is(err, store.ErrClosed):
		// Nothing was queued; the store cannot count it, so we do.
		p.refused.Add(uint64(n))
		p.noteErr(err)
	default:
		// Any other error concerns single records, which the store
		// dropped and counted (too large); the rest are queued.
		if err != nil {
			p.noteErr(err)
		}
		p.committed.Add(uint64(n))
	}
	clear(p.recs) // do not keep the ring's slices reachable
	p.recs = p.recs[:0]
	g.tail.Store(tail)
	return n
}

func (p *Pipeline) noteErr(err error) {
	p.lastErrMu.Lock()
	p.lastErr, p.lastErrAt = err.Error(), time.Now()
	p.lastErrMu.Unlock()
	if p.loggedOnce.CompareAndSwap(false, true) {
		p.opts.Logger.Error("telemetry: the store refused records", "err", err)
	}
}

func (p *Pipeline) lockedFlush() int {
	p.consMu.Lock()
	defer p.consMu.Unlock()
	return p.flush()
}

func (p *Pipeline) pending() bool {
	for i := range p.rings {
		if p.rings[i].head.Load() != p.rings[i].tail.Load() {
			return true
		}
	}
	return p.shared.head.Load() != p.shared.tail.Load()
}

// committer runs until Close: while records arrive it flushes every
// FlushInterval; when a whole interval brought nothing it sleeps until a
// producer wakes it (one atomic load per record on the hot path).
func (p *Pipeline) committer() {
	defer close(p.exited)
	t := time.NewTicker(p.opts.FlushInterval)
	defer t.Stop()
	idle := time.NewTimer(time.Hour)
	idle.Stop()
	defer idle.Stop()
	for {
		select {
		case <-p.done:
			p.lockedFlush()
			return
		case <-t.C:
		}
		if p.lockedFlush() > 0 {
			continue
		}
		p.sleeping.Store(true)
		if p.pending() {
			p.sleeping.Store(false)
			continue
		}
		t.Stop()
		var idleC <-chan time.Time
		if p.opts.IdleRelease > 0 && !p.allReleased() {
			idle.Reset(p.opts.IdleRelease)
			idleC = idle.C
		}
	sleep:
		select {
		case <-p.done:
			p.lockedFlush()
			return
		case <-p.wake:
		case <-idleC:
			idleC = nil
			p.release()
			if p.opts.OnIdle != nil {
				p.opts.OnIdle()
			}
			goto sleep
		}
		idle.Stop()
		t.Reset(p.opts.FlushInterval)
	}
}

// allReleased reports whether every ring's pages are released.
func (p *Pipeline) allReleased() bool {
	p.consMu.Lock()
	defer p.consMu.Unlock()
	for i := range p.rings {
		if !p.rings[i].released {
			return false
		}
	}
	return true
}

// release returns the pages of the empty rings to the OS. A ring whose
// producer is busy right then is left for the next idle period.
func (p *Pipeline) release() {
	p.consMu.Lock()
	defer p.consMu.Unlock()
	for i := range p.rings {
		if p.rings[i].release() {
			p.releases.Add(1)
		}
	}
	// The shared ring's producers hold sharedMu: holding it is enough.
	p.sharedMu.Lock()
	if p.shared.release() {
		p.releases.Add(1)
	}
	p.sharedMu.Unlock()
}

// Flush moves every record buffered so far to the store and waits until the
// store has committed it (or ctx ends). For tests and for a checkpoint
// before a planned restart; the committer does the same on its own.
func (p *Pipeline) Flush(ctx context.Context) error {
	if p.closed.Load() {
		return ErrClosed
	}
	p.consMu.Lock()
	p.flush()
	p.consMu.Unlock()
	return p.q.Flush(ctx)
}

// Close stops the committer after moving every buffered record to the store
// and waits until the store has committed them (or ctx ends). Call it after
// the data plane stopped and before the store is closed. Later calls return
// nil.
func (p *Pipeline) Close(ctx context.Context) error {
	var err error
	p.closeO.Do(func() {
		p.closed.Store(true)
		close(p.done)
		<-p.exited
		if ferr := p.q.Flush(ctx); ferr != nil {
			err = fmt.Errorf("telemetry: close: %w", ferr)
		}
	})
	return err
}

// Stats counts what the pipeline did since New.
type Stats struct {
	// Recorded is the number of records put into the loop buffers.
	Recorded uint64
	// DroppedBuffer counts records dropped because a loop's buffer was full
	// (the store fell far behind).
	DroppedBuffer uint64
	// DroppedClosed counts records offered after Close.
	DroppedClosed uint64
	// Committed is the number of records handed to the store's queue;
	// Refused those the store refused (ErrClosed, too large).
	Committed, Refused uint64
	// Buffered is what sits in the loop buffers now.
	Buffered uint64
	// Flushes counts committer rounds that moved records.
	Flushes uint64
	// Releases counts buffers whose pages went back to the OS after
	// IdleRelease without records.
	Releases    uint64
	LastError   string
	LastErrorAt time.Time
}

// Stats returns the pipeline's counters. The queue's own counts (backlog,
// records dropped oldest-first when full, by reason) are in the store's
// QueueStats.
func (p *Pipeline) Stats() Stats {
	var s Stats
	count := func(g *ring) {
		s.Recorded += g.recorded.Load()
		s.DroppedBuffer += g.dropped.Load()
	}
	for i := range p.rings {
		count(&p.rings[i])
	}
	p.sharedMu.Lock()
	count(&p.shared)
	p.sharedMu.Unlock()
	s.DroppedClosed = p.lateDrops.Load()
	s.Committed, s.Refused, s.Flushes, s.Releases = p.committed.Load(), p.refused.Load(), p.flushes.Load(), p.releases.Load()
	if done := s.Committed + s.Refused; s.Recorded > done {
		s.Buffered = s.Recorded - done
	}
	p.lastErrMu.Lock()
	s.LastError, s.LastErrorAt = p.lastErr, p.lastErrAt
	p.lastErrMu.Unlock()
	return s
}
