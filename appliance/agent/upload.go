package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptrace"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apimgw/apimgw/store"
	"github.com/apimgw/apimgw/wire"
)

// batchResult is what one in-flight telemetry batch came back with.
type batchResult struct {
	last      uint64 // highest queue sequence the batch covers
	ack       wire.TelemetryAck
	malformed int
	sent      int
	bytes     int64 // record bytes sent
	// reached: the request got a connection to the control plane, so it
	// may have been stored there, whatever the error.
	reached bool
	err     error
}

// sentBatch is a batch sent at least once and not acknowledged.
type sentBatch struct {
	recs []store.Record
	rb   *store.ReadBuffer // recs live here
	// maybe: some attempt reached the control plane (batchResult.reached),
	// so it may count these records; never reset.
	maybe bool
}

// releaseAfterBytes: the uploader releases the store's mapped pages when the
// queue is empty after this many record bytes were delivered.
const releaseAfterBytes = 4 << 20

type inflight struct {
	last  uint64
	batch sentBatch
	done  chan batchResult
}

// uploadLoop sends the telemetry queue, oldest first, in batches of up to
// BatchRecords, with up to UploadsInFlight batches on the wire. Batches are
// acknowledged in queue order: the store's Ack(upTo) deletes a batch's
// records only after the control plane's 200 for it and for every batch
// before it. After any failure every unacknowledged batch is sent again, as
// it was (the control plane stores each (stream, seq) once, so nothing
// counts twice), after a backoff. The batches are resent from the copies
// the loop holds, not read again: the queue's budget may have evicted
// records of a batch already on the wire (the store counts those neither
// queued nor dropped until the Ack, see store.ReadToSend), and every
// record is counted once, delivered or dropped. Batches that never reached
// the control plane (no connection: it is down) are let go instead and
// read from the queue again, so that in a long outage the budget evicts the
// oldest records as it should, none held in memory.
func (a *Agent) uploadLoop(ctx context.Context) {
	md, err := a.cfg.Store.Metadata()
	for err != nil || md.StoreID == "" {
		if err == nil {
			err = fmt.Errorf("store has no id")
		}
		a.failed(fmt.Errorf("telemetry: reading the store's stream id: %w", err), false)
		if !a.sleep(ctx, a.cfg.BackoffMax) {
			return
		}
		md, err = a.cfg.Store.Metadata()
	}
	stream := md.StoreID
	var queue []inflight
	var resend []sentBatch // after a failure: the unacknowledged batches, oldest first
	after := uint64(0)     // highest sequence read into a batch
	failures := 0
	recovering := false // a failure happened since the queue was last empty
	// Bytes delivered since the store's mapping was last released: once the
	// queue is empty after a few MiB went out, their pages are given back
	// (store.ReleaseMapped), so a delivered backlog does not stay in RSS.
	var delivered int64
	// ripeAt: when the partial batch above after is due (its oldest record
	// will have waited UploadInterval), as the last read found; zero when
	// no partial batch was seen. Until then the loop polls the store's
	// counts (Backlog, no transaction) and reads again only once the batch
	// is full or due, so that under load each batch leaves as soon as it
	// fills, one at a time, not all of a second's batches in one burst
	// after a sleep.
	var ripeAt time.Time
	// poll: the partial batch holds a twentieth of a batch or more, so it
	// may fill before ripeAt; a trickle of records is not polled for.
	poll := false
	// spare: read buffers of acknowledged batches, for the next reads (a
	// batch's 5,000 records and their bytes are then no garbage); let go
	// when the queue is empty.
	var spare []*store.ReadBuffer
	getBuf := func() *store.ReadBuffer {
		if n := len(spare); n > 0 {
			rb := spare[n-1]
			spare = spare[:n-1]
			return rb
		}
		return new(store.ReadBuffer)
	}
	for ctx.Err() == nil {
		// Fill the pipeline. A batch leaves when it is full or its oldest
		// record has waited UploadInterval: under load that is a few large
		// batches a second (one request, one acknowledgement, one store
		// transaction each) instead of one small batch per round trip.
		wait := time.Duration(0) // until the next partial batch is ripe
		for len(queue) < a.cfg.UploadsInFlight {
			var b sentBatch
			if len(resend) > 0 {
				b, resend = resend[0], resend[1:]
			} else {
				if !ripeAt.IsZero() {
					if now := a.cfg.Clock.Now(); now.Before(ripeAt) && !a.batchFull(after) {
						wait = ripeAt.Sub(now)
						break
					}
				}
				rb := getBuf()
				recs, err := a.cfg.Store.ReadToSendInto(rb, after, a.cfg.BatchRecords, a.cfg.BatchBytes, func(recs []store.Record) bool {
					wait = a.ripeIn(recs)
					return wait == 0
				})
				if err != nil {
					spare = append(spare, rb)
					a.failed(fmt.Errorf("telemetry: reading the queue: %w", err), false)
					break
				}
				ripeAt = time.Time{}
				if len(recs) == 0 {
					spare = append(spare, rb)
					break
				}
				if wait > 0 {
					spare = append(spare, rb)
					ripeAt = a.cfg.Clock.Now().Add(wait)
					poll = len(recs)*20 >= a.cfg.BatchRecords
					break
				}
				b.recs, b.rb = recs, rb
			}
			last := b.recs[len(b.recs)-1].Seq
			after = max(after, last)
			f := inflight{last: last, batch: b, done: make(chan batchResult, 1)}
			queue = append(queue, f)
			go func() { f.done <- a.sendBatch(ctx, stream, b.recs) }()
		}
		if len(queue) == 0 && wait > 0 {
			if poll {
				wait = min(wait, a.pollEvery())
			}
			if !a.sleep(ctx, wait) {
				return
			}
			continue
		}
		if len(queue) == 0 {
			spare = nil
			if delivered >= releaseAfterBytes {
				delivered = 0
				if n, err := a.cfg.Store.ReleaseMapped(); err != nil {
					a.log.Warn("agent: releasing the store's mapped pages", "err", err)
				} else {
					a.log.Debug("agent: telemetry queue drained; store pages released", "fileBytes", n)
				}
			}
			if recovering || a.reportedBacklog() {
				// A backlog the control plane knows of is delivered: tell
				// it now, not at the next heartbeat.
				recovering = false
				a.heartbeatSoon()
			}
			if !a.sleep(ctx, a.cfg.UploadInterval) {
				return
			}
			continue
		}
		res := <-queue[0].done
		failed := queue[0].batch
		queue = queue[1:]
		if res.err == nil {
			res.err = a.cfg.Store.Ack(res.last)
			if res.err != nil {
				res.err = fmt.Errorf("acknowledging up to %d in the store: %w", res.last, res.err)
			}
		}
		if res.err == nil {
			failures = 0
			delivered += res.bytes
			a.mu.Lock()
			a.st.uploaded += uint64(res.ack.Accepted)
			a.st.duplicates += uint64(res.ack.Duplicates)
			a.st.expired += uint64(res.ack.Expired)
			a.st.malformed += uint64(res.malformed)
			a.st.batches++
			a.st.lastUpload = a.cfg.Clock.Now()
			a.mu.Unlock()
			if res.sent > 0 {
				a.succeeded(false)
			}
			if failed.rb != nil {
				spare = append(spare, failed.rb)
			}
			continue
		}
		// Failure: let the rest land (their acks cannot be used out of
		// order), then send every unacknowledged batch again, after a
		// backoff.
		failed.maybe = failed.maybe || res.reached
		again := []sentBatch{failed}
		for _, f := range queue {
			r := <-f.done
			f.batch.maybe = f.batch.maybe || r.reached
			again = append(again, f.batch)
		}
		again = append(again, resend...) // batches not yet resent come after
		queue = queue[:0]
		// The batches after the last one that may have reached the control
		// plane were never stored: let them go (the store counts their
		// evicted records as dropped) and read them again.
		m := len(again) - 1
		for m >= 0 && !again[m].maybe {
			m--
		}
		if m < len(again)-1 {
			keep := uint64(0)
			if m >= 0 {
				keep = again[m].recs[len(again[m].recs)-1].Seq
			}
			a.cfg.Store.Unsend(keep)
			after = keep
			for _, b := range again[m+1:] {
				if b.rb != nil {
					spare = append(spare, b.rb)
				}
			}
			again = again[:m+1]
		}
		resend = again
		ripeAt = time.Time{}
		if ctx.Err() != nil {
			return
		}
		if errors.Is(res.err, errRenewed) {
			continue // resend from the head at once, on fresh connections
		}
		failures++
		recovering = true
		a.failed(fmt.Errorf("telemetry upload: %w", res.err), offline(res.err))
		a.sleep(ctx, a.backoff(failures))
	}
	for _, f := range queue {
		<-f.done
	}
}

// pollEvery is how often the uploader looks at the store's counts while a
// partial batch waits: a twentieth of UploadInterval (50 ms by default),
// only while records are queued.
func (a *Agent) pollEvery() time.Duration {
	return max(a.cfg.UploadInterval/20, time.Millisecond)
}

// batchFull says whether the records queued above after fill a batch, by
// the store's counts.
func (a *Agent) batchFull(after uint64) bool {
	n, bytes := a.cfg.Store.Backlog(after)
	return n >= int64(a.cfg.BatchRecords) || bytes >= int64(a.cfg.BatchBytes)
}

// ripeIn says how long a batch of recs should wait before it is sent: 0 when
// it is full (by count or bytes) or its oldest record has waited
// UploadInterval.
func (a *Agent) ripeIn(recs []store.Record) time.Duration {
	if len(recs) >= a.cfg.BatchRecords {
		return 0
	}
	n := 0
	for _, r := range recs {
		n += len(r.Data)
	}
	if n >= a.cfg.BatchBytes {
		return 0
	}
	return max(0, a.cfg.UploadInterval-a.cfg.Clock.Now().Sub(recs[0].Appended))
}

// The uploader's CPU work on a batch (checking its records, compressing
// it) gives up the processor (runtime.Gosched) after every yieldRecords
// records and yieldBytes bytes compressed, a few hundred microseconds of
// work: a gateway on one CPU has one P, the runtime preempts a goroutine
// only after 10 ms, and an event loop back from a system call waits for the
// P until then (docs/benchmarks.md, "Who holds the P").
const (
	yieldRecords = 1024
	yieldBytes   = 32 << 10
)

// encodedBatch is a batch ready to post: its body and what the
// acknowledgement must match.
type encodedBatch struct {
	res  batchResult // last, malformed, sent, bytes filled in
	seq  uint64      // the batch's Sequence
	body []byte
	gz   bool
}

// encodeBatch builds the binary batch (wire.RawBatch) of queued records:
// the records travel as the queue holds them, neither decoded nor
// re-encoded.
func (a *Agent) encodeBatch(stream string, recs []store.Record) (encodedBatch, error) {
	e := encodedBatch{res: batchResult{last: recs[len(recs)-1].Seq}}
	e.seq = e.res.last
	rp := rawRecordPool.Get().(*[]wire.RawRecord)
	defer func() { clear(*rp); rawRecordPool.Put(rp) }()
	batch := wire.RawBatch{ProtocolVersion: wire.ProtocolVersion, Gateway: a.gatewayID(), Stream: stream,
		Sequence: e.seq, Records: (*rp)[:0]}
	var dec wire.RecordDecoder
	for i, r := range recs {
		if i%yieldRecords == yieldRecords-1 {
			runtime.Gosched()
		}
		data := r.Data
		if err := wire.CheckRecord(data); err != nil {
			// A record an older build queued without a status or a time is
			// mended; one this build cannot read would block the queue
			// forever: skip it, count it (dropped, in the heartbeat), say so.
			w := wire.TelemetryRecord{Seq: r.Seq}
			if derr := dec.Decode(data, &w); derr != nil {
				e.res.malformed++
				a.log.Error("agent: skipping a telemetry record that cannot be decoded", "seq", r.Seq, "err", derr)
				continue
			}
			normalize(&w, r.Appended)
			data = wire.AppendRecord(nil, &w)
		}
		batch.Records = append(batch.Records, wire.RawRecord{Seq: r.Seq, Data: data})
		e.res.bytes += int64(len(data))
	}
	*rp = batch.Records
	e.res.sent = len(batch.Records)
	if e.res.sent == 0 {
		return e, nil // nothing decodable: acknowledge locally
	}
	var err error
	e.body, e.gz, err = a.encodeRaw(&batch)
	return e, err
}

// rawRecordPool holds the record lists encodeBatch builds a batch in.
var rawRecordPool = sync.Pool{New: func() any { return new([]wire.RawRecord) }}

// sendBatch posts queued records as one batch (encodeBatch) and checks the
// acknowledgement.
func (a *Agent) sendBatch(ctx context.Context, stream string, recs []store.Record) batchResult {
	e, err := a.encodeBatch(stream, recs)
	res := e.res
	if err != nil {
		res.err = err
		return res
	}
	if res.sent == 0 {
		return res
	}
	var reached atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { reached.Store(true) }})
	err = a.post(ctx, "POST "+wire.PathTelemetry, wire.PathTelemetry, e.body, wire.TelemetryBatchContentType, e.gz, &res.ack)
	if err == nil {
		ack := &res.ack
		switch {
		case ack.ProtocolVersion != wire.ProtocolVersion:
			err = fmt.Errorf("%w: telemetry ack has protocol version %d", ErrProtocol, ack.ProtocolVersion)
		case ack.Stream != stream || ack.Sequence != e.seq:
			err = fmt.Errorf("%w: ack for stream %q sequence %d, sent stream %q sequence %d", ErrProtocol, ack.Stream, ack.Sequence, stream, e.seq)
		case ack.Accepted+ack.Duplicates+ack.Expired != res.sent:
			err = fmt.Errorf("%w: ack counts %d accepted + %d duplicates + %d expired, sent %d records", ErrProtocol, ack.Accepted, ack.Duplicates, ack.Expired, res.sent)
		}
	}
	res.err = err
	res.reached = reached.Load()
	return res
}

// normalize makes a record an older build queued acceptable to the control
// plane's validation (this build normalizes when it records): a request that
// got no response (status 0: the client went away first) is reported as 499
// "client-closed", as nginx does; a record without a time takes its queue
// time.
func normalize(w *wire.TelemetryRecord, appended time.Time) {
	if w.Status < 100 || w.Status > 999 {
		w.Status = 499
		if w.Error == "" {
			w.Error = "client-closed"
		}
	}
	if w.Time.IsZero() || w.Time.Unix() <= 0 {
		w.Time = appended.UTC()
	}
}

// reportedBacklog reports (once) whether the last heartbeat told the control
// plane of a real backlog: a batch or more, or records older than 10 s.
func (a *Agent) reportedBacklog() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	b := a.st.hbBacklog
	a.st.hbBacklog = wire.Backlog{}
	return b.Records >= int64(a.cfg.BatchRecords) || (b.Records > 0 && b.OldestAgeSeconds >= 10)
}
