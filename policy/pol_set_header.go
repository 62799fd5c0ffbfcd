package policy

import "strings"

// set-header changes a header of the request (inbound, backend) or of the
// response (outbound, on-error, inside return-response). exists-action:
// override (default) replaces, skip keeps an existing header, append adds,
// delete removes. A literal name and value are applied without allocating.
func init() {
	register("set-header", inAll, []string{"name", "exists-action"}, compileSetHeader)
}

type setHeader struct {
	name   prop
	action string
	values []prop
	target target
}

func compileSetHeader(b *builder, n *Node) {
	m := b.meta(n)
	name, action, values := compileNamedValues(b, n)
	s := &setHeader{name: name, action: action, values: values, target: b.target}
	if s.name.e == nil && s.name.set && strings.TrimSpace(s.name.lit.s) == "" {
		b.errorf(n, ErrInvalid, "attribute \"name\" is empty")
	}
	b.emit(instr{op: opStep, step: s, meta: m})
}

// compileNamedValues reads what set-header and set-query-parameter share: the
// name attribute, exists-action, and the <value> children.
func compileNamedValues(b *builder, n *Node) (name prop, action string, values []prop) {
	b.noText(n)
	name = b.attrProp(n, "name", true)
	action = b.attrEnum(n, "exists-action", "override", "override", "skip", "append", "delete")
	b.onlyChildren(n, "value")
	for _, v := range n.Children {
		if v.Name == "value" {
			b.checkAttrs(v)
			b.noChildren(v)
			values = append(values, b.textProp(v))
		}
	}
	if len(values) == 0 && action != "delete" {
		b.errorf(n, ErrInvalid, "needs at least one <value> (or exists-action=\"delete\")")
	}
	return name, action, values
}

func (s *setHeader) run(c *Context) (flow, error) {
	h := &c.Request.Headers
	if s.target == toResponse {
		h = &c.Response.Headers
	}
	return s.apply(c, h)
}

// apply changes the header list h (the request's, the response's, or a
// send-request's).
func (s *setHeader) apply(c *Context, h *Headers) (flow, error) {
	name, err := s.name.str(c)
	if err != nil {
		return flowNext, err
	}
	switch s.action {
	case "delete":
		h.Del(name)
		return flowNext, nil
	case "skip":
		if h.Has(name) {
			return flowNext, nil
		}
	case "override":
		if len(s.values) == 1 {
			v, err := s.values[0].str(c)
			if err != nil {
				return flowNext, err
			}
			h.Set(name, v)
			return flowNext, nil
		}
		h.Del(name)
	}
	for i := range s.values {
		v, err := s.values[i].str(c)
		if err != nil {
			return flowNext, err
		}
		h.Add(name, v)
	}
	return flowNext, nil
}
