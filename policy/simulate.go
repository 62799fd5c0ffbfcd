package policy

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// Running a pipeline without a gateway: apimctl policy run, and tests that
// drive real documents against local services. Simulate does what the
// appliance's handler does with each Outcome, with the network left to the
// caller's functions.

// StepEvent is one policy step as Context.OnStep sees it.
type StepEvent struct {
	Section Section
	Element string
	File    string
	Pos     Pos
	Flow    flow
	Err     error
}

// Outcome names what the step told the pipeline ("next", "respond",
// "forward", "call", "await" (a shared counter's lease), or "error").
func (e StepEvent) Outcome() string {
	if e.Err != nil {
		return "error"
	}
	switch e.Flow {
	case flowRespond:
		return "respond"
	case flowForward:
		return "forward"
	case flowCall:
		return "call"
	case flowAwait:
		return "await"
	}
	return "next"
}

func (e StepEvent) String() string {
	s := fmt.Sprintf("%-8s %s:%d:%d <%s> %s", e.Section, e.File, e.Pos.Line, e.Pos.Col, e.Element, e.Outcome())
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// SentRequest is a request the pipeline sent to the backend.
type SentRequest struct {
	Method  string
	URL     string
	Headers []Header
	Body    []byte
}

// SimIO answers what the pipeline sends out. Forward answers the backend
// request (a nil response with an error is an unreachable backend); Call
// answers send-request and OpenID configuration fetches.
type SimIO struct {
	Forward func(req *SentRequest) (*CallResponse, error)
	Call    func(call *HTTPCall) (*CallResponse, error)
	// Token answers managed-identity token requests
	// (authentication-managed-identity); nil fails them.
	Token func(req TokenRequest) (Token, error)
}

// SimResult is what Simulate saw.
type SimResult struct {
	Forwarded []SentRequest // every request sent to the backend (retries included)
	Calls     []HTTPCall    // every call made (send-request, send-one-way-request, keys)
	Failed    *RuntimeError // the failure that ran on-error, if any
}

// Simulate runs c (Request, ID, Upstream filled) through every section of p
// as the gateway would, answering the backend and calls with io, and leaves
// the final response in c.Response. It calls c.Finish.
func Simulate(p *Pipeline, c *Context, io SimIO) SimResult {
	var out SimResult
	sec := Inbound
	res := p.Run(c, Inbound)
	for {
		switch res.Outcome {
		case Continue:
			switch sec {
			case Inbound:
				sec = Backend
				res = p.Run(c, Backend)
				continue
			case Backend:
				sec = Outbound
				res = p.Run(c, Outbound)
				continue
			}
			c.Finish()
			return out
		case Respond:
			c.Finish()
			return out
		case Wait:
			res = p.Resume(c) // no sleeping in a simulation
		case Await:
			// A State sharing counters: wait for the lease answer.
			done := make(chan struct{})
			res.Await.OnDone(func() { close(done) })
			<-done
			res = p.Resume(c)
		case Call:
			call := *res.Call
			out.Calls = append(out.Calls, call)
			if lk := call.Cache; lk != nil {
				c.CacheDone(lk.Cache.Get(context.Background(), lk.Key)) // the State's external cache
			} else if call.Token != nil {
				if io.Token == nil {
					c.TokenDone(Token{}, fmt.Errorf("no managed identity token source answers for resource %q", call.Token.Resource))
				} else {
					c.TokenDone(io.Token(*call.Token))
				}
			} else if call.OneWay {
				if io.Call != nil {
					io.Call(&call)
				}
				c.CallDone(nil, nil)
			} else if io.Call == nil {
				c.CallDone(nil, fmt.Errorf("no answer for %s %s", call.Method, call.URL))
			} else {
				c.CallDone(io.Call(&call))
			}
			res = p.Resume(c)
		case Forward:
			req := SentRequest{Method: c.Request.Method, URL: string(c.AppendBackendURL(nil)),
				Headers: append([]Header(nil), c.Request.Headers.List...), Body: c.Request.Body}
			out.Forwarded = append(out.Forwarded, req)
			var resp *CallResponse
			var err error
			if io.Forward != nil {
				resp, err = io.Forward(&req)
			} else {
				err = fmt.Errorf("no backend answers %s", req.URL)
			}
			if err != nil {
				c.LastError = &RuntimeError{Source: "forward-request", File: "(backend)", Section: Backend, Reason: err.Error(), Err: err}
				out.Failed = c.LastError
				c.Response.reset()
				c.Response.StatusCode = 502
				c.Response.Headers.Set("Content-Type", "application/json")
				c.Response.Body, c.Response.BodySet = []byte(`{"statusCode":502,"message":"Backend service unreachable"}`), true
				sec = OnError
				res = p.Run(c, OnError)
				continue
			}
			c.Response.reset()
			c.Response.StatusCode, c.Response.Reason = resp.StatusCode, resp.Reason
			for _, h := range resp.Headers {
				c.Response.Headers.Add(h.Name, h.Value)
			}
			c.Response.Body, c.Response.BodyBuffered = resp.Body, true
			res = p.Resume(c)
		case Fail:
			if sec == OnError {
				c.Finish()
				return out
			}
			out.Failed = c.LastError
			sec = OnError
			res = p.Run(c, OnError)
		}
	}
}

// VariableList returns the context variables, sorted by name, as
// "name = value (type)" lines for printing.
func (c *Context) VariableList() []string {
	out := make([]string, 0, len(c.vars))
	for name, v := range c.vars {
		typ, text := v.k.String(), v.String()
		if st, _, _, body, ok := AsResponse(v); ok {
			typ, text = "IResponse", fmt.Sprintf("status %d, %d body bytes", st, len(body))
		}
		out = append(out, fmt.Sprintf("%s = %s (%s)", name, strings.ReplaceAll(text, "\n", `\n`), typ))
	}
	sort.Strings(out)
	return out
}
