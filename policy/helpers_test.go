package policy

import (
	"net/netip"
	"testing"
	"time"
)

// fakeClock is an injected clock for counters.
type fakeClock struct{ t time.Time }

func (f *fakeClock) now() time.Time      { return f.t }
func (f *fakeClock) add(d time.Duration) { f.t = f.t.Add(d) }
func newClock() *fakeClock               { return &fakeClock{t: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)} }

// docs holds one document per scope; "" means none.
type docs [4]string

func compilePipeline(t testing.TB, o Options, d docs) *Pipeline {
	t.Helper()
	cp := NewCompiler(o)
	var ps [4]*Policy
	for i, x := range d {
		if x == "" {
			continue
		}
		p, err := cp.Compile(Scope(i), Source{Name: Scope(i).String() + ".xml", XML: []byte(x)})
		if err != nil {
			t.Fatalf("compile %s: %v", Scope(i), err)
		}
		ps[i] = p
	}
	return cp.Link(ps[0], ps[1], ps[2], ps[3])
}

func op(xml string) docs { return docs{3: xml} }

func newCtx(method, path string, headers ...string) *Context {
	c := NewContext()
	c.Request.Method, c.Request.Path = method, path
	for i := 0; i+1 < len(headers); i += 2 {
		c.Request.Headers.Add(headers[i], headers[i+1])
	}
	c.Request.ClientIP = netip.MustParseAddr("10.0.0.1")
	c.ID = Identity{SubscriptionID: "sub1", SubscriptionKey: "k1", SubscriptionName: "Sub One", ProductName: "Starter",
		APIName: "echo", APIPath: "echo", OperationName: "get-item", OperationMethod: "GET"}
	c.RequestID = "req-1"
	c.Upstream.BaseURL = "http://backend.test"
	return c
}

// trip is what drive observed.
type trip struct {
	answered Outcome // Respond, Continue (normal end) or Fail
	forwards int
	waits    []time.Duration
	onError  bool
}

// drive runs a request through every section the way the appliance does;
// backend answers with status (and the request is recorded).
func drive(t testing.TB, p *Pipeline, c *Context, backend func(c *Context)) trip {
	t.Helper()
	var tr trip
	step := func(r Result) Result {
		for {
			switch r.Outcome {
			case Forward:
				tr.forwards++
				c.Response.reset()
				c.Response.StatusCode = 200
				if backend != nil {
					backend(c)
				}
				r = p.Resume(c)
			case Wait:
				tr.waits = append(tr.waits, r.Delay)
				r = p.Resume(c)
			default:
				return r
			}
		}
	}
	for _, s := range []Section{Inbound, Backend, Outbound} {
		r := step(p.Run(c, s))
		switch r.Outcome {
		case Respond:
			tr.answered = Respond
			c.Finish()
			return tr
		case Fail:
			tr.onError = true
			r = step(p.Run(c, OnError))
			tr.answered = Fail
			c.Finish()
			return tr
		}
	}
	tr.answered = Continue
	c.Finish()
	return tr
}
