package policy

// choose / when / otherwise: the first <when> whose condition is true runs;
// otherwise <otherwise> (if any). Compiled to conditional jumps, so choosing
// costs one condition evaluation per <when> tried.
func init() {
	register("choose", inAll, nil, compileChoose)
}

func compileChoose(b *builder, n *Node) {
	b.noText(n)
	m := b.meta(n)
	var ends []int
	for i, ch := range n.Children {
		switch ch.Name {
		case "when":
			b.checkAttrs(ch, "condition")
			b.noText(ch)
			cond := b.condition(ch, "condition")
			j := b.emit(instr{op: opJumpIfNot, cond: cond, meta: &meta{name: "when", file: b.file, pos: ch.Pos, path: b.pathOf(ch), policyID: m.policyID}})
			b.policies(ch.Children)
			ends = append(ends, b.emit(instr{op: opJump, meta: m}))
			b.prog[j].arg = len(b.prog) - j
		case "otherwise":
			b.checkAttrs(ch)
			b.noText(ch)
			if i != len(n.Children)-1 {
				b.errorf(ch, ErrInvalid, "<otherwise> must be the last child of <choose>")
			}
			b.policies(ch.Children)
		default:
			b.errorf(ch, ErrInvalid, "<choose> may contain only <when> and <otherwise>, not <%s>", ch.Name)
		}
	}
	if len(n.Children) == 0 || n.Children[0].Name != "when" {
		b.errorf(n, ErrInvalid, "<choose> needs at least one <when>")
	}
	for _, j := range ends {
		b.prog[j].arg = len(b.prog) - j
	}
}

// condition compiles a boolean attribute: an expression, or literal true/false.
func (b *builder) condition(n *Node, name string) *expr {
	p := b.attrProp(n, name, true)
	if !p.set || p.bad {
		return &expr{fn: constFn(BoolValue(false)), t: tyBool}
	}
	if p.e == nil {
		switch trimmed(p.lit.s) {
		case "true", "True":
			return &expr{fn: constFn(BoolValue(true)), t: tyBool}
		case "false", "False":
			return &expr{fn: constFn(BoolValue(false)), t: tyBool}
		}
		a, _ := n.Attr(name)
		b.errorAt(n, a.ValuePos, ErrInvalid, "attribute %q must be a boolean expression @( … ), true or false", name)
		return &expr{fn: constFn(BoolValue(false)), t: tyBool}
	}
	if p.e.t != tyBool && p.e.t != tyAny {
		a, _ := n.Attr(name)
		b.errorAt(n, a.ValuePos, ErrInvalid, "attribute %q: the expression is %s, not bool", name, p.e.t)
	}
	return p.e
}
