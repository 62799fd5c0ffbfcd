package policy

import (
	"sort"
	"strings"
)

// This file holds the collections of expressions (List<T>, arrays,
// Dictionary<K,V>, KeyValuePair) and LINQ over every enumerable value:
// string[], JArray, JObject (its properties), headers, lists, dictionaries.

// seq is a List<T>, T[] (other than string[] and byte[]) or a LINQ result.
type seq struct{ items []Value }

func (*seq) typeName() string { return "List" }
func (*seq) String() string   { return "System.Collections.Generic.List`1[System.Object]" }

func stringsList(a []string) *seq {
	s := &seq{items: make([]Value, len(a))}
	for i, x := range a {
		s.items[i] = str(x)
	}
	return s
}

// dictionary is a Dictionary<K,V> in insertion order.
type dictionary struct {
	keys, vals []Value
	fold       bool // StringComparer.OrdinalIgnoreCase
}

func (*dictionary) typeName() string { return "Dictionary" }
func (*dictionary) String() string {
	return "System.Collections.Generic.Dictionary`2[System.String,System.Object]"
}

func (d *dictionary) find(k Value) int {
	for i, x := range d.keys {
		if looseEqual(x, k) || d.fold && x.k == kString && k.k == kString && strings.EqualFold(x.s, k.s) {
			return i
		}
	}
	return -1
}

func (d *dictionary) put(k, v Value) {
	if i := d.find(k); i >= 0 {
		d.vals[i] = v
		return
	}
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
}

// keyValue is a KeyValuePair<K,V> (dictionary and header enumeration).
type keyValue struct{ k, v Value }

func (*keyValue) typeName() string  { return "KeyValuePair" }
func (kv *keyValue) String() string { return "[" + kv.k.String() + ", " + kv.v.String() + "]" }

// enumerators are the ways to enumerate values of a type (by registry name,
// bases included).
var enumerators = map[string]func(c *Context, v Value) ([]Value, error){}

// enumerate lists the items of an enumerable value.
func enumerate(c *Context, v Value) ([]Value, error) {
	switch v.k {
	case kNull:
		return nil, nullRef("enumeration")
	case kStrings:
		out := make([]Value, len(v.a))
		for i, s := range v.a {
			out[i] = str(s)
		}
		return out, nil
	case kString:
		out := make([]Value, 0, len(v.s))
		for _, r := range v.s {
			out = append(out, str(string(r)))
		}
		return out, nil
	case kObject:
		switch o := v.o.(type) {
		case *seq:
			return o.items, nil
		case *dictionary:
			out := make([]Value, len(o.keys))
			for i := range o.keys {
				out[i] = objValue(&keyValue{k: o.keys[i], v: o.vals[i]})
			}
			return out, nil
		case *byteArray:
			out := make([]Value, len(o.b))
			for i, b := range o.b {
				out[i] = IntValue(int64(b))
			}
			return out, nil
		}
		if f := findEnumerator(runtimeType(v)); f != nil {
			return f(c, v)
		}
	}
	return nil, evalErr("%s is not enumerable", runtimeType(v))
}

func findEnumerator(name string) func(c *Context, v Value) ([]Value, error) {
	if f, ok := enumerators[name]; ok {
		return f
	}
	if ti := types[name]; ti != nil {
		for _, b := range ti.bases {
			if f := findEnumerator(b); f != nil {
				return f
			}
		}
	}
	return nil
}

func callLambda(c *Context, f Value, args ...Value) (Value, error) {
	l, ok := f.o.(*lambda)
	if f.k != kObject || !ok {
		return Value{}, evalErr("expected a lambda (x => …), found %s", runtimeType(f))
	}
	return l.call(c, args...)
}

func predicate(c *Context, f Value, x Value) (bool, error) {
	r, err := callLambda(c, f, x)
	if err != nil {
		return false, err
	}
	if r.k != kBool {
		return false, evalErr("a predicate returned %s, not bool", runtimeType(r))
	}
	return r.b, nil
}

func seqValue(items []Value) Value { return objValue(&seq{items: items}) }

// compareValues orders values for OrderBy/Min/Max.
func compareValues(a, b Value) int {
	if jv, ok := jsonPrimitive(a); ok {
		a = jv
	}
	if jv, ok := jsonPrimitive(b); ok {
		b = jv
	}
	switch {
	case (a.k == kInt || a.k == kDouble) && (b.k == kInt || b.k == kDouble):
		x, y := a.float(), b.float()
		if a.k == kInt && b.k == kInt {
			x, y = float64(a.i), float64(b.i)
		}
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	case a.k == kNull && b.k == kNull:
		return 0
	case a.k == kNull:
		return -1
	case b.k == kNull:
		return 1
	}
	if t, ok := a.o.(dateTime); ok && a.k == kObject {
		if u, ok := b.o.(dateTime); ok {
			return t.t.Compare(u.t)
		}
	}
	return strings.Compare(a.String(), b.String())
}

func init() {
	en := regType("IEnumerable")
	for _, n := range []string{"List", "Dictionary", "string[]", "byte[]", "string"} {
		regType(n, "IEnumerable")
	}
	lin := func(name string, min, max int, t typ, fn func(c *Context, items []Value, a []Value) (Value, error)) {
		en.m(name, min, max, t, func(c *Context, v Value, a []Value, _ string) (Value, error) {
			items, err := enumerate(c, v)
			if err != nil {
				return Value{}, err
			}
			return fn(c, items, a)
		})
	}
	lin("Select", 1, 1, "IEnumerable", func(c *Context, items, a []Value) (Value, error) {
		out := make([]Value, len(items))
		l, isLambda := a[0].o.(*lambda)
		if a[0].k != kObject || !isLambda {
			return Value{}, evalErr("Select takes a lambda (x => …), found %s", runtimeType(a[0]))
		}
		for i, x := range items {
			var r Value
			var err error
			if len(l.slots) == 2 {
				r, err = l.call(c, x, IntValue(int64(i)))
			} else {
				r, err = l.call(c, x)
			}
			if err != nil {
				return Value{}, err
			}
			out[i] = r
		}
		return seqValue(out), c.charge(len(out) * 64)
	})
	lin("SelectMany", 1, 1, "IEnumerable", func(c *Context, items, a []Value) (Value, error) {
		var out []Value
		for _, x := range items {
			r, err := callLambda(c, a[0], x)
			if err != nil {
				return Value{}, err
			}
			sub, err := enumerate(c, r)
			if err != nil {
				return Value{}, err
			}
			out = append(out, sub...)
		}
		return seqValue(out), c.charge(len(out) * 64)
	})
	lin("Where", 1, 1, "IEnumerable", func(c *Context, items, a []Value) (Value, error) {
		var out []Value
		for _, x := range items {
			ok, err := predicate(c, a[0], x)
			if err != nil {
				return Value{}, err
			}
			if ok {
				out = append(out, x)
			}
		}
		return seqValue(out), nil
	})
	lin("Any", 0, 1, tyBool, func(c *Context, items, a []Value) (Value, error) {
		if len(a) == 0 {
			return BoolValue(len(items) > 0), nil
		}
		for _, x := range items {
			ok, err := predicate(c, a[0], x)
			if err != nil || ok {
				return BoolValue(ok), err
			}
		}
		return BoolValue(false), nil
	})
	lin("All", 1, 1, tyBool, func(c *Context, items, a []Value) (Value, error) {
		for _, x := range items {
			ok, err := predicate(c, a[0], x)
			if err != nil || !ok {
				return BoolValue(false), err
			}
		}
		return BoolValue(true), nil
	})
	pick := func(name string, last, orDefault, single bool) {
		lin(name, 0, 1, tyAny, func(c *Context, items, a []Value) (Value, error) {
			var found []Value
			for _, x := range items {
				if len(a) == 1 {
					ok, err := predicate(c, a[0], x)
					if err != nil {
						return Value{}, err
					}
					if !ok {
						continue
					}
				}
				found = append(found, x)
				if !last && !single {
					break
				}
			}
			if single && len(found) > 1 {
				return Value{}, &thrown{typ: "InvalidOperationException", msg: "Sequence contains more than one element"}
			}
			if len(found) == 0 {
				if orDefault {
					return Value{}, nil
				}
				return Value{}, &thrown{typ: "InvalidOperationException", msg: "Sequence contains no matching element"}
			}
			if last {
				return found[len(found)-1], nil
			}
			return found[0], nil
		})
	}
	pick("First", false, false, false)
	pick("FirstOrDefault", false, true, false)
	pick("Last", true, false, false)
	pick("LastOrDefault", true, true, false)
	pick("Single", false, false, true)
	pick("SingleOrDefault", false, true, true)
	en.m("Count", 0, 1, tyInt, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		items, err := enumerate(c, v)
		if err != nil {
			return Value{}, err
		}
		if len(a) == 0 {
			return IntValue(int64(len(items))), nil
		}
		n := 0
		for _, x := range items {
			ok, err := predicate(c, a[0], x)
			if err != nil {
				return Value{}, err
			}
			if ok {
				n++
			}
		}
		return IntValue(int64(n)), nil
	})
	lin("Contains", 1, 2, tyBool, func(c *Context, items, a []Value) (Value, error) {
		for _, x := range items {
			if looseEqual(x, a[0]) || len(a) == 2 && x.k == kString && a[0].k == kString && strings.EqualFold(x.s, a[0].s) {
				return BoolValue(true), nil
			}
		}
		return BoolValue(false), nil
	})
	order := func(name string, desc bool) {
		lin(name, 0, 1, "IEnumerable", func(c *Context, items, a []Value) (Value, error) {
			out := append([]Value(nil), items...)
			keys := make([]Value, len(out))
			for i, x := range out {
				keys[i] = x
				if len(a) == 1 {
					k, err := callLambda(c, a[0], x)
					if err != nil {
						return Value{}, err
					}
					keys[i] = k
				}
			}
			idx := make([]int, len(out))
			for i := range idx {
				idx[i] = i
			}
			sort.SliceStable(idx, func(i, j int) bool {
				r := compareValues(keys[idx[i]], keys[idx[j]])
				if desc {
					return r > 0
				}
				return r < 0
			})
			sorted := make([]Value, len(out))
			for i, k := range idx {
				sorted[i] = out[k]
			}
			return seqValue(sorted), nil
		})
	}
	order("OrderBy", false)
	order("OrderByDescending", true)
	order("ThenBy", false)
	lin("Reverse", 0, 0, "IEnumerable", func(c *Context, items, a []Value) (Value, error) {
		out := make([]Value, len(items))
		for i, x := range items {
			out[len(items)-1-i] = x
		}
		return seqValue(out), nil
	})
	lin("Skip", 1, 1, "IEnumerable", func(c *Context, items, a []Value) (Value, error) {
		n := int(a[0].i)
		if n > len(items) {
			n = len(items)
		}
		if n < 0 {
			n = 0
		}
		return seqValue(items[n:]), nil
	})
	lin("Take", 1, 1, "IEnumerable", func(c *Context, items, a []Value) (Value, error) {
		n := int(a[0].i)
		if n > len(items) {
			n = len(items)
		}
		if n < 0 {
			n = 0
		}
		return seqValue(items[:n]), nil
	})
	lin("Distinct", 0, 0, "IEnumerable", func(c *Context, items, a []Value) (Value, error) {
		var out []Value
	next:
		for _, x := range items {
			for _, y := range out {
				if looseEqual(x, y) {
					continue next
				}
			}
			out = append(out, x)
		}
		return seqValue(out), nil
	})
	lin("ToList", 0, 0, "List", func(c *Context, items, a []Value) (Value, error) {
		return seqValue(append([]Value(nil), items...)), nil
	})
	lin("ToArray", 0, 0, "List", func(c *Context, items, a []Value) (Value, error) {
		return seqValue(append([]Value(nil), items...)), nil
	})
	lin("Cast", 0, 0, "IEnumerable", func(c *Context, items, a []Value) (Value, error) { return seqValue(items), nil })
	lin("AsEnumerable", 0, 0, "IEnumerable", func(c *Context, items, a []Value) (Value, error) { return seqValue(items), nil })
	lin("ToDictionary", 1, 2, "Dictionary", func(c *Context, items, a []Value) (Value, error) {
		d := &dictionary{}
		for _, x := range items {
			k, err := callLambda(c, a[0], x)
			if err != nil {
				return Value{}, err
			}
			v := x
			if len(a) == 2 {
				if v, err = callLambda(c, a[1], x); err != nil {
					return Value{}, err
				}
			}
			if d.find(k) >= 0 {
				return Value{}, &thrown{typ: "ArgumentException", msg: "An item with the same key has already been added. Key: " + k.String()}
			}
			d.put(k, v)
		}
		return objValue(d), nil
	})
	lin("Aggregate", 1, 2, tyAny, func(c *Context, items, a []Value) (Value, error) {
		var acc Value
		f := a[0]
		rest := items
		if len(a) == 2 {
			acc, f = a[0], a[1]
		} else {
			if len(items) == 0 {
				return Value{}, &thrown{typ: "InvalidOperationException", msg: "Sequence contains no elements"}
			}
			acc, rest = items[0], items[1:]
		}
		for _, x := range rest {
			r, err := callLambda(c, f, acc, x)
			if err != nil {
				return Value{}, err
			}
			acc = r
		}
		return acc, nil
	})
	agg := func(name string) {
		lin(name, 0, 1, tyAny, func(c *Context, items, a []Value) (Value, error) {
			vals := items
			if len(a) == 1 {
				vals = make([]Value, len(items))
				for i, x := range items {
					r, err := callLambda(c, a[0], x)
					if err != nil {
						return Value{}, err
					}
					vals[i] = r
				}
			}
			if name == "Sum" {
				acc := IntValue(0)
				for _, v := range vals {
					r, err := arith(c, "+", acc, v)
					if err != nil {
						return Value{}, err
					}
					acc = r
				}
				return acc, nil
			}
			if len(vals) == 0 {
				return Value{}, &thrown{typ: "InvalidOperationException", msg: "Sequence contains no elements"}
			}
			best := vals[0]
			for _, v := range vals[1:] {
				r := compareValues(v, best)
				if name == "Min" && r < 0 || name == "Max" && r > 0 {
					best = v
				}
			}
			return best, nil
		})
	}
	agg("Sum")
	agg("Min")
	agg("Max")
	lin("ElementAt", 1, 1, tyAny, func(c *Context, items, a []Value) (Value, error) {
		if a[0].i < 0 || a[0].i >= int64(len(items)) {
			return Value{}, evalErr("index %d is outside the sequence of length %d", a[0].i, len(items))
		}
		return items[a[0].i], nil
	})
	lin("Concat", 1, 1, "IEnumerable", func(c *Context, items, a []Value) (Value, error) {
		more, err := enumerate(c, a[0])
		if err != nil {
			return Value{}, err
		}
		return seqValue(append(append([]Value(nil), items...), more...)), nil
	})

	// List<T>, T[]: indexer, Count/Length, Add, Remove, Insert, IndexOf.
	list := regType("List")
	list.ctor = &method{min: 0, max: 1, t: "List", fn: func(c *Context, _ Value, a []Value, _ string) (Value, error) {
		s := &seq{}
		if len(a) == 1 && a[0].k != kInt {
			items, err := enumerate(c, a[0])
			if err != nil {
				return Value{}, err
			}
			s.items = append(s.items, items...)
		}
		return objValue(s), nil
	}}
	list.index = func(c *Context, v, k Value) (Value, error) {
		s := v.o.(*seq)
		if k.k != kInt || k.i < 0 || k.i >= int64(len(s.items)) {
			return Value{}, evalErr("index %s is outside the list of length %d", k.String(), len(s.items))
		}
		return s.items[k.i], nil
	}
	list.indexT = tyAny
	list.setIndex = func(c *Context, v, k, x Value) error {
		s := v.o.(*seq)
		if k.k != kInt || k.i < 0 || k.i >= int64(len(s.items)) {
			return evalErr("index %s is outside the list of length %d", k.String(), len(s.items))
		}
		s.items[k.i] = x
		return nil
	}
	length := func(c *Context, v Value) (Value, error) { return IntValue(int64(len(v.o.(*seq).items))), nil }
	list.p("Count", tyInt, length)
	list.p("Length", tyInt, length)
	list.m("Add", 1, 1, tyVoid, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		s := v.o.(*seq)
		s.items = append(s.items, a[0])
		return Value{}, c.charge(32)
	})
	list.m("AddRange", 1, 1, tyVoid, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		items, err := enumerate(c, a[0])
		if err != nil {
			return Value{}, err
		}
		s := v.o.(*seq)
		s.items = append(s.items, items...)
		return Value{}, c.charge(32 * len(items))
	})
	list.m("Remove", 1, 1, tyBool, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		s := v.o.(*seq)
		for i, x := range s.items {
			if looseEqual(x, a[0]) {
				s.items = append(s.items[:i], s.items[i+1:]...)
				return BoolValue(true), nil
			}
		}
		return BoolValue(false), nil
	})
	list.m("Clear", 0, 0, tyVoid, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		v.o.(*seq).items = nil
		return Value{}, nil
	})
	list.m("IndexOf", 1, 1, tyInt, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		for i, x := range v.o.(*seq).items {
			if looseEqual(x, a[0]) {
				return IntValue(int64(i)), nil
			}
		}
		return IntValue(-1), nil
	})

	// string[] (Split's result).
	sa := regType("string[]")
	sa.index = func(c *Context, v, k Value) (Value, error) {
		if k.k != kInt {
			return Value{}, evalErr("index is %s, not int", runtimeType(k))
		}
		if k.i < 0 || k.i >= int64(len(v.a)) {
			return Value{}, evalErr("index %d is outside the array of length %d", k.i, len(v.a))
		}
		return str(v.a[k.i]), nil
	}
	sa.indexT = tyString
	sa.setIndex = func(c *Context, v, k, x Value) error {
		if k.k != kInt || k.i < 0 || k.i >= int64(len(v.a)) {
			return evalErr("index %s is outside the array of length %d", k.String(), len(v.a))
		}
		v.a[k.i] = x.String()
		return nil
	}
	sa.p("Length", tyInt, func(c *Context, v Value) (Value, error) { return IntValue(int64(len(v.a))), nil })

	// Dictionary<K,V>.
	d := regType("Dictionary")
	d.ctor = &method{min: 0, max: 1, t: "Dictionary", fn: func(c *Context, _ Value, a []Value, _ string) (Value, error) {
		dd := &dictionary{}
		if len(a) == 1 {
			if cmp, ok := a[0].o.(stringComparer); ok && a[0].k == kObject {
				dd.fold = bool(cmp)
			}
		}
		return objValue(dd), nil
	}}
	d.index = func(c *Context, v, k Value) (Value, error) {
		dd := v.o.(*dictionary)
		i := dd.find(k)
		if i < 0 {
			return Value{}, &thrown{typ: "KeyNotFoundException", msg: "The given key '" + k.String() + "' was not present in the dictionary."}
		}
		return dd.vals[i], nil
	}
	d.indexT = tyAny
	d.setIndex = func(c *Context, v, k, x Value) error {
		v.o.(*dictionary).put(k, x)
		return c.charge(64)
	}
	d.m("Add", 2, 2, tyVoid, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		dd := v.o.(*dictionary)
		if dd.find(a[0]) >= 0 {
			return Value{}, &thrown{typ: "ArgumentException", msg: "An item with the same key has already been added. Key: " + a[0].String()}
		}
		dd.put(a[0], a[1])
		return Value{}, c.charge(64)
	})
	d.m("ContainsKey", 1, 1, tyBool, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		return BoolValue(v.o.(*dictionary).find(a[0]) >= 0), nil
	})
	d.m("Remove", 1, 1, tyBool, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		dd := v.o.(*dictionary)
		i := dd.find(a[0])
		if i < 0 {
			return BoolValue(false), nil
		}
		dd.keys = append(dd.keys[:i], dd.keys[i+1:]...)
		dd.vals = append(dd.vals[:i], dd.vals[i+1:]...)
		return BoolValue(true), nil
	})
	d.m("TryGetValue", 2, 2, tyBool, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		dd := v.o.(*dictionary)
		i := dd.find(a[0])
		c.x.out = Value{}
		if i < 0 {
			return BoolValue(false), nil
		}
		c.x.out = dd.vals[i]
		return BoolValue(true), nil
	}).out = true
	d.m("GetValueOrDefault", 1, 2, tyAny, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		dd := v.o.(*dictionary)
		if i := dd.find(a[0]); i >= 0 {
			return dd.vals[i], nil
		}
		if len(a) == 2 {
			return a[1], nil
		}
		return Value{}, nil
	})
	d.p("Count", tyInt, func(c *Context, v Value) (Value, error) { return IntValue(int64(len(v.o.(*dictionary).keys))), nil })
	d.p("Keys", "List", func(c *Context, v Value) (Value, error) {
		return seqValue(append([]Value(nil), v.o.(*dictionary).keys...)), nil
	})
	d.p("Values", "List", func(c *Context, v Value) (Value, error) {
		return seqValue(append([]Value(nil), v.o.(*dictionary).vals...)), nil
	})
	kv := regType("KeyValuePair")
	kv.p("Key", tyAny, func(c *Context, v Value) (Value, error) { return v.o.(*keyValue).k, nil })
	kv.props["Value"] = &member{t: tyAny, get: func(c *Context, v Value) (Value, error) { return v.o.(*keyValue).v, nil }}
	regType("StringComparer").sp("OrdinalIgnoreCase", "StringComparer", func(c *Context) (Value, error) { return objValue(stringComparer(true)), nil }).
		sp("Ordinal", "StringComparer", func(c *Context) (Value, error) { return objValue(stringComparer(false)), nil }).
		sp("InvariantCultureIgnoreCase", "StringComparer", func(c *Context) (Value, error) { return objValue(stringComparer(true)), nil })
}

type stringComparer bool

func (stringComparer) typeName() string { return "StringComparer" }
func (stringComparer) String() string   { return "System.StringComparer" }
