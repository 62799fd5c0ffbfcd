package policy

import "time"

// quota limits calls and/or bandwidth per subscription per renewal-period,
// with optional per-API and per-operation quotas (<api>, <operation>).
func init() {
	register("quota", inInbound, quotaAttrs, compileQuota)
}

type quota struct {
	m    *meta
	spec *quotaSpec
	apis []apiQuota
}

type apiQuota struct {
	name, id string
	counter  string // counter identity, fixed at compile time
	spec     *quotaSpec
	ops      []apiQuota
}

var quotaEpoch = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)

func compileQuota(b *builder, n *Node) {
	b.noText(n)
	m := b.meta(n)
	s := &quota{m: m, spec: b.quotaSpec(n)}
	s.spec.firstStart = quotaEpoch
	b.onlyChildren(n, "api")
	for _, a := range n.Children {
		if a.Name != "api" {
			continue
		}
		b.checkAttrs(a, "name", "id", "calls", "bandwidth", "renewal-period")
		aq := b.apiQuota(a)
		aq.counter = m.id + "/api:" + aq.name + aq.id
		b.onlyChildren(a, "operation")
		for _, o := range a.Children {
			if o.Name == "operation" {
				b.checkAttrs(o, "name", "id", "calls", "bandwidth", "renewal-period")
				b.noChildren(o)
				oq := b.apiQuota(o)
				oq.counter = aq.counter + "/op:" + oq.name + oq.id
				aq.ops = append(aq.ops, oq)
			}
		}
		s.apis = append(s.apis, aq)
	}
	b.emit(instr{op: opStep, step: s, meta: m, flow: true})
}

func (b *builder) apiQuota(n *Node) apiQuota {
	q := apiQuota{name: b.attrString(n, "name", false, ""), id: b.attrString(n, "id", false, ""), spec: b.quotaSpec(n)}
	q.spec.firstStart = quotaEpoch
	if q.name == "" && q.id == "" {
		b.errorf(n, ErrInvalid, "name or id is required")
	}
	return q
}

func (s *quota) run(c *Context) (flow, error) {
	key := c.ID.SubscriptionID
	if !s.spec.take(c, s.m.id, key, nil) {
		return c.limitFlow(), nil
	}
	for i := range s.apis {
		a := &s.apis[i]
		if c.ID.APIName == "" || a.name != c.ID.APIName && a.id != c.ID.APIName {
			continue
		}
		if !a.spec.take(c, a.counter, key, nil) {
			return c.limitFlow(), nil
		}
		for j := range a.ops {
			o := &a.ops[j]
			if c.ID.OperationName != "" && (o.name == c.ID.OperationName || o.id == c.ID.OperationName) &&
				!o.spec.take(c, o.counter, key, nil) {
				return c.limitFlow(), nil
			}
		}
	}
	return flowNext, nil
}
