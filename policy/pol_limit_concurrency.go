package policy

// limit-concurrency lets at most max-count requests per key run its children
// at the same time; the next one gets 429 at once. The slot is held across a
// forward inside the block and released when the block ends, or at Finish if
// the request left the block early (return-response, failure).
func init() {
	register("limit-concurrency", inAll, []string{"key", "max-count"}, compileLimitConcurrency)
}

type concEnter struct {
	m   *meta
	key prop
	max int64
}

var tooManyConcurrent = []byte(`{"statusCode":429,"message":"Too many concurrent requests."}`)

func compileLimitConcurrency(b *builder, n *Node) {
	b.noText(n)
	m := b.meta(n)
	s := &concEnter{m: m, key: b.attrProp(n, "key", true), max: b.attrInt(n, "max-count", true, 1, 1, 1<<31)}
	b.emit(instr{op: opStep, step: s, meta: m, flow: true})
	b.policies(n.Children)
	b.emit(instr{op: opConcExit, meta: m})
}

func (s *concEnter) run(c *Context) (flow, error) {
	key, err := s.key.str(c)
	if err != nil {
		return flowNext, err
	}
	if !c.pipe.state.concAcquire(s.m.id, key, s.max) {
		c.Response.reset()
		c.Response.StatusCode, c.Response.Reason = 429, "Too Many Requests"
		c.Response.Headers.Set("Content-Type", "application/json")
		c.Response.Body, c.Response.BodySet = tooManyConcurrent, true
		return flowRespond, nil
	}
	c.held = append(c.held, heldSlot{id: s.m.id, key: key})
	return flowNext, nil
}
