package policy

import "time"

// quota-by-key limits calls and/or bandwidth (kilobytes of request and
// response bodies) per counter key per renewal-period. Periods are aligned to
// first-period-start (default 0001-01-01T00:00:00Z, as APIM); renewal-period 0
// never renews. Counters are in the State and can be checkpointed with
// State.QuotaCounters.
func init() {
	register("quota-by-key", inInbound, append([]string{"counter-key", "increment-condition", "first-period-start"}, quotaAttrs...), compileQuotaByKey)
}

type quotaByKey struct {
	m    *meta
	spec *quotaSpec
	key  prop
	cond *prop
}

func compileQuotaByKey(b *builder, n *Node) {
	b.noText(n)
	b.noChildren(n)
	m := b.meta(n)
	s := &quotaByKey{m: m, spec: b.quotaSpec(n), key: b.attrProp(n, "counter-key", true)}
	if fs := b.attrString(n, "first-period-start", false, ""); fs != "" {
		t, err := time.Parse(time.RFC3339, fs)
		if err != nil {
			a, _ := n.Attr("first-period-start")
			b.errorAt(n, a.ValuePos, ErrInvalid, "first-period-start %q is not an RFC 3339 time", fs)
		}
		s.spec.firstStart = t
	} else {
		s.spec.firstStart = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if _, ok := n.Attr("increment-condition"); ok {
		p := b.attrProp(n, "increment-condition", true)
		s.cond = &p
	}
	b.emit(instr{op: opStep, step: s, meta: m, flow: true})
}

func (s *quotaByKey) run(c *Context) (flow, error) {
	key, err := s.key.str(c)
	if err != nil {
		return flowNext, err
	}
	if !s.spec.take(c, s.m.id, key, s.cond) {
		return c.limitFlow(), nil
	}
	return flowNext, nil
}
