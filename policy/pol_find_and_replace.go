package policy

import "bytes"

// find-and-replace replaces every occurrence of from by to in the request body
// (inbound, backend) or the response body (outbound, on-error). Both
// attributes are required and accept expressions; an empty from changes
// nothing. The pipeline buffers the body it works on (ReadsRequestBody /
// ReadsResponseBody).
func init() {
	register("find-and-replace", inAll, []string{"from", "to"}, compileFindAndReplace)
}

type findAndReplace struct {
	from, to prop
	target   target
}

func compileFindAndReplace(b *builder, n *Node) {
	b.noText(n)
	b.noChildren(n)
	m := b.meta(n)
	s := &findAndReplace{from: b.attrProp(n, "from", true), to: b.attrProp(n, "to", true), target: b.target}
	b.readsBody(b.target)
	b.emit(instr{op: opStep, step: s, meta: m})
}

func (s *findAndReplace) run(c *Context) (flow, error) {
	from, err := s.from.str(c)
	if err != nil {
		return flowNext, err
	}
	to, err := s.to.str(c)
	if err != nil {
		return flowNext, err
	}
	if from == "" {
		return flowNext, nil
	}
	body := c.Response.Body
	if s.target == toRequest {
		body = c.Request.Body
	}
	f, t := stringBytes(from), stringBytes(to)
	n := bytes.Count(body, f)
	if n == 0 {
		return flowNext, nil
	}
	// The new body, charged before it is made.
	if err := c.chargeBody(len(body) + n*(len(t)-len(f))); err != nil {
		return flowNext, err
	}
	out := bytes.ReplaceAll(body, f, t)
	if s.target == toRequest {
		c.Request.Body, c.Request.Buffered = out, true
		return flowNext, nil
	}
	c.Response.Body, c.Response.BodySet = out, true
	return flowNext, nil
}
