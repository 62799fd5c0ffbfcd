package policy

// set-body replaces the request body (inbound, backend) or the response body
// (outbound, on-error, return-response) with literal text or an expression's
// value (an inline XML payload is taken as written), or a Liquid template
// (template="liquid", liquid.go). A literal body is encoded once at compile
// time and shared; xsi-nil and parse-date are refused.
func init() {
	register("set-body", inAll, []string{"template", "xsi-nil", "parse-date"}, compileSetBody)
}

type setBody struct {
	lit    []byte
	e      prop
	liquid *liquidBody
	target target
}

func compileSetBody(b *builder, n *Node) {
	m := b.meta(n)
	for _, a := range []string{"xsi-nil", "parse-date"} {
		if at, ok := n.Attr(a); ok {
			b.errorAt(n, at.Pos, ErrUnsupported, "attribute %q is not supported (it shapes JSON/XML conversion of a body this gateway passes through as text)", a)
		}
	}
	if b.attrEnum(n, "template", "none", "none", "liquid") == "liquid" {
		if l := b.compileLiquid(n); l != nil {
			b.emit(instr{op: opStep, step: &setBody{liquid: l, target: b.target}, meta: m})
		}
		return
	}
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
	if s.liquid != nil {
		out, err := s.liquid.render(c)
		if err != nil {
			return flowNext, err
		}
		if err := c.chargeBody(len(out)); err != nil {
			return flowNext, err
		}
		body = out
	} else if s.e.e != nil {
		v, err := s.e.str(c)
		if err != nil {
			return flowNext, err
		}
		// The string's own bytes (no copy: bodies are read-only); what built
		// it was charged while the expression ran.
		body = stringBytes(v)
	}
	if s.target == toRequest {
		c.Request.Body, c.Request.Buffered = body, true
		return flowNext, nil
	}
	c.Response.Body, c.Response.BodySet = body, true
	return flowNext, nil
}
