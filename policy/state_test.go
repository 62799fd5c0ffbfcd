package policy

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"
)

func TestStateCopiesKeys(t *testing.T) {
	clk := newClock()
	st := NewState(clk.now)
	q := &quotaSpec{calls: 10, period: time.Hour, firstStart: quotaEpoch}
	buf := []byte("client-a")
	key := unsafe.String(&buf[0], len(buf)) // as a zero-copy view of a connection buffer
	if ok, _ := st.quotaTake("p", key, q, 1); !ok {
		t.Fatal("refused")
	}
	copy(buf, "XXXXXXXX") // the buffer is reused for the next request
	got := st.QuotaCounters()
	if len(got) != 1 || got[0].Key != "client-a" || got[0].Calls != 1 {
		t.Fatalf("counters %+v", got)
	}
	if ok, rem, _ := st.rateTake("r", key, 5, time.Minute, 1); !ok || rem != 4 {
		t.Fatal("rate take")
	}
	// The rate window was stored under "XXXXXXXX" (the buffer's content at the
	// time); after the buffer changes back it must still be found by that name.
	copy(buf, "client-a")
	if _, rem, _ := st.rateTake("r", "XXXXXXXX", 5, time.Minute, 1); rem != 3 {
		t.Fatalf("stored key changed with the buffer: remaining %d", rem)
	}
}

func TestStateSweepsExpiredWindows(t *testing.T) {
	clk := newClock()
	st := NewState(clk.now)
	for i := 0; i < 50_000; i++ {
		st.rateTake("p", fmt.Sprint("k", i), 10, time.Second, 1)
	}
	clk.add(2 * time.Second)
	for i := 0; i < 50_000; i++ {
		st.rateTake("p", fmt.Sprint("n", i), 10, time.Second, 1)
	}
	total := 0
	for i := range st.shards {
		total += len(st.shards[i].rate)
	}
	if total >= 75_000 {
		t.Fatalf("%d windows kept; expired ones were not swept", total)
	}
	// Live windows survive a sweep.
	if _, rem, _ := st.rateTake("p", "n5", 10, time.Second, 1); rem != 8 {
		t.Fatalf("live window lost: remaining %d", rem)
	}
}

func TestRateLimitAPISubLimits(t *testing.T) {
	clk := newClock()
	p := compilePipeline(t, Options{State: NewState(clk.now)}, docs{1: `<policies><inbound><rate-limit calls="100" renewal-period="60">
		<api name="echo" calls="3" renewal-period="60"><operation name="get-item" calls="1" renewal-period="60"/></api>
		<api name="other" calls="1" renewal-period="60"/>
		</rate-limit></inbound></policies>`})
	call := func(opName string) int {
		c := newCtx("GET", "/")
		c.ID.OperationName = opName
		drive(t, p, c, nil)
		return c.Response.StatusCode
	}
	if call("get-item") != 200 || call("get-item") != 429 {
		t.Fatal("operation limit of 1 not applied")
	}
	if call("list") != 200 || call("list") != 429 {
		t.Fatal("api limit of 3 not applied (1 get-item + 1 refused get-item + 1 list used it)")
	}
}

func TestFailureLeaves500(t *testing.T) {
	p := compilePipeline(t, Options{}, op(`<policies><outbound><set-header name="x" exists-action="override"><value>@((string)context.Variables["nope"])</value></set-header></outbound></policies>`))
	c := newCtx("GET", "/")
	tr := drive(t, p, c, func(c *Context) { c.Response.Headers.Add("X-Backend", "1") })
	if !tr.onError || c.Response.StatusCode != 500 || c.Response.Headers.Has("X-Backend") ||
		string(c.Response.Body) != `{"statusCode":500,"message":"Internal server error"}` {
		t.Fatalf("%+v %d %v %s", tr, c.Response.StatusCode, c.Response.Headers.List, c.Response.Body)
	}
}

// FuzzCompile compiles fuzzed documents and runs whatever compiles through every
// section: neither step may panic.
func FuzzCompile(f *testing.F) {
	f.Add([]byte(hotPathDoc))
	f.Add([]byte(`<policies><inbound><choose><when condition="@(context.Request.Method == "GET")"><return-response><set-status code="200"/><set-body>@(context.Request.Url.Path)</set-body></return-response></when></choose><rewrite-uri template="/a/{id}?b={c}"/></inbound>
		<backend><retry condition="@(context.Response.StatusCode >= 500)" count="2" interval="0"><limit-concurrency key="k" max-count="1"><forward-request/></limit-concurrency></retry></backend>
		<outbound><set-body>@{ return $"{context.Response.StatusCode}"; }</set-body><quota-by-key calls="1" renewal-period="0" counter-key="x"/></outbound></policies>`))
	f.Add([]byte(`<policies><inbound><cors><allowed-origins><origin>*</origin></allowed-origins></cors><ip-filter action="allow"><address>10.0.0.1</address></ip-filter><check-header name="a" failed-check-httpcode="401" failed-check-error-message="m"/></inbound></policies>`))
	f.Fuzz(func(t *testing.T, src []byte) {
		clk := newClock()
		cp := NewCompiler(Options{Offline: true, State: NewState(clk.now), StepBudget: 1000})
		pol, err := cp.Compile(ScopeOperation, Source{Name: "fuzz.xml", XML: src})
		if err != nil {
			return
		}
		p := cp.Link(nil, nil, nil, pol)
		c := newCtx("GET", "/x", "Origin", "https://o")
		c.Request.MatchedParameters.Add("id", "1")
		drive(t, p, c, func(c *Context) { c.Response.StatusCode = 503 })
	})
}

func TestRuntimeErrorsRedactSecrets(t *testing.T) {
	o := Options{NamedValues: map[string]NamedValue{"m": {Value: "SECRET METHOD", Secret: true}}}
	p := compilePipeline(t, o, op(`<policies><inbound><set-method>@("{{m}}")</set-method></inbound></policies>`))
	c := newCtx("GET", "/")
	r := p.Run(c, Inbound)
	if r.Outcome != Fail || strings.Contains(r.Err.Error(), "SECRET") || !errors.Is(r.Err, ErrEval) || !strings.Contains(r.Err.Error(), "***") {
		t.Fatalf("%+v", r)
	}
	var re *RuntimeError
	if !errors.As(r.Err, &re) || strings.Contains(re.Err.Error(), "SECRET") {
		t.Fatalf("inner error leaks: %v", re.Err)
	}
}

// TestStateBoundsKeys: counter keys are client-controlled, so each policy
// keeps at most MaxKeys of them; the least recently used go first and each
// eviction is counted. Memory stays bounded however many keys arrive.
func TestStateBoundsKeys(t *testing.T) {
	clk := newClock()
	st := NewState(clk.now)
	st.SetMaxKeys(1024)
	long := strings.Repeat("x", 1000)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const n = 100_000
	for i := 0; i < n; i++ {
		// 1 KB keys: stored as their digest, so each costs ~200 bytes.
		st.rateTake("p", long+strconv.Itoa(i), 10, time.Hour, 1)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	s := st.Stats()
	if s.RateKeys > 1024 || s.RateKeys < 1000 {
		t.Fatalf("%d live keys for a bound of 1024", s.RateKeys)
	}
	if s.RateEvictions != uint64(n-s.RateKeys) {
		t.Fatalf("%d evictions counted, want %d", s.RateEvictions, n-s.RateKeys)
	}
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 4<<20 {
		t.Fatalf("heap grew by %d bytes for %d keys under a bound of 1024", grew, n)
	}
	// Another policy has its own bound: p's keys do not evict q's.
	for i := 0; i < 10; i++ {
		st.rateTake("q", strconv.Itoa(i), 10, time.Hour, 1)
	}
	for i := 0; i < 5000; i++ {
		st.rateTake("p", "more"+strconv.Itoa(i), 10, time.Hour, 1)
	}
	for i := 0; i < 10; i++ {
		if _, rem, _ := st.rateTake("q", strconv.Itoa(i), 10, time.Hour, 1); rem != 8 {
			t.Fatalf("q's key %d lost its window to p's keys (remaining %d)", i, rem)
		}
	}
	// The same for quotas.
	q := &quotaSpec{calls: 10, period: time.Hour, firstStart: quotaEpoch}
	for i := 0; i < 5000; i++ {
		st.quotaTake("qp", strconv.Itoa(i), q, 1)
	}
	if s := st.Stats(); s.QuotaKeys > 1024 || s.QuotaEvictions != uint64(5000-s.QuotaKeys) {
		t.Fatalf("quota keys %d, evictions %d", s.QuotaKeys, s.QuotaEvictions)
	}
}

// TestStateEvictsLeastRecentlyUsed: a key in use survives a flood of new keys;
// an evicted key starts a new window at its next call (the bound fails open).
func TestStateEvictsLeastRecentlyUsed(t *testing.T) {
	clk := newClock()
	st := NewState(clk.now)
	st.SetMaxKeys(64) // two keys per shard
	for i := 0; i < 3; i++ {
		st.rateTake("p", "hot", 100, time.Hour, 1)
	}
	if ok, _, _ := st.rateTake("p", "idle", 2, time.Hour, 2); !ok {
		t.Fatal("idle refused")
	}
	if ok, _, _ := st.rateTake("p", "idle", 2, time.Hour, 1); ok {
		t.Fatal("idle's limit of 2 not applied")
	}
	for i := 0; i < 10_000; i++ {
		st.rateTake("p", "flood"+strconv.Itoa(i), 100, time.Hour, 1)
		st.rateTake("p", "hot", 1e9, time.Hour, 0) // a check keeps it recently used
	}
	if _, rem, _ := st.rateTake("p", "hot", 100, time.Hour, 1); rem != 96 {
		t.Fatalf("the key in use was evicted: remaining %d, want 96", rem)
	}
	// idle was evicted by the flood: its next call starts a fresh window.
	if ok, rem, _ := st.rateTake("p", "idle", 2, time.Hour, 1); !ok || rem != 1 {
		t.Fatalf("evicted key: ok %v remaining %d, want a new window", ok, rem)
	}
	if st.Stats().RateEvictions == 0 {
		t.Fatal("no eviction counted")
	}
}

// TestStateFoldsLongKeys: a key longer than MaxKeyBytes is kept as its
// SHA-256, the same counter for the same key, checkpointed in that form.
func TestStateFoldsLongKeys(t *testing.T) {
	st := NewState(newClock().now)
	q := &quotaSpec{calls: 2, period: time.Hour, firstStart: quotaEpoch}
	long := strings.Repeat("k", 5000)
	st.quotaTake("p", long, q, 1)
	if ok, _ := st.quotaTake("p", long, q, 1); !ok {
		t.Fatal("second call refused")
	}
	if ok, _ := st.quotaTake("p", long, q, 1); ok {
		t.Fatal("the long key's quota of 2 not applied")
	}
	cs := st.QuotaCounters()
	if len(cs) != 1 || len(cs[0].Key) != 72 || !strings.HasPrefix(cs[0].Key, "\x00sha256:") || cs[0].Calls != 2 {
		t.Fatalf("counters %+v", cs)
	}
	// Restored after a restart, the digest finds the same counter.
	st2 := NewState(newClock().now)
	if err := st2.RestoreQuotas(cs); err != nil {
		t.Fatal(err)
	}
	if ok, _ := st2.quotaTake("p", long, q, 1); ok {
		t.Fatal("restored long-key quota not applied")
	}
	short := strings.Repeat("k", MaxKeyBytes)
	st.quotaTake("p", short, q, 1)
	if cs := st.QuotaCounters(); len(cs) != 2 || cs[1].Key != short && cs[0].Key != short {
		t.Fatalf("a key of MaxKeyBytes is kept as it is: %+v", cs)
	}
}

// TestStateRestoreRespectsBound: restoring more checkpointed quotas than the
// bound keeps the bound.
func TestStateRestoreRespectsBound(t *testing.T) {
	st := NewState(newClock().now)
	st.SetMaxKeys(32)
	var cs []QuotaCounter
	for i := 0; i < 1000; i++ {
		cs = append(cs, QuotaCounter{Policy: "p", Key: strconv.Itoa(i), PeriodStart: quotaEpoch, Calls: 1})
	}
	if err := st.RestoreQuotas(cs); err != nil {
		t.Fatal(err)
	}
	if s := st.Stats(); s.QuotaKeys > 32 || s.QuotaEvictions != uint64(1000-s.QuotaKeys) {
		t.Fatalf("after restore: %+v", s)
	}
}
