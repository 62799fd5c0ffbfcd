package appliance

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/apimgw/apimgw/policy"
)

// The trace policy's output. APIM sends it to the request trace (when a
// caller enabled tracing with a debug token), to Application Insights and to
// resource logs, each when the policy's severity is at least the configured
// verbosity. apimgw has no request trace (see docs/policies.md): a trace goes
// to the gateway's log (stderr, the journal under systemd) at the level of its
// severity, so the log level (telemetry.logs.std.level) plays the part of
// APIM's verbosity setting. Writing is bounded: a token bucket limits how many
// traces per second are logged, a bounded queue hands them to one writer
// goroutine (the event loop never blocks on the log), long messages are
// clipped, and every trace is counted by severity and outcome for /metrics.

// Trace is one trace policy call with the request it came from. Its strings
// are valid only during Tracer.Trace.
type Trace struct {
	Source, Severity, Message string
	Metadata                  []policy.Header
	RequestID                 string
	API, Operation            string
	Subscription              string
}

// Tracer receives the trace policy's output (Handler.Tracer). Trace runs on
// an event loop: it must not block.
type Tracer interface {
	Trace(t *Trace)
}

// Trace outcomes, for TraceLog.Counts.
const (
	TraceLogged      = "logged"       // written to the log
	TraceBelowLevel  = "below-level"  // severity below the log level (APIM's verbosity)
	TraceRateLimited = "rate-limited" // over TraceOptions.PerSecond/Burst
	TraceQueueFull   = "queue-full"   // the writer fell behind
)

var traceSeverities = [...]string{"verbose", "information", "error"}
var traceOutcomes = [...]string{TraceLogged, TraceBelowLevel, TraceRateLimited, TraceQueueFull}

// TraceOptions bound the log output of traces. Zero values take the defaults.
type TraceOptions struct {
	PerSecond float64 // traces logged per second, sustained (default 100)
	Burst     int     // traces logged at once above that (default 200)
	Queue     int     // traces waiting for the writer (default 1024)
	// MaxMessage clips messages and metadata values to this many bytes
	// (default 8 KiB); at most 32 metadata entries are kept.
	MaxMessage int
	// Now is the clock of the rate limit (default time.Now).
	Now func() time.Time
}

const maxTraceMetadata = 32

// TraceLog is the gateway's Tracer: it writes traces to a slog.Logger.
// Trace is safe from any goroutine; Close stops the writer after writing what
// is queued.
type TraceLog struct {
	log    *slog.Logger
	opts   TraceOptions
	mu     sync.Mutex // guards lim, closed and sending on queue
	lim    *rate.Limiter
	closed bool
	queue  chan traceEntry
	done   chan struct{}
	once   sync.Once

	counts [len(traceSeverities)][len(traceOutcomes)]atomic.Uint64
}

type traceEntry struct {
	level slog.Level
	attrs []slog.Attr
	sev   int
}

// NewTraceLog starts a TraceLog writing to log.
func NewTraceLog(log *slog.Logger, o TraceOptions) *TraceLog {
	if o.PerSecond <= 0 {
		o.PerSecond = 100
	}
	if o.Burst <= 0 {
		o.Burst = 200
	}
	if o.Queue <= 0 {
		o.Queue = 1024
	}
	if o.MaxMessage <= 0 {
		o.MaxMessage = 8 << 10
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	t := &TraceLog{log: log, opts: o, lim: rate.NewLimiter(rate.Limit(o.PerSecond), o.Burst),
		queue: make(chan traceEntry, o.Queue), done: make(chan struct{})}
	go t.write()
	return t
}

// severityLevel maps APIM's severities to log levels.
func severityLevel(sev string) (int, slog.Level) {
	switch sev {
	case "error":
		return 2, slog.LevelError
	case "information":
		return 1, slog.LevelInfo
	}
	return 0, slog.LevelDebug
}

// Trace logs tr, or counts why not. It copies what it keeps.
func (t *TraceLog) Trace(tr *Trace) {
	sev, level := severityLevel(tr.Severity)
	if !t.log.Enabled(context.Background(), level) {
		t.counts[sev][1].Add(1)
		return
	}
	t.mu.Lock()
	ok := t.lim.AllowN(t.opts.Now(), 1)
	t.mu.Unlock()
	if !ok {
		t.counts[sev][2].Add(1)
		return
	}
	clip := func(s string) string {
		if len(s) > t.opts.MaxMessage {
			s = s[:t.opts.MaxMessage]
		}
		return strings.Clone(s) // s may view the request's buffers
	}
	attrs := make([]slog.Attr, 0, 7)
	attrs = append(attrs, slog.String("source", clip(tr.Source)), slog.String("severity", traceSeverities[sev]),
		slog.String("message", clip(tr.Message)), slog.String("requestId", clip(tr.RequestID)))
	if tr.API != "" {
		attrs = append(attrs, slog.String("api", clip(tr.API)))
	}
	if tr.Operation != "" {
		attrs = append(attrs, slog.String("operation", clip(tr.Operation)))
	}
	if tr.Subscription != "" {
		attrs = append(attrs, slog.String("subscription", clip(tr.Subscription)))
	}
	if len(tr.Metadata) > 0 {
		md := tr.Metadata
		if len(md) > maxTraceMetadata {
			md = md[:maxTraceMetadata]
		}
		group := make([]any, 0, len(md))
		for _, h := range md {
			group = append(group, slog.String(clip(h.Name), clip(h.Value)))
		}
		attrs = append(attrs, slog.Group("metadata", group...))
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		t.counts[sev][3].Add(1)
		return
	}
	select {
	case t.queue <- traceEntry{level: level, attrs: attrs, sev: sev}:
	default:
		t.counts[sev][3].Add(1)
	}
}

func (t *TraceLog) write() {
	defer close(t.done)
	for e := range t.queue {
		t.log.LogAttrs(context.Background(), e.level, "trace", e.attrs...)
		t.counts[e.sev][0].Add(1)
	}
}

// Close writes what is queued and stops the writer. Traces after Close are
// dropped (counted as queue-full).
func (t *TraceLog) Close() {
	t.once.Do(func() {
		t.mu.Lock()
		t.closed = true
		close(t.queue)
		t.mu.Unlock()
	})
	<-t.done
}

// TraceCount is how many traces of one severity had one outcome.
type TraceCount struct {
	Severity, Outcome string
	Count             uint64
}

// Counts returns the count of every severity and outcome, in a fixed order.
func (t *TraceLog) Counts() []TraceCount {
	out := make([]TraceCount, 0, len(traceSeverities)*len(traceOutcomes))
	for s, sev := range traceSeverities {
		for o, oc := range traceOutcomes {
			out = append(out, TraceCount{Severity: sev, Outcome: oc, Count: t.counts[s][o].Load()})
		}
	}
	return out
}

var _ policy.Tracer = (*reqState)(nil)

// Trace hands the trace policy's output to the handler's Tracer with the
// request it came from (no allocation: the Trace is the connection's).
func (st *reqState) Trace(source, severity, message string, md []policy.Header) {
	pc := st.pc
	st.trace = Trace{Source: source, Severity: severity, Message: message, Metadata: md, RequestID: pc.RequestID,
		API: pc.ID.APIName, Operation: pc.ID.OperationName, Subscription: pc.ID.SubscriptionID}
	st.tracer.Trace(&st.trace)
}
