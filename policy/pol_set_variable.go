package policy

// set-variable stores a value in context.Variables: an expression's value with
// its type, or a literal as a string.
func init() {
	register("set-variable", inAll, []string{"name", "value"}, compileSetVariable)
}

type setVariable struct {
	name  string
	value prop
}

func compileSetVariable(b *builder, n *Node) {
	b.noText(n)
	b.noChildren(n)
	m := b.meta(n)
	s := &setVariable{name: b.attrString(n, "name", true, ""), value: b.attrProp(n, "value", true)}
	b.emit(instr{op: opStep, step: s, meta: m})
}

func (s *setVariable) run(c *Context) (flow, error) {
	v, err := s.value.value(c)
	if err != nil {
		return flowNext, err
	}
	c.vars[s.name] = v
	return flowNext, nil
}
