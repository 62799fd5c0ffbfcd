package policy

// return-response stops the pipeline and answers with the response its
// children build (set-status, set-header, set-body); outbound is skipped.
func init() {
	register("return-response", inAll, nil, compileReturnResponse)
}

type returnResponse struct {
	steps []stepper
}

func compileReturnResponse(b *builder, n *Node) {
	b.noText(n)
	m := b.meta(n)
	b.onlyChildren(n, "set-status", "set-header", "set-body")
	steps := b.collect(toResponse, n.Children)
	b.emit(instr{op: opStep, step: &returnResponse{steps: steps}, meta: m, flow: true})
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
	c.Response.reset()
	c.Response.StatusCode = 200
	for _, s := range r.steps {
		if _, err := s.run(c); err != nil {
			return flowNext, err
		}
	}
	return flowRespond, nil
}
