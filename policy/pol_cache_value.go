package policy

import "time"

// cache-store-value, cache-lookup-value and cache-remove-value on the built-in
// value cache (ValueCache, in the State). APIM's attributes: key (required,
// expressions allowed), caching-type prefer-external (default) | external |
// internal — prefer-external and internal use the built-in cache; external
// needs an external cache this gateway does not have and is a compile error.
// cache-store-value: value (expressions allowed; the value keeps its type),
// duration in seconds (required, expressions allowed). cache-lookup-value:
// variable-name (required), default-value (stored in the variable on a miss;
// without it a miss leaves the variable unset, as APIM does).
func init() {
	register("cache-store-value", inAll, []string{"key", "value", "duration", "caching-type"}, compileCacheStore)
	register("cache-lookup-value", inAll, []string{"key", "variable-name", "default-value", "caching-type"}, compileCacheLookup)
	register("cache-remove-value", inAll, []string{"key", "caching-type"}, compileCacheRemove)
}

type cacheStore struct {
	key, value, duration prop
	ct                   cachingKind
}

func compileCacheStore(b *builder, n *Node) {
	b.noText(n)
	b.noChildren(n)
	m := b.meta(n)
	s := &cacheStore{key: b.attrProp(n, "key", true), value: b.attrProp(n, "value", true), duration: b.attrProp(n, "duration", true), ct: cachingType(b, n)}
	b.emit(instr{op: opStep, step: s, meta: m})
}

func (s *cacheStore) run(c *Context) (flow, error) {
	key, err := s.key.str(c)
	if err != nil {
		return flowNext, err
	}
	v, err := s.value.value(c)
	if err != nil {
		return flowNext, err
	}
	d, err := s.duration.integer(c)
	if err != nil {
		return flowNext, err
	}
	if d <= 0 {
		return flowNext, nil // nothing to keep
	}
	st := c.pipe.state
	ec, internal := st.pick(s.ct)
	if internal {
		st.cache.store(key, v, time.Duration(d)*time.Second, st.now())
		return flowNext, nil
	}
	if ec == nil {
		return flowNext, nil
	}
	b, err := encodeCached(v, time.Time{})
	if err != nil {
		return flowNext, err
	}
	extStore(st, ec, key, b, time.Duration(d)*time.Second)
	return flowNext, nil
}

type cacheLookup struct {
	key, def prop
	varName  string
	ct       cachingKind
}

func compileCacheLookup(b *builder, n *Node) {
	b.noText(n)
	b.noChildren(n)
	m := b.meta(n)
	s := &cacheLookup{key: b.attrProp(n, "key", true), def: b.attrProp(n, "default-value", false), varName: b.attrString(n, "variable-name", true, ""),
		ct: cachingType(b, n)}
	b.emit(instr{op: opStep, step: s, meta: m})
}

func (s *cacheLookup) run(c *Context) (flow, error) {
	st := c.pipe.state
	if c.calls.done && c.calls.phase == phaseCacheLookup {
		if b, ok := extLookupDone(c); ok {
			v, _, err := decodeCached(c, b)
			if err == nil {
				c.SetVariable(s.varName, v)
				return flowNext, nil
			}
			st.external.undecode.Add(1)
		}
		return s.miss(c)
	}
	key, err := s.key.str(c)
	if err != nil {
		return flowNext, err
	}
	ec, internal := st.pick(s.ct)
	if internal {
		if v, ok := st.cache.lookup(key, st.now()); ok {
			c.SetVariable(s.varName, v)
			return flowNext, nil
		}
		return s.miss(c)
	}
	if f, ok := extLookup(c, ec, key, "cache-lookup-value"); ok {
		return f, nil
	}
	return s.miss(c)
}

// miss sets the default value, if any.
func (s *cacheLookup) miss(c *Context) (flow, error) {
	if s.def.set {
		v, err := s.def.value(c)
		if err != nil {
			return flowNext, err
		}
		c.SetVariable(s.varName, v)
	}
	return flowNext, nil
}

type cacheRemove struct {
	key prop
	ct  cachingKind
}

func compileCacheRemove(b *builder, n *Node) {
	b.noText(n)
	b.noChildren(n)
	m := b.meta(n)
	b.emit(instr{op: opStep, step: &cacheRemove{key: b.attrProp(n, "key", true), ct: cachingType(b, n)}, meta: m})
}

func (s *cacheRemove) run(c *Context) (flow, error) {
	key, err := s.key.str(c)
	if err != nil {
		return flowNext, err
	}
	st := c.pipe.state
	if ec, internal := st.pick(s.ct); internal {
		st.cache.delete(key)
	} else {
		extRemove(st, ec, key)
	}
	return flowNext, nil
}
