package policy

// rate-limit-by-key limits calls per counter key (an expression, typically the
// subscription, the client IP or a header) to calls per renewal-period. Without
// increment-condition a call is counted when it is checked; with one, the call
// is checked first and counted at Finish if the condition (which may look at
// context.Response.StatusCode) holds.
func init() {
	register("rate-limit-by-key", inInbound, append([]string{"counter-key", "increment-condition", "increment-count"}, rateAttrs...), compileRateLimitByKey)
}

type rateLimitByKey struct {
	m    *meta
	spec rateSpec
	key  prop
	cond *prop
	inc  int64
}

func compileRateLimitByKey(b *builder, n *Node) {
	b.noText(n)
	b.noChildren(n)
	m := b.meta(n)
	s := &rateLimitByKey{m: m, spec: b.rateSpec(n), key: b.attrProp(n, "counter-key", true), inc: b.attrInt(n, "increment-count", false, 1, 0, 1<<30)}
	if _, ok := n.Attr("increment-condition"); ok {
		p := b.attrProp(n, "increment-condition", true)
		s.cond = &p
	}
	b.emit(instr{op: opStep, step: s, meta: m, flow: true})
}

func (s *rateLimitByKey) run(c *Context) (flow, error) {
	key, err := s.key.str(c)
	if err != nil {
		return flowNext, err
	}
	inc := s.inc
	if s.cond != nil {
		inc = 0
	}
	if !s.spec.take(c, s.m.id, key, inc) {
		return c.limitFlow(), nil
	}
	if s.cond != nil {
		c.deferred = append(c.deferred, deferredCount{id: s.m.id, key: key, cond: s.cond, rate: s.spec.period, inc: s.inc})
	}
	return flowNext, nil
}
