package policy

// set-status sets the response status code and reason.
func init() {
	register("set-status", inAll, []string{"code", "reason"}, compileSetStatus)
}

type setStatus struct {
	code   prop
	reason prop
}

func compileSetStatus(b *builder, n *Node) {
	b.noText(n)
	b.noChildren(n)
	m := b.meta(n)
	s := &setStatus{code: b.attrProp(n, "code", true), reason: b.attrProp(n, "reason", false)}
	if s.code.set && !s.code.bad && s.code.e == nil {
		if v, err := s.code.integer(nil); err != nil || v < 100 || v > 599 {
			a, _ := n.Attr("code")
			b.errorAt(n, a.ValuePos, ErrInvalid, "attribute \"code\": %q is not a status code (100-599)", s.code.lit.s)
		}
	}
	b.emit(instr{op: opStep, step: s, meta: m})
}

func (s *setStatus) run(c *Context) (flow, error) {
	code, err := s.code.integer(c)
	if err != nil {
		return flowNext, err
	}
	if code < 100 || code > 599 {
		return flowNext, evalErr("status code %d is out of range", code)
	}
	c.Response.StatusCode = int(code)
	if s.reason.set {
		r, err := s.reason.str(c)
		if err != nil {
			return flowNext, err
		}
		c.Response.Reason = r
	}
	return flowNext, nil
}
