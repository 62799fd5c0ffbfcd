package policy

// return-response stops the pipeline and answers with the response its
// children build (set-status, set-header, set-body); outbound is skipped.
// response-variable-name starts from a response held in a variable (what
// send-request stored), which the children then change.
func init() {
	register("return-response", inAll, []string{"response-variable-name"}, compileReturnResponse)
}

type returnResponse struct {
	steps     []stepper
	varName   string
	hasStatus bool // a set-status child: it decides the status
}

func compileReturnResponse(b *builder, n *Node) {
	b.noText(n)
	m := b.meta(n)
	b.onlyChildren(n, "set-status", "set-header", "set-body")
	steps := b.collect(toResponse, n.Children)
	rr := &returnResponse{steps: steps, varName: b.attrString(n, "response-variable-name", false, "")}
	for _, st := range steps {
		if _, ok := st.(*setStatus); ok {
			rr.hasStatus = true
		}
	}
	b.emit(instr{op: opStep, step: rr, meta: m, flow: true})
}

// collect compiles children that are plain steps (no control flow) for target
// t and returns them, leaving the program as it was.
func (b *builder) collect(t target, children []*Node) []stepper {
	saved, savedT := b.prog, b.target
	b.prog, b.target = nil, t
	b.policies(children)
	var steps []stepper
	for _, in := range b.prog {
		if in.op == opStep {
			steps = append(steps, in.step)
		}
	}
	b.prog, b.target = saved, savedT
	return steps
}

func (r *returnResponse) run(c *Context) (flow, error) {
	prev, prevReason := c.Response.StatusCode, c.Response.Reason
	c.Response.reset()
	c.Response.StatusCode = 200
	if r.hasStatus && prev != 0 {
		// set-status's expression may read context.Response.StatusCode: it is
		// the status of the response being replaced (a 401 in on-error).
		c.Response.StatusCode, c.Response.Reason = prev, prevReason
	}
	if r.varName != "" {
		v, ok := c.Variable(r.varName)
		status, reason, headers, body, isResp := AsResponse(v)
		if !ok || !isResp {
			return flowNext, evalErr("return-response: variable %q does not hold a response", r.varName)
		}
		c.Response.StatusCode, c.Response.Reason = status, reason
		for _, h := range headers {
			c.Response.Headers.Add(h.Name, h.Value)
		}
		c.Response.Body, c.Response.BodySet = body, true
	}
	for _, s := range r.steps {
		if _, err := s.run(c); err != nil {
			return flowNext, err
		}
	}
	return flowRespond, nil
}
