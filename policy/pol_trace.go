package policy

import "strings"

// trace sends a message (and metadata) to the Context's Tracer. The message
// is a <message> child or, in the older form, the element's text; metadata
// names and values are literals or expressions, as APIM allows. source and
// severity are literals (APIM allows no expressions there). With no Tracer
// (a Context the caller did not give one) the policy does nothing and
// evaluates nothing.
func init() {
	register("trace", inAll, []string{"source", "severity"}, compileTrace)
}

type traceStep struct {
	source, severity string
	message          prop
	metadata         []traceMeta
	// constMeta is the metadata when every name and value is a literal
	// (passed as it is, no allocation).
	constMeta []Header
}

type traceMeta struct {
	name, value prop
}

func compileTrace(b *builder, n *Node) {
	m := b.meta(n)
	s := &traceStep{
		source:   b.attrString(n, "source", true, ""),
		severity: b.attrEnum(n, "severity", "verbose", "verbose", "information", "error"),
	}
	b.onlyChildren(n, "message", "metadata")
	seen := false
	constant := true
	for _, ch := range n.Children {
		switch ch.Name {
		case "message":
			b.checkAttrs(ch)
			b.noChildren(ch)
			s.message, seen = b.textProp(ch), true
		case "metadata":
			b.checkAttrs(ch, "name", "value")
			b.noChildren(ch)
			md := traceMeta{name: b.attrProp(ch, "name", true), value: b.attrProp(ch, "value", true)}
			constant = constant && md.name.e == nil && md.value.e == nil
			s.metadata = append(s.metadata, md)
		}
	}
	if constant {
		for _, md := range s.metadata {
			s.constMeta = append(s.constMeta, Header{md.name.lit.String(), md.value.lit.String()})
		}
	}
	switch {
	case !seen && strings.TrimSpace(n.Text) != "":
		// The older form: the message is the element's text.
		s.message = b.textProp(n)
	case !seen:
		b.errorf(n, ErrInvalid, "<message> is required")
	default:
		b.noText(n)
	}
	b.emit(instr{op: opStep, step: s, meta: m})
}

func (s *traceStep) run(c *Context) (flow, error) {
	if c.Tracer == nil {
		return flowNext, nil
	}
	msg, err := s.message.str(c)
	if err != nil {
		return flowNext, err
	}
	md := s.constMeta
	if md == nil && len(s.metadata) > 0 {
		md = make([]Header, 0, len(s.metadata))
		for i := range s.metadata {
			name, err := s.metadata[i].name.str(c)
			if err != nil {
				return flowNext, err
			}
			value, err := s.metadata[i].value.str(c)
			if err != nil {
				return flowNext, err
			}
			md = append(md, Header{name, value})
		}
	}
	c.Tracer.Trace(s.source, s.severity, msg, md)
	return flowNext, nil
}
