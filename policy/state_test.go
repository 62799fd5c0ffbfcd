package policy

import (
	"errors"
	"fmt"
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
