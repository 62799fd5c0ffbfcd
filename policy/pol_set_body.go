package policy

// set-body replaces the request body (inbound, backend) or the response body
// (outbound, on-error, return-response) with literal text or an expression's
// value (an inline XML payload is taken as written). A literal body is encoded once at compile time and shared; liquid
// templates and the other APIM attributes are not supported.
func init() {
	register("set-body", inAll, nil, compileSetBody)
}

type setBody struct {
	lit    []byte
	e      prop
	target target
}

func compileSetBody(b *builder, n *Node) {
	m := b.meta(n)
	var p prop
	if len(n.Children) > 0 {
		// An XML payload written inline: the body is the content as written.
		p = b.compileValue(n, n.TextPos, n.Inner(b.doc))
	} else {
		p = b.textProp(n)
	}
	s := &setBody{target: b.target}
	if p.e != nil {
		s.e = p
	} else {
		s.lit = []byte(p.lit.s)
	}
	b.emit(instr{op: opStep, step: s, meta: m})
}

func (s *setBody) run(c *Context) (flow, error) {
	body := s.lit
	if s.e.e != nil {
		v, err := s.e.str(c)
		if err != nil {
			return flowNext, err
		}
		body = []byte(v)
	}
	if s.target == toRequest {
		c.Request.Body, c.Request.Buffered = body, true
		return flowNext, nil
	}
	c.Response.Body, c.Response.BodySet = body, true
	return flowNext, nil
}
