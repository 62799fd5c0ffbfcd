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
	m := b.meta(n)
	name, action, values := compileNamedValues(b, n)
	b.emit(instr{op: opStep, step: &setQueryParameter{name: name, action: action, values: values}, meta: m})
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
