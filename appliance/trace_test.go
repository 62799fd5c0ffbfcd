package appliance

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apimgw/apimgw/netstack"
	"github.com/apimgw/apimgw/wire"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func traceSnapshot(serviceURL string) *wire.Snapshot {
	s := &wire.Snapshot{ProtocolVersion: wire.ProtocolVersion, Version: 1, APIs: []wire.API{{
		ID: "tr", Path: "tr", ServiceURL: serviceURL, Protocols: []string{"http"},
		Operations: []wire.Operation{
			{ID: "info", Method: "GET", URLTemplate: "/info", Policy: `<policies><inbound><base/>
				<trace source="orders" severity="information"><message>@("hello " + context.Request.Headers.GetValueOrDefault("X-Name", ""))</message>
				<metadata name="method" value="@(context.Request.Method)"/><metadata name="k" value="v"/></trace>
				</inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`},
			{ID: "verbose", Method: "GET", URLTemplate: "/verbose", Policy: `<policies><inbound><base/>
				<trace source="orders"><message>chatty</message></trace>
				</inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`},
		},
	}}}
	if err := s.Seal(); err != nil {
		panic(err)
	}
	return s
}

// TestTraceThroughTheHandler: a trace policy's output reaches the gateway's
// log with the request it came from, at its severity; below the log level it
// is not written, over the rate limit it is dropped, and all of it is counted.
func TestTraceThroughTheHandler(t *testing.T) {
	b := echoBackend(t)
	var out syncBuffer
	log := slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo}))
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	tl := NewTraceLog(log, TraceOptions{PerSecond: 0.001, Burst: 3, Now: func() time.Time { return now }})
	g := startGatewayConfig(t, traceSnapshot(b.URL), netstack.Config{}, func(h *Handler) { h.Tracer = tl })
	for i := 0; i < 5; i++ {
		if st, _, body := call(t, "GET", g.base+"/tr/info", map[string]string{"X-Name": `al"ice`}); st != 200 {
			t.Fatalf("call %d: %d %s", i, st, body)
		}
	}
	for i := 0; i < 2; i++ {
		call(t, "GET", g.base+"/tr/verbose", nil)
	}
	tl.Close()

	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 3 {
		t.Fatalf("%d trace lines, want 3 (burst of 3, then rate-limited):\n%s", len(lines), out.String())
	}
	ids := map[any]bool{}
	for _, m := range lines {
		md, _ := m["metadata"].(map[string]any)
		if m["msg"] != "trace" || m["level"] != "INFO" || m["source"] != "orders" || m["severity"] != "information" ||
			m["message"] != `hello al"ice` || m["api"] != "tr" || m["operation"] != "info" || md["method"] != "GET" || md["k"] != "v" {
			t.Errorf("trace line %v", m)
		}
		ids[m["requestId"]] = true
	}
	if len(ids) != 3 || ids[""] || ids[nil] {
		t.Errorf("request ids %v: want three distinct", ids)
	}
	got := map[string]uint64{}
	for _, c := range tl.Counts() {
		if c.Count > 0 {
			got[c.Severity+"/"+c.Outcome] = c.Count
		}
	}
	want := map[string]uint64{"information/logged": 3, "information/rate-limited": 2, "verbose/below-level": 2}
	if len(got) != len(want) {
		t.Fatalf("counts %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("count %s = %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
}

// TestTraceLogBounds: long messages are clipped, the queue is bounded (a
// writer that falls behind drops, counted), and Trace after Close does not
// panic.
func TestTraceLogBounds(t *testing.T) {
	block := make(chan struct{})
	w := writerFunc(func(p []byte) (int, error) { <-block; return len(p), nil })
	tl := NewTraceLog(slog.New(slog.NewTextHandler(w, nil)), TraceOptions{PerSecond: 1e6, Burst: 1e6, Queue: 2, MaxMessage: 10})
	long := strings.Repeat("x", 100)
	for i := 0; i < 10; i++ {
		tl.Trace(&Trace{Source: "s", Severity: "error", Message: long})
	}
	close(block)
	tl.Close()
	tl.Trace(&Trace{Source: "s", Severity: "error", Message: "late"})
	var logged, full uint64
	for _, c := range tl.Counts() {
		if c.Severity == "error" && c.Outcome == TraceLogged {
			logged = c.Count
		}
		if c.Severity == "error" && c.Outcome == TraceQueueFull {
			full = c.Count
		}
	}
	// One in the writer, two queued; the other seven and the late one dropped.
	if logged+full != 11 || logged > 3 || full < 8 {
		t.Fatalf("logged %d, queue-full %d", logged, full)
	}

	var out syncBuffer
	tl = NewTraceLog(slog.New(slog.NewTextHandler(&out, nil)), TraceOptions{MaxMessage: 10})
	tl.Trace(&Trace{Source: "s", Severity: "error", Message: long})
	tl.Close()
	if !strings.Contains(out.String(), "message="+strings.Repeat("x", 10)+" ") {
		t.Fatalf("not clipped to 10 bytes: %s", out.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
