package policy

import (
	"net/netip"
	"time"
)

// DefaultStepBudget is how many expression nodes one evaluation may visit
// before it fails with ErrBudget. Without loops in the language a real
// expression needs tens of steps; the budget bounds hostile or generated ones.
const DefaultStepBudget = 10_000

// Context is one request's trip through a pipeline: APIM's `context`. The
// appliance fills Request, ID and RequestID (and Upstream.BaseURL with the
// API's service URL), calls Pipeline.Run for each section, fills Response after
// forwarding, and calls Finish when the response has been sent.
//
// Concurrency and lifetime: a Context is used by one goroutine at a time (it may
// move from the event loop to a worker and back between Run/Resume calls, with
// a happens-before edge provided by the caller's hand-off). It may be reused for
// another request after Finish and Reset; reusing keeps its slices and maps, so
// a warmed-up Context runs the hot path without allocating.
type Context struct {
	Request   Request
	Response  Response
	ID        Identity
	RequestID string
	Upstream  Upstream
	// Tracer receives the trace policy's output; nil drops it.
	Tracer Tracer
	// Memory, if set, is the gateway-wide account that the copies policies
	// make of bodies (and what expressions build) are charged to, for the
	// whole request (policy/body.go); nil charges nothing beyond the
	// per-evaluation budget. Reset keeps it: the appliance sets it once per
	// connection and releases the request's charges when the request ends.
	Memory MemoryBudget
	// OnStep, if set, is told about every policy step run (apimctl policy
	// run's step trace); nil costs one comparison per step.
	OnStep func(StepEvent)
	// Transferred is the number of request and response body bytes, set by
	// the caller before Finish; quota bandwidth limits count it.
	Transferred int64
	// LastError is set when a section fails (Result Fail) and is what the
	// on-error section sees.
	LastError *RuntimeError
	// Deployment is what context.Deployment reports (region, service name,
	// gateway id); the appliance fills it from its configuration.
	Deployment Deployment
	// Start is when the request arrived (context.Timestamp, context.Elapsed);
	// the zero time means "now" at evaluation.
	Start time.Time

	vars map[string]Value
	// x is the expression evaluator's reusable scratch space.
	x exprState

	// Execution state, owned by the pipeline.
	pipe     *Pipeline
	sec      Section
	pc       int
	running  bool
	steps    int
	budget   int
	delay    time.Duration
	retries  []retryState
	held     []heldSlot
	deferred []deferredCount
	// respHeaders holds response headers decided in inbound (cors,
	// remaining-calls headers), added to the response when the outbound or
	// on-error section starts.
	respHeaders Headers
	forwarded   bool
	// errMsg, errBody and errHdr are reused for the 429/403 refusal bodies
	// and Retry-After (limits.go), so a refusal under a flood does not
	// allocate.
	errMsg, errBody, errHdr []byte
	calls                   callState      // send-request (pol_send_request.go)
	respCache               respCacheState // cache-lookup for cache-store (pol_cache_response.go)
	lim                     limitState     // a limit step suspended for a lease (limits.go)
	await                   LeaseWait      // the lease it waits for (sharedlease.go)
}

// NewContext returns an empty Context.
func NewContext() *Context {
	return &Context{vars: make(map[string]Value, 8)}
}

// Reset prepares c for another request, keeping allocated capacity. Call it
// only after Finish.
func (c *Context) Reset() {
	c.Request.Method, c.Request.Path = "", ""
	c.Request.Query.Reset()
	c.Request.MatchedParameters.Reset()
	c.Request.Headers.Reset()
	c.Request.Body, c.Request.Buffered = nil, false
	c.Request.ClientIP = netip.Addr{}
	c.Response.reset()
	c.ID = Identity{}
	c.RequestID = ""
	c.Upstream = Upstream{}
	c.Tracer = nil
	c.OnStep = nil
	c.LastError = nil
	c.Start = time.Time{}
	c.Transferred = 0
	clear(c.vars)
	c.pipe, c.sec, c.pc, c.running, c.steps, c.delay = nil, 0, 0, false, 0, 0
	c.retries = c.retries[:0]
	c.held = c.held[:0]
	c.deferred = c.deferred[:0]
	c.respHeaders.Reset()
	c.forwarded = false
	c.calls = callState{}
	c.respCache = respCacheState{}
	c.lim = limitState{}
}

// Variable returns the context variable name (set-variable or the caller).
func (c *Context) Variable(name string) (Value, bool) {
	v, ok := c.vars[name]
	return v, ok
}

// SetVariable sets a context variable, as set-variable does.
func (c *Context) SetVariable(name string, v Value) {
	if c.vars == nil {
		c.vars = make(map[string]Value, 8)
	}
	c.vars[name] = v
}

func (c *Context) tick() error {
	c.steps++
	if c.steps > c.budget {
		return ErrBudget
	}
	return nil
}

// Forwarded reports whether the backend section has asked for a forward
// (Outcome Forward) during this request. A backend section whose only
// forward-request sits in a branch that was not taken ends with Continue and
// no forward; the response is then whatever the policies set.
func (c *Context) Forwarded() bool { return c.forwarded }
