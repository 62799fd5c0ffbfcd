package status

import (
	"math"
	"sort"
	"sync"
	"time"
)

// DefaultBuckets are the latency histogram bounds in seconds.
var DefaultBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

const (
	slotWidth = time.Minute
	// windowSlots is how many whole minutes the per-API window covers, plus
	// the current partial minute.
	windowSlots = 5
)

// Recorder counts requests for /metrics (cumulative counters and latency
// histograms by API, operation and status code) and for the page (requests,
// errors and latency per API over the last five minutes).
//
// It is split into shards so that each event loop records into its own without
// contending with the others: give loop i Shard(i). A Shard is safe for
// concurrent use (one uncontended mutex); reading (Series, Window) locks each
// shard in turn and never blocks a shard for long. Label values are kept as
// given: pass strings that live as long as the snapshot (API and operation IDs
// from the compiled config), not slices of a request buffer.
type Recorder struct {
	buckets []float64
	now     func() time.Time
	shards  []Shard
}

// Shard is one event loop's part of a Recorder. Shards sit side by side in
// the Recorder's slice and each loop writes its own on every request (the
// lock, the last-used cache), so a Shard fills whole cache lines: two loops'
// shards on one line would move it between cores on every Observe.
type Shard struct {
	r      *Recorder
	mu     sync.Mutex
	series map[seriesKey]*series
	apis   map[string]*apiWindow
	// The series and window the previous Observe used: a loop serving one
	// API mostly sees the same key again, and comparing it is cheaper than
	// hashing it twice. Guarded by mu.
	lastKey seriesKey
	lastSe  *series
	lastW   *apiWindow
	_       [128 - (8+8+8+8+(16+16+8)+8+8)%128]byte
}

type seriesKey struct {
	api, op string
	code    int
}

type series struct {
	count   uint64
	sum     float64
	buckets []uint64 // per bound, not cumulative; last is +Inf
}

type apiWindow struct {
	slots [windowSlots + 1]slot
}

type slot struct {
	minute   int64 // unix minute this slot holds
	requests uint64
	errors   uint64 // status >= 500
	rejected uint64 // 400 <= status < 500
	sum      float64
	buckets  []uint64
}

// NewRecorder returns a Recorder with n shards (at least 1), the default
// buckets and the wall clock. now may be nil.
func NewRecorder(n int, now func() time.Time) *Recorder {
	if n < 1 {
		n = 1
	}
	if now == nil {
		now = time.Now
	}
	r := &Recorder{buckets: DefaultBuckets, now: now, shards: make([]Shard, n)}
	for i := range r.shards {
		r.shards[i] = Shard{r: r, series: map[seriesKey]*series{}, apis: map[string]*apiWindow{}}
	}
	return r
}

// Shard returns shard i modulo the shard count.
func (r *Recorder) Shard(i int) *Shard {
	if i < 0 {
		i = -i
	}
	return &r.shards[i%len(r.shards)]
}

// Observe records one finished request. An empty api means "no API matched"
// (404s); it is recorded under api "" and shown as "(no API)".
func (s *Shard) Observe(api, operation string, status int, latency time.Duration) {
	secs := latency.Seconds()
	b := s.r.bucket(secs)
	minute := s.r.now().Unix() / 60
	s.mu.Lock()
	k := seriesKey{api, operation, status}
	se, w := s.lastSe, s.lastW
	if se == nil || k != s.lastKey {
		se, w = s.lookup(k)
		s.lastKey, s.lastSe, s.lastW = k, se, w
	}
	se.count++
	se.sum += secs
	se.buckets[b]++
	sl := &w.slots[minute%int64(len(w.slots))]
	if sl.minute != minute { // a slot from an older minute: reuse it
		b := sl.buckets
		clear(b)
		*sl = slot{minute: minute, buckets: b}
	}
	sl.requests++
	switch {
	case status >= 500:
		sl.errors++
	case status >= 400:
		sl.rejected++
	}
	sl.sum += secs
	sl.buckets[b]++
	s.mu.Unlock()
}

// lookup returns k's series and k.api's window, made on first use. s.mu is
// held.
func (s *Shard) lookup(k seriesKey) (*series, *apiWindow) {
	se := s.series[k]
	if se == nil {
		se = &series{buckets: make([]uint64, len(s.r.buckets)+1)}
		s.series[k] = se
	}
	w := s.apis[k.api]
	if w == nil {
		// Every slot's buckets are allocated with the window, so a minute
		// rolling over never allocates on the request path.
		w = &apiWindow{}
		all := make([]uint64, len(w.slots)*(len(s.r.buckets)+1))
		for i := range w.slots {
			w.slots[i].buckets = all[i*(len(s.r.buckets)+1) : (i+1)*(len(s.r.buckets)+1) : (i+1)*(len(s.r.buckets)+1)]
		}
		s.apis[k.api] = w
	}
	return se, w
}

func (r *Recorder) bucket(secs float64) int {
	return sort.SearchFloat64s(r.buckets, secs) // first bound >= secs; len = +Inf
}

// Series is one (api, operation, status) time series for /metrics. Buckets are
// cumulative, as Prometheus wants them, ending with +Inf (== Count).
type Series struct {
	API, Operation string
	Status         int
	Count          uint64
	Sum            float64
	Buckets        []uint64
}

// Bounds returns the histogram bounds in seconds (shared; do not modify).
func (r *Recorder) Bounds() []float64 { return r.buckets }

// Series returns every series summed over the shards, sorted by API,
// operation and status.
func (r *Recorder) Series() []Series {
	sum := map[seriesKey]*Series{}
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		for k, se := range s.series {
			out := sum[k]
			if out == nil {
				out = &Series{API: k.api, Operation: k.op, Status: k.code, Buckets: make([]uint64, len(r.buckets)+1)}
				sum[k] = out
			}
			out.Count += se.count
			out.Sum += se.sum
			for j, c := range se.buckets {
				out.Buckets[j] += c
			}
		}
		s.mu.Unlock()
	}
	list := make([]Series, 0, len(sum))
	for _, s := range sum {
		for j := 1; j < len(s.Buckets); j++ {
			s.Buckets[j] += s.Buckets[j-1]
		}
		list = append(list, *s)
	}
	sort.Slice(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if a.API != b.API {
			return a.API < b.API
		}
		if a.Operation != b.Operation {
			return a.Operation < b.Operation
		}
		return a.Status < b.Status
	})
	return list
}

// APIWindow is one API's traffic over the last few minutes.
type APIWindow struct {
	API       string  `json:"api"`
	Requests  uint64  `json:"requests"`
	Errors    uint64  `json:"errors"`   // 5xx
	Rejected  uint64  `json:"rejected"` // 4xx
	ErrorRate float64 `json:"errorRate"`
	// Latencies in milliseconds; percentiles are interpolated within the
	// histogram bucket, so they are estimates.
	LatencyAvgMs float64 `json:"latencyAvgMs"`
	LatencyP50Ms float64 `json:"latencyP50Ms"`
	LatencyP95Ms float64 `json:"latencyP95Ms"`
	LatencyP99Ms float64 `json:"latencyP99Ms"`
}

// WindowLength is the span Window covers.
const WindowLength = windowSlots * slotWidth

// Window returns per-API traffic over the last WindowLength (the last five
// whole minutes and the current one), keyed by API ID.
func (r *Recorder) Window() map[string]APIWindow {
	cur := r.now().Unix() / 60
	type acc struct {
		req, errs, rej uint64
		sum            float64
		buckets        []uint64
	}
	accs := map[string]*acc{}
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		for api, w := range s.apis {
			for _, sl := range w.slots {
				if sl.requests == 0 || sl.minute < cur-windowSlots || sl.minute > cur {
					continue
				}
				a := accs[api]
				if a == nil {
					a = &acc{buckets: make([]uint64, len(r.buckets)+1)}
					accs[api] = a
				}
				a.req += sl.requests
				a.errs += sl.errors
				a.rej += sl.rejected
				a.sum += sl.sum
				for j, c := range sl.buckets {
					a.buckets[j] += c
				}
			}
		}
		s.mu.Unlock()
	}
	out := make(map[string]APIWindow, len(accs))
	for api, a := range accs {
		w := APIWindow{API: api, Requests: a.req, Errors: a.errs, Rejected: a.rej}
		if a.req > 0 {
			w.ErrorRate = float64(a.errs) / float64(a.req)
			w.LatencyAvgMs = a.sum / float64(a.req) * 1000
			w.LatencyP50Ms = r.quantile(a.buckets, a.req, 0.50) * 1000
			w.LatencyP95Ms = r.quantile(a.buckets, a.req, 0.95) * 1000
			w.LatencyP99Ms = r.quantile(a.buckets, a.req, 0.99) * 1000
		}
		out[api] = w
	}
	return out
}

// quantile estimates the q-quantile from per-bucket counts by linear
// interpolation inside the bucket, as Prometheus' histogram_quantile does. In
// the +Inf bucket it answers the highest finite bound.
func (r *Recorder) quantile(buckets []uint64, total uint64, q float64) float64 {
	rank := q * float64(total)
	var seen float64
	for i, c := range buckets {
		if c == 0 {
			continue
		}
		if seen+float64(c) >= rank {
			if i == len(r.buckets) {
				return r.buckets[len(r.buckets)-1]
			}
			lo := 0.0
			if i > 0 {
				lo = r.buckets[i-1]
			}
			hi := r.buckets[i]
			frac := (rank - seen) / float64(c)
			return lo + (hi-lo)*math.Max(0, math.Min(1, frac))
		}
		seen += float64(c)
	}
	return 0
}
