package policy

// rate-limit limits calls per subscription to calls per renewal-period, with
// optional tighter limits for named APIs and operations (<api name="…"> with
// <operation name="…"> children). A call without a subscription shares the
// anonymous counter.
func init() {
	register("rate-limit", inInbound, rateAttrs, compileRateLimit)
}

type rateLimit struct {
	m    *meta
	spec rateSpec
	apis []apiLimit
}

type apiLimit struct {
	name, id string
	counter  string // counter identity, fixed at compile time
	spec     rateSpec
	ops      []apiLimit
}

func compileRateLimit(b *builder, n *Node) {
	b.noText(n)
	m := b.meta(n)
	s := &rateLimit{m: m, spec: b.rateSpec(n)}
	b.onlyChildren(n, "api")
	for _, a := range n.Children {
		if a.Name != "api" {
			continue
		}
		b.checkAttrs(a, "name", "id", "calls", "renewal-period")
		al := b.apiLimit(a)
		al.counter = m.id + "/api:" + al.name + al.id
		b.onlyChildren(a, "operation")
		for _, o := range a.Children {
			if o.Name == "operation" {
				b.checkAttrs(o, "name", "id", "calls", "renewal-period")
				b.noChildren(o)
				ol := b.apiLimit(o)
				ol.counter = al.counter + "/op:" + ol.name + ol.id
				al.ops = append(al.ops, ol)
			}
		}
		s.apis = append(s.apis, al)
	}
	b.emit(instr{op: opStep, step: s, meta: m, flow: true})
}

func (b *builder) apiLimit(n *Node) apiLimit {
	al := apiLimit{name: b.attrString(n, "name", false, ""), id: b.attrString(n, "id", false, "")}
	if al.name == "" && al.id == "" {
		b.errorf(n, ErrInvalid, "name or id is required")
	}
	al.spec = rateSpec{calls: b.attrInt(n, "calls", true, 1, 1, 1<<40), period: b.seconds(n, "renewal-period", true, 1)}
	return al
}

func (a *apiLimit) matches(name string) bool {
	return name != "" && (a.name == name || a.id == name)
}

func (s *rateLimit) run(c *Context) (flow, error) {
	key := c.ID.SubscriptionID
	if !s.spec.take(c, s.m.id, key, 1) {
		return c.limitFlow(), nil
	}
	for i := range s.apis {
		a := &s.apis[i]
		if !a.matches(c.ID.APIName) {
			continue
		}
		if !a.spec.take(c, a.counter, key, 1) {
			return c.limitFlow(), nil
		}
		for j := range a.ops {
			o := &a.ops[j]
			if o.matches(c.ID.OperationName) && !o.spec.take(c, o.counter, key, 1) {
				return c.limitFlow(), nil
			}
		}
	}
	return flowNext, nil
}
