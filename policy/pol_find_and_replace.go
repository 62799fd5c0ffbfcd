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
	if s.target == toRequest {
		if bytes.Contains(c.Request.Body, []byte(from)) {
			c.Request.Body, c.Request.Buffered = bytes.ReplaceAll(c.Request.Body, []byte(from), []byte(to)), true
		}
		return flowNext, nil
	}
	if bytes.Contains(c.Response.Body, []byte(from)) {
		c.Response.Body, c.Response.BodySet = bytes.ReplaceAll(c.Response.Body, []byte(from), []byte(to)), true
	}
	return flowNext, nil
}
