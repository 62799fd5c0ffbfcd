package policy

import (
	"errors"
	"strings"
	"time"
)

// redacted replaces an error whose text held a secret named value.
type redacted struct {
	msg  string
	kind error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.kind }

func errKind(err error) error {
	for _, k := range []error{ErrBudget, ErrEval} {
		if errors.Is(err, k) {
			return k
		}
	}
	return ErrEval
}

// Pipeline is the compiled, merged policy chain of one operation (for one
// product): four flat programs, one per section. It is immutable and safe for
// concurrent use by any number of requests; per-request state lives in the
// Context, counters in the State.
type Pipeline struct {
	sections   [numSections][]instr
	retrySlots int
	state      *State
	budget     int
	secrets    []string // values of secret named values, kept out of errors
	reads      bodyNeeds
	examples   []ResponseExample        // the operation's documented responses (pol_mock_response.go)
	params     *RequestParams           // the operation's documented parameters (pol_validate_parameters.go)
	content    map[contentKey]*compiled // validate-content's schemas (pol_validate_content.go)
}

// Outcome is what the caller must do after Run or Resume.
type Outcome uint8

const (
	// Continue: the section finished. After inbound, run backend; after
	// backend (which always forwards at least once), run outbound; after
	// outbound or on-error, send c.Response.
	Continue Outcome = iota
	// Forward: send the request (c.Request) to c.Upstream now, fill
	// c.Response with the backend's answer (or set c.LastError and run
	// on-error if it fails), then call Resume.
	Forward
	// Respond: answer the client now with c.Response; the rest of the
	// pipeline (including outbound) is skipped, as APIM does for
	// return-response and for a policy's refusal (429, 403).
	Respond
	// Wait: the pipeline needs to sleep Result.Delay (retry's interval).
	// Do it off the event loop (a timer), then call Resume.
	Wait
	// Fail: a policy failed (Result.Err, also in c.LastError); c.Response is
	// now APIM's 500 JSON error. Run the on-error section, then send
	// c.Response. (For a failed forward the caller sets c.LastError and its
	// own 502/504 in c.Response before running on-error.)
	Fail
	// Call: a policy (send-request, send-one-way-request) needs the HTTP
	// request Result.Call made. Do it off the event loop, give the pipeline
	// the outcome with Context.CallDone, then call Resume. For a one-way
	// call (Call.OneWay) start it, call CallDone(nil, nil) and Resume at once.
	Call
	// Await: a rate limit or quota shared by replicas waits for a lease of
	// calls from the shared total (sharedlease.go). Suspend the exchange off
	// the event loop, call Result.Await.OnDone once with the function that
	// resumes it, and call Resume from there.
	Await
)

var outcomeNames = [...]string{"continue", "forward", "respond", "wait", "fail", "call", "await"}

func (o Outcome) String() string { return outcomeNames[o] }

// Result is the outcome of Run or Resume.
type Result struct {
	Outcome Outcome
	Delay   time.Duration // for Wait
	Err     error         // for Fail: a *RuntimeError
	Call    *HTTPCall     // for Call
	Await   *LeaseWait    // for Await
}

// Has reports whether section s holds any policy (the appliance may skip
// running an empty outbound section, for example).
func (p *Pipeline) Has(s Section) bool { return len(p.sections[s]) > 0 }

// Run starts section s for c. The caller must handle the Result (see Outcome);
// for Forward and Wait it calls Resume afterwards. Run(Outbound) first adds
// the response headers the cors policy decided on in inbound.
func (p *Pipeline) Run(c *Context, s Section) Result {
	if c.vars == nil {
		c.vars = make(map[string]Value, 8)
	}
	c.pipe, c.sec, c.pc, c.running = p, s, 0, true
	if cap(c.retries) < p.retrySlots {
		c.retries = make([]retryState, p.retrySlots)
	}
	c.retries = c.retries[:p.retrySlots]
	if s == Outbound || s == OnError {
		for _, h := range c.respHeaders.List {
			c.Response.Headers.Set(h.Name, h.Value)
		}
	}
	if s == OnError && c.Response.StatusCode == 0 {
		c.Response.StatusCode, c.Response.Reason = 500, "Internal Server Error"
	}
	return p.exec(c)
}

// Resume continues the section suspended by Forward or Wait.
func (p *Pipeline) Resume(c *Context) Result {
	if !c.running || c.pipe != p {
		return Result{Outcome: Fail, Err: ErrNotRunning}
	}
	return p.exec(c)
}

func (p *Pipeline) exec(c *Context) Result {
	prog := p.sections[c.sec]
	c.budget = p.budget
	for c.pc < len(prog) {
		in := &prog[c.pc]
		switch in.op {
		case opStep:
			c.lim.n, c.lim.wait = 0, false
			f, err := in.step.run(c)
			if f != flowAwait {
				c.lim.passed = 0
			}
			if c.OnStep != nil {
				c.OnStep(StepEvent{Section: c.sec, Element: in.meta.name, File: in.meta.file, Pos: in.meta.pos, Flow: f, Err: err})
			}
			if err != nil {
				return p.fail(c, in, err)
			}
			c.pc++
			switch f {
			case flowRespond:
				c.running = false
				return Result{Outcome: Respond}
			case flowForward:
				c.forwarded = true
				return Result{Outcome: Forward}
			case flowCall:
				c.pc-- // the step runs again on Resume, to take the response
				return Result{Outcome: Call, Call: c.calls.call}
			case flowAwait:
				c.pc-- // the step runs again on Resume, to take the lease
				return Result{Outcome: Await, Await: &c.await}
			}
		case opJump:
			c.pc += in.arg
		case opJumpIfNot:
			v, err := in.cond.eval(c)
			if err != nil {
				return p.fail(c, in, err)
			}
			if v.k != kBool {
				return p.fail(c, in, evalErr("condition is %s, not bool", v.k))
			}
			if v.b {
				c.pc++
			} else {
				c.pc += in.arg
			}
		case opRetryInit:
			c.retries[in.slot] = retryState{}
			c.pc++
		case opRetryCheck:
			init := &prog[c.pc+in.arg-1]
			st := &c.retries[init.slot]
			again, err := in.retry.again(c, st)
			if err != nil {
				return p.fail(c, in, err)
			}
			if !again {
				c.pc++
				continue
			}
			d := in.retry.delay(st.attempt)
			st.attempt++
			c.pc += in.arg
			if d > 0 {
				return Result{Outcome: Wait, Delay: d}
			}
		case opConcExit:
			if n := len(c.held); n > 0 {
				h := c.held[n-1]
				c.held = c.held[:n-1]
				p.state.concRelease(h.id, h.key)
			}
			c.pc++
		default:
			c.pc++
		}
	}
	c.running = false
	return Result{Outcome: Continue}
}

// internalError is the response a failure leaves for the on-error section (and
// the client, if on-error does not change it).
var internalError = []byte(`{"statusCode":500,"message":"Internal server error"}`)

// refusal is an error that carries the response a failing policy leaves
// (status, reason, JSON body), instead of the generic 500.
type refusal interface {
	refusal() (status int, reason string, body []byte)
}

func (p *Pipeline) fail(c *Context, in *instr, err error) Result {
	c.running = false
	c.Response.reset()
	c.Response.StatusCode, c.Response.Reason = 500, "Internal Server Error"
	c.Response.Headers.Set("Content-Type", "application/json")
	c.Response.Body, c.Response.BodySet = internalError, true
	if r, ok := err.(refusal); ok {
		// A policy that refuses the request through on-error (validate-jwt):
		// its status and message are the response unless on-error changes it.
		c.Response.StatusCode, c.Response.Reason, c.Response.Body = r.refusal()
	} else if errors.Is(err, ErrMemory) {
		// The gateway's body memory budget (body.go): a 503 to retry.
		c.Response.StatusCode, c.Response.Reason, c.Response.Body = errMemory.(refusal).refusal()
	}
	if errors.Is(err, ErrMemory) {
		c.Response.Headers.Set("Retry-After", "1")
	}
	reason := err.Error()
	for _, sec := range p.secrets {
		if strings.Contains(reason, sec) {
			reason = strings.ReplaceAll(reason, sec, "***")
			err = &redacted{msg: reason, kind: errKind(err)}
		}
	}
	re := &RuntimeError{Source: in.meta.name, File: in.meta.file, Pos: in.meta.pos, Section: c.sec, Reason: reason, Err: err,
		PolicyID: in.meta.policyID, Path: in.meta.path}
	if s, ok := err.(interface{ policySource() string }); ok {
		re.Source = s.policySource() // a policy nested in the step failed (authentication-managed-identity in send-request)
	}
	c.LastError = re
	return Result{Outcome: Fail, Err: re}
}

// Finish ends the request: it applies the counter increments that depend on
// the outcome (increment-condition, quota bandwidth from c.Transferred) and
// releases limit-concurrency slots still held. Call it once, after the
// response is known (c.Response.StatusCode set), whatever the outcome.
func (c *Context) Finish() {
	if c.pipe == nil {
		return
	}
	st := c.pipe.state
	for i := range c.deferred {
		d := &c.deferred[i]
		if d.cond != nil {
			ok, err := d.cond.boolean(c)
			if err != nil || !ok {
				continue
			}
		}
		d.apply(st, c)
	}
	c.deferred = c.deferred[:0]
	for _, h := range c.held {
		st.concRelease(h.id, h.key)
	}
	c.held = c.held[:0]
	c.running = false
}

type retryState struct {
	attempt int
}

type heldSlot struct {
	id, key string
}
