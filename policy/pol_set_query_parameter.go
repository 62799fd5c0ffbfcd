package policy

// set-query-parameter changes a query parameter of the request, with the same
// exists-action values as set-header.
func init() {
	register("set-query-parameter", inInbound|inBackend, []string{"name", "exists-action"}, compileSetQueryParameter)
}

type setQueryParameter struct {
	name   prop
	action string
	values []prop
}

func compileSetQueryParameter(b *builder, n *Node) {
	b.noText(n)
	m := b.meta(n)
	s := &setQueryParameter{
		name:   b.attrProp(n, "name", true),
		action: b.attrEnum(n, "exists-action", "override", "override", "skip", "append", "delete"),
	}
	b.onlyChildren(n, "value")
	for _, v := range n.Children {
		if v.Name == "value" {
			b.checkAttrs(v)
			b.noChildren(v)
			s.values = append(s.values, b.textProp(v))
		}
	}
	if len(s.values) == 0 && s.action != "delete" {
		b.errorf(n, ErrInvalid, "needs at least one <value> (or exists-action=\"delete\")")
	}
	b.emit(instr{op: opStep, step: s, meta: m})
}

func (s *setQueryParameter) run(c *Context) (flow, error) {
	q := &c.Request.Query
	name, err := s.name.str(c)
	if err != nil {
		return flowNext, err
	}
	switch s.action {
	case "delete":
		q.Del(name)
		return flowNext, nil
	case "skip":
		if _, ok := q.Get(name); ok {
			return flowNext, nil
		}
	case "override":
		q.Del(name)
	}
	for i := range s.values {
		v, err := s.values[i].str(c)
		if err != nil {
			return flowNext, err
		}
		q.Add(name, v)
	}
	return flowNext, nil
}
