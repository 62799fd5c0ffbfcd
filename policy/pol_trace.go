package policy

import "strings"

// trace sends a message (and metadata) to the Context's Tracer. The message
// is a <message> child or, in the older form, the element's text.
func init() {
	register("trace", inAll, []string{"source", "severity"}, compileTrace)
}

type traceStep struct {
	source, severity string
	message          prop
	metadata         []Header
}

func compileTrace(b *builder, n *Node) {
	m := b.meta(n)
	s := &traceStep{
		source:   b.attrString(n, "source", true, ""),
		severity: b.attrEnum(n, "severity", "verbose", "verbose", "information", "error"),
	}
	b.onlyChildren(n, "message", "metadata")
	seen := false
	for _, ch := range n.Children {
		switch ch.Name {
		case "message":
			b.checkAttrs(ch)
			b.noChildren(ch)
			s.message, seen = b.textProp(ch), true
		case "metadata":
			b.checkAttrs(ch, "name", "value")
			b.noChildren(ch)
			s.metadata = append(s.metadata, Header{b.attrString(ch, "name", true, ""), b.attrString(ch, "value", true, "")})
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
	c.Tracer.Trace(s.source, s.severity, msg, s.metadata)
	return flowNext, nil
}
