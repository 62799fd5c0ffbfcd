package policy

// set-method changes the request method (literal or expression).
func init() {
	register("set-method", inInbound|inBackend, nil, compileSetMethod)
}

type setMethod struct {
	method prop
}

func compileSetMethod(b *builder, n *Node) {
	b.noChildren(n)
	m := b.meta(n)
	p := b.textProp(n)
	if p.e == nil {
		p.lit.s = trimmed(p.lit.s)
		if !isToken(p.lit.s) {
			b.errorAt(n, n.TextPos, ErrInvalid, "%q is not an HTTP method", p.lit.s)
		}
	}
	b.emit(instr{op: opStep, step: &setMethod{method: p}, meta: m})
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || isDigit(c) || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func (s *setMethod) run(c *Context) (flow, error) {
	m, err := s.method.str(c)
	if err != nil {
		return flowNext, err
	}
	if !isToken(m) {
		return flowNext, evalErr("%q is not an HTTP method", m)
	}
	c.Request.Method = m
	return flowNext, nil
}
