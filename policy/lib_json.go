package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
)

// This file is the Newtonsoft.Json-shaped JSON model of expressions: JToken,
// JObject, JArray, JValue, JProperty, JsonConvert. Objects keep their
// property order; ToString() is indented like Newtonsoft's (two spaces,
// "name": value), ToString(Formatting.None) compact.

type jKind uint8

const (
	jValue jKind = iota
	jObject
	jArray
	jProperty
)

// jNode is a JSON token. A JValue holds a primitive Value (null, bool, int,
// double, string); a JObject holds JProperty nodes in props; a JArray holds
// items; a JProperty has name and one child in items[0].
type jNode struct {
	kind   jKind
	v      Value
	props  []*jNode
	items  []*jNode
	name   string
	parent *jNode
}

var jTypeNames = [...]string{"JValue", "JObject", "JArray", "JProperty"}

func (j *jNode) typeName() string { return jTypeNames[j.kind] }
func (j *jNode) String() string {
	if j.kind == jValue {
		if j.v.k == kBool {
			return j.v.String()
		}
		return j.v.String()
	}
	return j.render(true)
}

// formatting is Newtonsoft.Json.Formatting: true is Indented.
type formatting bool

func (f formatting) typeName() string { return "Formatting" }
func (f formatting) String() string {
	if f {
		return "Indented"
	}
	return "None"
}

func newJValue(v Value) *jNode { return &jNode{kind: jValue, v: v} }

// jsonPrimitive returns the primitive a JValue holds.
func jsonPrimitive(v Value) (Value, bool) {
	if v.k != kObject {
		return v, false
	}
	j, ok := v.o.(*jNode)
	if !ok || j.kind != jValue {
		return v, false
	}
	return j.v, true
}

// toJSON converts a value to a token for adding it to a container: tokens
// that already have a parent are copied, as Newtonsoft does.
func toJSON(c *Context, v Value) (*jNode, error) { return toJSONDepth(c, v, 0) }

func toJSONDepth(c *Context, v Value, depth int) (*jNode, error) {
	if depth > 128 {
		return nil, &thrown{typ: "JsonSerializationException", msg: "Self referencing loop detected (or nesting deeper than 128)."}
	}
	if err := c.tick(); err != nil {
		return nil, err
	}
	switch v.k {
	case kNull, kBool, kInt, kDouble, kString:
		if err := c.charge(len(v.s) + 16); err != nil {
			return nil, err
		}
		return newJValue(v), nil
	case kStrings:
		a := &jNode{kind: jArray}
		for _, s := range v.a {
			a.add(newJValue(str(s)))
		}
		return a, nil
	}
	switch o := v.o.(type) {
	case *jNode:
		if o.parent != nil {
			if err := c.charge(o.size()); err != nil {
				return nil, err
			}
			return o.clone(), nil
		}
		return o, nil
	case *seq:
		a := &jNode{kind: jArray}
		for _, it := range o.items {
			n, err := toJSONDepth(c, it, depth+1)
			if err != nil {
				return nil, err
			}
			a.add(n)
		}
		return a, nil
	case *dictionary:
		obj := &jNode{kind: jObject}
		for i, k := range o.keys {
			n, err := toJSONDepth(c, o.vals[i], depth+1)
			if err != nil {
				return nil, err
			}
			obj.set(k.String(), n)
		}
		return obj, nil
	case *byteArray:
		return newJValue(str(b64(o.b))), nil
	case dateTime:
		return newJValue(str(o.format("yyyy-MM-ddTHH:mm:ss.FFFFFFFK"))), nil
	case guidValue:
		return newJValue(str(string(o))), nil
	}
	return newJValue(str(v.String())), nil
}

// adopt returns n, or a copy of it when adding n under j would make a cycle
// (n is j or one of its ancestors).
func (j *jNode) adopt(n *jNode) *jNode {
	for p := j; p != nil; p = p.parent {
		if p == n {
			return n.clone()
		}
	}
	return n
}

// size is an upper bound of the token's indented rendering, computed without
// rendering it; it stops counting past the memory budget.
func (j *jNode) size() int {
	n := 16 + len(j.name) + len(j.v.s)*2
	for _, p := range j.props {
		n += p.size()
		if n > DefaultMemoryBudget {
			return n
		}
	}
	for _, it := range j.items {
		n += it.size()
		if n > DefaultMemoryBudget {
			return n
		}
	}
	return n
}

func (j *jNode) add(n *jNode) {
	n = j.adopt(n)
	n.parent = j
	j.items = append(j.items, n)
}

func (j *jNode) prop(name string) *jNode {
	for _, p := range j.props {
		if p.name == name {
			return p
		}
	}
	return nil
}

// set sets property name of an object to n (replacing its value in place).
func (j *jNode) set(name string, n *jNode) {
	n = j.adopt(n)
	if p := j.prop(name); p != nil {
		n.parent = p
		p.items[0] = n
		return
	}
	p := &jNode{kind: jProperty, name: name, parent: j}
	n.parent = p
	p.items = []*jNode{n}
	j.props = append(j.props, p)
}

func (j *jNode) remove(name string) bool {
	for i, p := range j.props {
		if p.name == name {
			j.props = append(j.props[:i], j.props[i+1:]...)
			p.parent = nil
			return true
		}
	}
	return false
}

func (j *jNode) clone() *jNode {
	n := &jNode{kind: j.kind, v: j.v, name: j.name}
	for _, p := range j.props {
		q := p.clone()
		q.parent = n
		n.props = append(n.props, q)
	}
	for _, it := range j.items {
		q := it.clone()
		q.parent = n
		n.items = append(n.items, q)
	}
	return n
}

// jval unwraps a property to its value.
func (j *jNode) jval() *jNode {
	if j.kind == jProperty {
		return j.items[0]
	}
	return j
}

// tokenValue is the expression value of a child token: C# null for a
// missing one.
func tokenValue(j *jNode) Value {
	if j == nil {
		return Value{}
	}
	return objValue(j)
}

// render writes JSON as Newtonsoft's ToString(Formatting) does.
func (j *jNode) render(indent bool) string {
	var b strings.Builder
	j.write(&b, indent, 0)
	return b.String()
}

func (j *jNode) write(b *strings.Builder, indent bool, depth int) {
	nl := func(d int) {
		if indent {
			b.WriteByte('\n')
			for i := 0; i < d; i++ {
				b.WriteString("  ")
			}
		}
	}
	switch j.kind {
	case jValue:
		writeJSONPrimitive(b, j.v)
	case jProperty:
		writeJSONString(b, j.name)
		b.WriteByte(':')
		if indent {
			b.WriteByte(' ')
		}
		j.items[0].write(b, indent, depth)
	case jObject:
		if len(j.props) == 0 {
			b.WriteString("{}")
			return
		}
		b.WriteByte('{')
		for i, p := range j.props {
			if i > 0 {
				b.WriteByte(',')
			}
			nl(depth + 1)
			p.write(b, indent, depth+1)
		}
		nl(depth)
		b.WriteByte('}')
	case jArray:
		if len(j.items) == 0 {
			b.WriteString("[]")
			return
		}
		b.WriteByte('[')
		for i, it := range j.items {
			if i > 0 {
				b.WriteByte(',')
			}
			nl(depth + 1)
			it.write(b, indent, depth+1)
		}
		nl(depth)
		b.WriteByte(']')
	}
}

func writeJSONPrimitive(b *strings.Builder, v Value) {
	switch v.k {
	case kNull:
		b.WriteString("null")
	case kBool:
		if v.b {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case kInt:
		b.WriteString(strconv.FormatInt(v.i, 10))
	case kDouble:
		f := v.float()
		switch {
		case math.IsNaN(f):
			b.WriteString(`"NaN"`)
		case math.IsInf(f, 0):
			b.WriteString(`"Infinity"`)
		default:
			s := strconv.FormatFloat(f, 'g', -1, 64)
			if !strings.ContainsAny(s, ".eE") {
				s += ".0"
			}
			b.WriteString(s)
		}
	default:
		writeJSONString(b, v.String())
	}
}

// writeJSONString escapes like Newtonsoft's default: quotes, backslashes and
// control characters only.
func writeJSONString(b *strings.Builder, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			if c < 0x20 {
				b.WriteString(`\u00`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&15])
				continue
			}
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}

// parseJSON parses text into a token tree (JObject.Parse, JToken.Parse).
func parseJSON(c *Context, s string) (*jNode, error) {
	if err := c.charge(len(s) * 4); err != nil {
		return nil, err
	}
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	n, err := parseJSONValue(d, 0)
	if err != nil {
		return nil, &thrown{typ: "JsonReaderException", msg: "invalid JSON: " + err.Error()}
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, &thrown{typ: "JsonReaderException", msg: "additional text found in JSON string after finishing deserializing object"}
	}
	return n, nil
}

func parseJSONValue(d *json.Decoder, depth int) (*jNode, error) {
	if depth > 256 {
		return nil, errors.New("JSON nested too deeply")
	}
	t, err := d.Token()
	if err != nil {
		return nil, err
	}
	switch x := t.(type) {
	case json.Delim:
		switch x {
		case '{':
			obj := &jNode{kind: jObject}
			for d.More() {
				kt, err := d.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				v, err := parseJSONValue(d, depth+1)
				if err != nil {
					return nil, err
				}
				obj.set(k, v)
			}
			if _, err := d.Token(); err != nil {
				return nil, err
			}
			return obj, nil
		case '[':
			arr := &jNode{kind: jArray}
			for d.More() {
				v, err := parseJSONValue(d, depth+1)
				if err != nil {
					return nil, err
				}
				arr.add(v)
			}
			if _, err := d.Token(); err != nil {
				return nil, err
			}
			return arr, nil
		}
		return nil, errors.New("unexpected delimiter")
	case json.Number:
		s := x.String()
		if !strings.ContainsAny(s, ".eE") {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				return newJValue(IntValue(n)), nil
			}
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, err
		}
		return newJValue(doubleValue(f)), nil
	case string:
		return newJValue(str(x)), nil
	case bool:
		return newJValue(BoolValue(x)), nil
	case nil:
		return newJValue(Value{}), nil
	}
	return nil, errors.New("unexpected token")
}

// jsonToValue converts a token for Value<T>() / ToObject<T>() / casts.
func jsonConvert(j *jNode, t typ) (Value, error) {
	if j == nil {
		return zeroOf(t), nil
	}
	switch t {
	case tyAny, "JToken":
		return objValue(j), nil
	case "JObject", "JArray", "JValue", "JProperty":
		if j.typeName() != string(t) {
			return Value{}, evalErr("cannot convert %s to %s", j.typeName(), t)
		}
		return objValue(j), nil
	case tyString:
		if j.kind == jValue {
			if j.v.k == kNull {
				return Value{}, nil
			}
			return str(j.v.String()), nil
		}
		return str(j.render(true)), nil
	case tyInt, tyDouble, tyBool:
		if j.kind != jValue {
			return Value{}, evalErr("cannot convert %s to %s", j.typeName(), t)
		}
		v := j.v
		if v.k == kString {
			switch t {
			case tyInt:
				n, err := strconv.ParseInt(strings.TrimSpace(v.s), 10, 64)
				if err != nil {
					return Value{}, evalErr("could not convert string %q to int", v.s)
				}
				return IntValue(n), nil
			case tyDouble:
				f, err := strconv.ParseFloat(strings.TrimSpace(v.s), 64)
				if err != nil {
					return Value{}, evalErr("could not convert string %q to double", v.s)
				}
				return doubleValue(f), nil
			case tyBool:
				b, err := strconv.ParseBool(strings.TrimSpace(v.s))
				if err != nil {
					return Value{}, evalErr("could not convert string %q to bool", v.s)
				}
				return BoolValue(b), nil
			}
		}
		return castTo(v, t)
	case tyStrings, "List":
		if j.kind != jArray {
			return Value{}, evalErr("cannot convert %s to %s", j.typeName(), t)
		}
		if t == tyStrings {
			out := make([]string, len(j.items))
			for i, it := range j.items {
				out[i] = it.String()
			}
			return Value{k: kStrings, a: out}, nil
		}
		out := make([]Value, len(j.items))
		for i, it := range j.items {
			out[i] = tokenValue(it)
		}
		return objValue(&seq{items: out}), nil
	case "DateTime":
		if j.kind == jValue && j.v.k == kString {
			return parseDateTime(j.v.s, false)
		}
	case "Dictionary":
		if j.kind == jObject {
			d := &dictionary{}
			for _, p := range j.props {
				d.put(str(p.name), tokenValue(p.items[0]))
			}
			return objValue(d), nil
		}
	}
	return Value{}, evalErr("cannot convert %s to %s", j.typeName(), t)
}

// selectToken evaluates the JSONPath subset Newtonsoft's SelectToken takes
// most often: $, .name, ['name'], [index].
func selectToken(j *jNode, path string) (*jNode, error) {
	p := strings.TrimPrefix(strings.TrimSpace(path), "$")
	cur := j
	for p != "" {
		if cur == nil {
			return nil, nil
		}
		switch {
		case p[0] == '.':
			p = p[1:]
			continue
		case p[0] == '[':
			end := strings.IndexByte(p, ']')
			if end < 0 {
				return nil, evalErr("SelectToken: unterminated [ in %q", path)
			}
			in := strings.TrimSpace(p[1:end])
			p = p[end+1:]
			if len(in) >= 2 && (in[0] == '\'' || in[0] == '"') {
				cur = child(cur, in[1:len(in)-1])
				continue
			}
			i, err := strconv.Atoi(in)
			if err != nil {
				return nil, evalErr("SelectToken: %q is not supported (names, ['name'] and [index] are)", path)
			}
			cur = cur.jval()
			if cur.kind != jArray || i < 0 || i >= len(cur.items) {
				return nil, nil
			}
			cur = cur.items[i]
		default:
			end := strings.IndexAny(p, ".[")
			if end < 0 {
				end = len(p)
			}
			name := p[:end]
			if name == "*" || strings.HasPrefix(name, "?") {
				return nil, evalErr("SelectToken: %q is not supported (names, ['name'] and [index] are)", path)
			}
			cur = child(cur, name)
			p = p[end:]
		}
	}
	return cur, nil
}

func child(j *jNode, name string) *jNode {
	j = j.jval()
	if j.kind != jObject {
		return nil
	}
	if p := j.prop(name); p != nil {
		return p.items[0]
	}
	return nil
}

func jnode(v Value) *jNode { return v.o.(*jNode) }

func jsonIndex(c *Context, v, k Value) (Value, error) {
	j := jnode(v).jval()
	switch j.kind {
	case jObject:
		if k.k != kString {
			return Value{}, evalErr("a JObject is indexed by property name, not %s", runtimeType(k))
		}
		return tokenValue(child(j, k.s)), nil
	case jArray:
		if k.k != kInt {
			return Value{}, evalErr("a JArray is indexed by int, not %s", runtimeType(k))
		}
		if k.i < 0 || k.i >= int64(len(j.items)) {
			return Value{}, evalErr("index %d is outside the array of length %d", k.i, len(j.items))
		}
		return objValue(j.items[k.i]), nil
	}
	return Value{}, evalErr("cannot access child value on %s", j.typeName())
}

func jsonSetIndex(c *Context, v, k, x Value) error {
	j := jnode(v).jval()
	n, err := toJSON(c, x)
	if err != nil {
		return err
	}
	switch j.kind {
	case jObject:
		if k.k != kString {
			return evalErr("a JObject is indexed by property name, not %s", runtimeType(k))
		}
		j.set(k.s, n)
		return nil
	case jArray:
		if k.k != kInt || k.i < 0 || k.i >= int64(len(j.items)) {
			return evalErr("index %s is outside the array of length %d", k.String(), len(j.items))
		}
		n = j.adopt(n)
		n.parent = j
		j.items[k.i] = n
		return nil
	}
	return evalErr("cannot set child value on %s", j.typeName())
}

// jsonAdd implements JObject.Add / JArray.Add / new JObject(content…).
func jsonAdd(c *Context, j *jNode, a []Value) error {
	switch j.kind {
	case jObject:
		if len(a) == 2 && a[0].k == kString {
			if j.prop(a[0].s) != nil {
				return &thrown{typ: "ArgumentException", msg: "Can not add property " + a[0].s + " to Newtonsoft.Json.Linq.JObject. Property with the same name already exists on object."}
			}
			n, err := toJSON(c, a[1])
			if err != nil {
				return err
			}
			j.set(a[0].s, n)
			return nil
		}
		for _, x := range a {
			if x.k == kNull {
				continue
			}
			if err := jsonAddContent(c, j, x); err != nil {
				return err
			}
		}
		return nil
	case jArray:
		for _, x := range a {
			n, err := toJSON(c, x)
			if err != nil {
				return err
			}
			j.add(n)
		}
		return nil
	}
	return evalErr("cannot add to %s", j.typeName())
}

func jsonAddContent(c *Context, j *jNode, x Value) error {
	if o, ok := x.o.(*jNode); ok && x.k == kObject {
		switch o.kind {
		case jProperty:
			if o.parent != nil {
				o = o.clone()
			}
			o = j.adopt(o)
			if j.prop(o.name) != nil {
				return &thrown{typ: "ArgumentException", msg: "Can not add property " + o.name + " to Newtonsoft.Json.Linq.JObject. Property with the same name already exists on object."}
			}
			o.parent = j
			j.props = append(j.props, o)
			return nil
		case jObject:
			for _, p := range o.props {
				q := p.clone()
				q.parent = j
				j.props = append(j.props, q)
			}
			return nil
		}
	}
	if x.k == kObject {
		if _, isTok := x.o.(*jNode); !isTok {
			// An enumerable of properties (Properties(), a List<JProperty>).
			items, err := enumerate(c, x)
			if err == nil {
				for _, it := range items {
					if p, ok := it.o.(*jNode); it.k != kObject || !ok || p.kind != jProperty {
						return &thrown{typ: "ArgumentException", msg: "Can not add " + runtimeType(it) + " to Newtonsoft.Json.Linq.JObject."}
					}
					if err := jsonAddContent(c, j, it); err != nil {
						return err
					}
				}
				return nil
			}
		}
	}
	return &thrown{typ: "ArgumentException", msg: "Can not add " + runtimeType(x) + " to Newtonsoft.Json.Linq.JObject."}
}

func serializeObject(c *Context, v Value, indent bool) (string, error) {
	n, err := toJSON(c, v)
	if err != nil {
		return "", err
	}
	if err := c.charge(n.size()); err != nil {
		return "", err
	}
	return n.render(indent), nil
}

func init() {
	tok := regType("JToken", "IEnumerable")
	regType("JContainer", "JToken")
	regType("JObject", "JToken")
	regType("JArray", "JToken")
	regType("JValue", "JToken")
	regType("JProperty", "JToken")
	regType("Formatting").sp("None", "Formatting", func(c *Context) (Value, error) { return objValue(formatting(false)), nil }).
		sp("Indented", "Formatting", func(c *Context) (Value, error) { return objValue(formatting(true)), nil })

	tok.index = jsonIndex
	tok.indexT = "JToken"
	tok.setIndex = jsonSetIndex
	for _, n := range []string{"JObject", "JArray", "JValue", "JProperty"} {
		types[n].index, types[n].indexT, types[n].setIndex = jsonIndex, "JToken", jsonSetIndex
	}

	valueT := func(targ string, _ []typ) typ {
		if targ == "" {
			return "JToken"
		}
		return normType(targ)
	}
	tok.m("Value", 0, 1, tyAny, func(c *Context, v Value, a []Value, targ string) (Value, error) {
		j := jnode(v)
		if len(a) == 1 {
			r, err := jsonIndex(c, v, a[0])
			if err != nil {
				return Value{}, err
			}
			if r.k == kNull {
				return zeroOf(normType(targ)), nil
			}
			j = jnode(r)
		}
		return jsonConvert(j.jval(), normType(targ))
	}, "key").ret = valueT
	tok.m("ToObject", 0, 0, tyAny, func(c *Context, v Value, a []Value, targ string) (Value, error) {
		return jsonConvert(jnode(v).jval(), normType(targ))
	}).ret = valueT
	tok.m("SelectToken", 1, 2, "JToken", func(c *Context, v Value, a []Value, _ string) (Value, error) {
		r, err := selectToken(jnode(v), a[0].String())
		if err != nil {
			return Value{}, err
		}
		if r == nil && len(a) == 2 && a[1].k == kBool && a[1].b {
			return Value{}, &thrown{typ: "JsonException", msg: "Path '" + a[0].String() + "' does not exist."}
		}
		return tokenValue(r), nil
	}, "path", "errorWhenNoMatch")
	tok.m("Children", 0, 0, "IEnumerable", func(c *Context, v Value, a []Value, _ string) (Value, error) {
		items, err := enumerate(c, v)
		return objValue(&seq{items: items}), err
	})
	tok.m("DeepClone", 0, 0, "JToken", func(c *Context, v Value, a []Value, _ string) (Value, error) {
		if err := c.charge(jnode(v).size()); err != nil {
			return Value{}, err
		}
		return objValue(jnode(v).clone()), nil
	})
	tok.m("Remove", 0, 1, tyAny, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		j := jnode(v)
		if len(a) == 1 {
			switch j.kind {
			case jObject:
				return BoolValue(j.remove(a[0].String())), nil
			case jArray:
				for i, it := range j.items {
					if o, ok := a[0].o.(*jNode); ok && it == o {
						j.items = append(j.items[:i], j.items[i+1:]...)
						return BoolValue(true), nil
					}
				}
				return BoolValue(false), nil
			}
			return Value{}, evalErr("Remove(x) is not defined on %s", j.typeName())
		}
		p := j.parent
		if p == nil {
			return Value{}, &thrown{typ: "InvalidOperationException", msg: "The parent is missing."}
		}
		switch p.kind {
		case jObject:
			p.remove(j.name)
		case jArray:
			for i, it := range p.items {
				if it == j {
					p.items = append(p.items[:i], p.items[i+1:]...)
					break
				}
			}
		case jProperty:
			if pp := p.parent; pp != nil && pp.kind == jObject {
				pp.remove(p.name)
			}
		}
		j.parent = nil
		return Value{}, nil
	}, "propertyName")
	tok.m("Add", 1, 2, tyVoid, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		return Value{}, jsonAdd(c, jnode(v), a)
	}, "propertyName", "value")
	tok.m("ContainsKey", 1, 1, tyBool, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		j := jnode(v).jval()
		return BoolValue(j.kind == jObject && j.prop(a[0].String()) != nil), nil
	}, "propertyName")
	tok.m("TryGetValue", 2, 2, tyBool, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		j := jnode(v).jval()
		c.x.out = Value{}
		if j.kind == jObject {
			if p := j.prop(a[0].String()); p != nil {
				c.x.out = objValue(p.items[0])
				return BoolValue(true), nil
			}
		}
		return BoolValue(false), nil
	}, "propertyName", "value").out = true
	tok.m("GetValue", 1, 2, "JToken", func(c *Context, v Value, a []Value, _ string) (Value, error) {
		j := jnode(v).jval()
		if j.kind != jObject {
			return Value{}, nil
		}
		name := a[0].String()
		for _, p := range j.props {
			if p.name == name || len(a) == 2 && strings.EqualFold(p.name, name) {
				return objValue(p.items[0]), nil
			}
		}
		return Value{}, nil
	}, "propertyName", "comparison")
	tok.m("Properties", 0, 0, "IEnumerable", func(c *Context, v Value, a []Value, _ string) (Value, error) {
		j := jnode(v).jval()
		out := make([]Value, len(j.props))
		for i, p := range j.props {
			out[i] = objValue(p)
		}
		return objValue(&seq{items: out}), nil
	})
	tok.m("Property", 1, 1, "JProperty", func(c *Context, v Value, a []Value, _ string) (Value, error) {
		j := jnode(v).jval()
		if j.kind != jObject {
			return Value{}, nil
		}
		p := j.prop(a[0].String())
		if p == nil {
			return Value{}, nil
		}
		return objValue(p), nil
	})
	tok.m("Merge", 1, 2, tyVoid, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		j := jnode(v).jval()
		o, ok := a[0].o.(*jNode)
		if !ok || j.kind != jObject || o.kind != jObject {
			return Value{}, evalErr("Merge takes two JObjects")
		}
		if err := c.charge(o.size()); err != nil {
			return Value{}, err
		}
		for _, p := range o.props {
			j.set(p.name, p.items[0].clone())
		}
		return Value{}, nil
	})
	tok.m("RemoveAt", 1, 1, tyVoid, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		j := jnode(v)
		if j.kind != jArray || a[0].k != kInt || a[0].i < 0 || a[0].i >= int64(len(j.items)) {
			return Value{}, evalErr("RemoveAt: index out of range")
		}
		j.items = append(j.items[:a[0].i], j.items[a[0].i+1:]...)
		return Value{}, nil
	})
	tok.m("Insert", 2, 2, tyVoid, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		j := jnode(v)
		if j.kind != jArray || a[0].k != kInt || a[0].i < 0 || a[0].i > int64(len(j.items)) {
			return Value{}, evalErr("Insert: index out of range")
		}
		n, err := toJSON(c, a[1])
		if err != nil {
			return Value{}, err
		}
		n = j.adopt(n)
		n.parent = j
		j.items = append(j.items[:a[0].i], append([]*jNode{n}, j.items[a[0].i:]...)...)
		return Value{}, nil
	})
	tok.p("Count", tyInt, func(c *Context, v Value) (Value, error) {
		j := jnode(v).jval()
		if j.kind == jObject {
			return IntValue(int64(len(j.props))), nil
		}
		return IntValue(int64(len(j.items))), nil
	})
	tok.p("HasValues", tyBool, func(c *Context, v Value) (Value, error) {
		j := jnode(v).jval()
		return BoolValue(len(j.props) > 0 || len(j.items) > 0), nil
	})
	tok.p("Parent", "JToken", func(c *Context, v Value) (Value, error) { return tokenValue(jnode(v).parent), nil })
	tok.p("Type", "JTokenType", func(c *Context, v Value) (Value, error) { return objValue(jTokenType(jnode(v))), nil })
	tok.p("Name", tyString, func(c *Context, v Value) (Value, error) {
		j := jnode(v)
		if j.kind != jProperty {
			return Value{}, evalErr("Name is defined on JProperty, not %s", j.typeName())
		}
		return str(j.name), nil
	})
	types["JToken"].props["Value"] = &member{t: "JToken", get: func(c *Context, v Value) (Value, error) {
		j := jnode(v)
		if j.kind == jProperty {
			return objValue(j.items[0]), nil
		}
		if j.kind == jValue {
			return j.v, nil
		}
		return Value{}, evalErr("Value is defined on JProperty and JValue, not %s", j.typeName())
	}, set: func(c *Context, v, x Value) error {
		j := jnode(v)
		n, err := toJSON(c, x)
		if err != nil {
			return err
		}
		switch j.kind {
		case jProperty:
			n = j.adopt(n)
			n.parent = j
			j.items[0] = n
			return nil
		case jValue:
			if n.kind != jValue {
				return evalErr("a JValue holds a primitive")
			}
			j.v = n.v
			return nil
		}
		return evalErr("Value cannot be set on %s", j.typeName())
	}}
	anyProp["Value"] = true
	tok.p("First", "JToken", func(c *Context, v Value) (Value, error) {
		items, _ := enumerate(c, v)
		if len(items) == 0 {
			return Value{}, nil
		}
		return items[0], nil
	})
	tok.p("Last", "JToken", func(c *Context, v Value) (Value, error) {
		items, _ := enumerate(c, v)
		if len(items) == 0 {
			return Value{}, nil
		}
		return items[len(items)-1], nil
	})
	tok.p("Path", tyString, func(c *Context, v Value) (Value, error) { return str(jsonPath(jnode(v))), nil })
	tok.p("Root", "JToken", func(c *Context, v Value) (Value, error) {
		j := jnode(v)
		for j.parent != nil {
			j = j.parent
		}
		return objValue(j), nil
	})
	enumerators["JToken"] = func(c *Context, v Value) ([]Value, error) {
		j := jnode(v).jval()
		switch j.kind {
		case jObject:
			out := make([]Value, len(j.props))
			for i, p := range j.props {
				out[i] = objValue(p)
			}
			return out, nil
		case jArray:
			out := make([]Value, len(j.items))
			for i, it := range j.items {
				out[i] = objValue(it)
			}
			return out, nil
		}
		return nil, evalErr("cannot enumerate %s", j.typeName())
	}
	regType("JTokenType")
	for _, n := range []string{"Object", "Array", "String", "Integer", "Float", "Boolean", "Null", "Property", "Date", "None"} {
		name := n
		types["JTokenType"].sp(name, "JTokenType", func(c *Context) (Value, error) { return objValue(jTokenTypeValue(name)), nil })
	}

	parse := func(kind string) func(c *Context, a []Value, _ string) (Value, error) {
		return func(c *Context, a []Value, _ string) (Value, error) {
			if a[0].k != kString {
				return Value{}, evalErr("%s.Parse takes a string, found %s", kind, runtimeType(a[0]))
			}
			j, err := parseJSON(c, a[0].s)
			if err != nil {
				return Value{}, err
			}
			if kind != "JToken" && j.typeName() != kind {
				return Value{}, &thrown{typ: "JsonReaderException", msg: "Error reading " + kind + " from JsonReader. Current JsonReader item is not an " + strings.TrimPrefix(kind, "J") + "."}
			}
			return objValue(j), nil
		}
	}
	for _, k := range []string{"JObject", "JArray", "JToken"} {
		types[k].sm("Parse", 1, 1, typ(k), parse(k), "json")
		types[k].sm("FromObject", 1, 1, typ(k), func(c *Context, a []Value, _ string) (Value, error) {
			n, err := toJSON(c, a[0])
			if err != nil {
				return Value{}, err
			}
			return objValue(n.clone()), nil
		})
	}
	types["JObject"].ctor = &method{min: 0, max: -1, t: "JObject", fn: func(c *Context, _ Value, a []Value, _ string) (Value, error) {
		j := &jNode{kind: jObject}
		for _, x := range filterNull(a) {
			if err := jsonAddContent(c, j, x); err != nil {
				return Value{}, err
			}
		}
		return objValue(j), nil
	}}
	types["JArray"].ctor = &method{min: 0, max: -1, t: "JArray", fn: func(c *Context, _ Value, a []Value, _ string) (Value, error) {
		j := &jNode{kind: jArray}
		for _, x := range a {
			if o, ok := x.o.(*jNode); x.k == kObject && (!ok || o.kind == jArray) {
				if items, err := enumerate(c, x); err == nil {
					for _, it := range items {
						n, err := toJSON(c, it)
						if err != nil {
							return Value{}, err
						}
						j.add(n)
					}
					continue
				}
			}
			if x.k == kStrings {
				for _, s := range x.a {
					j.add(newJValue(str(s)))
				}
				continue
			}
			n, err := toJSON(c, x)
			if err != nil {
				return Value{}, err
			}
			j.add(n)
		}
		return objValue(j), nil
	}}
	types["JProperty"].ctor = &method{min: 2, max: 2, t: "JProperty", params: []string{"name", "content"}, fn: func(c *Context, _ Value, a []Value, _ string) (Value, error) {
		if a[0].k != kString {
			return Value{}, evalErr("new JProperty: the name is %s, not string", runtimeType(a[0]))
		}
		n, err := toJSON(c, a[1])
		if err != nil {
			return Value{}, err
		}
		p := &jNode{kind: jProperty, name: a[0].s, items: []*jNode{n}}
		n.parent = p
		return objValue(p), nil
	}}
	types["JValue"].ctor = &method{min: 1, max: 1, t: "JValue", fn: func(c *Context, _ Value, a []Value, _ string) (Value, error) {
		n, err := toJSON(c, a[0])
		if err != nil {
			return Value{}, err
		}
		return objValue(n), nil
	}}
	types["JValue"].sm("CreateNull", 0, 0, "JValue", func(c *Context, a []Value, _ string) (Value, error) {
		return objValue(newJValue(Value{})), nil
	})
	types["JValue"].sm("CreateString", 1, 1, "JValue", func(c *Context, a []Value, _ string) (Value, error) {
		return objValue(newJValue(a[0])), nil
	})

	jc := regType("JsonConvert")
	jc.sm("SerializeObject", 1, 2, tyString, func(c *Context, a []Value, _ string) (Value, error) {
		indent := false
		if len(a) == 2 {
			if f, ok := a[1].o.(formatting); ok {
				indent = bool(f)
			}
		}
		if a[0].k == kNull {
			return str("null"), nil
		}
		s, err := serializeObject(c, a[0], indent)
		return str(s), err
	}, "value", "formatting")
	jc.sm("DeserializeObject", 1, 1, tyAny, func(c *Context, a []Value, targ string) (Value, error) {
		if a[0].k != kString {
			return Value{}, evalErr("DeserializeObject takes a string")
		}
		j, err := parseJSON(c, a[0].s)
		if err != nil {
			return Value{}, err
		}
		if targ == "" {
			return objValue(j), nil
		}
		return jsonConvert(j, normType(targ))
	}, "value").ret = func(targ string, _ []typ) typ {
		if targ == "" {
			return "JToken"
		}
		return normType(targ)
	}
}

func filterNull(a []Value) []Value {
	out := a[:0:0]
	for _, v := range a {
		if v.k != kNull {
			out = append(out, v)
		}
	}
	return out
}

type jTokenTypeValue string

func (t jTokenTypeValue) typeName() string { return "JTokenType" }
func (t jTokenTypeValue) String() string   { return string(t) }

func jTokenType(j *jNode) jTokenTypeValue {
	switch j.kind {
	case jObject:
		return "Object"
	case jArray:
		return "Array"
	case jProperty:
		return "Property"
	}
	switch j.v.k {
	case kNull:
		return "Null"
	case kBool:
		return "Boolean"
	case kInt:
		return "Integer"
	case kDouble:
		return "Float"
	}
	return "String"
}

func jsonPath(j *jNode) string {
	var parts []string
	for j != nil && j.parent != nil {
		p := j.parent
		switch p.kind {
		case jProperty:
			parts = append([]string{p.name}, parts...)
			j = p.parent
			continue
		case jArray:
			for i, it := range p.items {
				if it == j {
					if len(parts) > 0 {
						parts[0] = "[" + strconv.Itoa(i) + "]." + parts[0]
					} else {
						parts = []string{"[" + strconv.Itoa(i) + "]"}
					}
				}
			}
		case jObject:
			parts = append([]string{j.name}, parts...)
		}
		j = p
	}
	return strings.ReplaceAll(strings.Join(parts, "."), ".[", "[")
}

// bodyBytes returns a message body's bytes for As<T>(); consume drops the
// body afterwards, as APIM does without preserveContent: true.
func bodyBytes(c *Context, v Value, consume bool) ([]byte, error) {
	switch o := v.o.(type) {
	case *reqBody:
		cc := (*Context)(o)
		if !cc.Request.Buffered && cc.Request.Body == nil {
			return nil, evalErr("the request body is not available (it was not buffered for this request)")
		}
		b := cc.Request.Body
		if consume {
			cc.Request.Body = []byte{}
		}
		return b, nil
	case *respBody:
		cc := (*Context)(o)
		b := cc.Response.Body
		if consume {
			cc.Response.Body, cc.Response.BodySet = []byte{}, true
		}
		return b, nil
	case *respValBody:
		return o.Body, nil
	}
	return nil, evalErr("not a message body")
}

func registerBody() {
	b := regType("IMessageBody")
	as := b.m("As", 0, 1, tyAny, func(c *Context, v Value, a []Value, targ string) (Value, error) {
		preserve := len(a) == 1 && a[0].k == kBool && a[0].b
		raw, err := bodyBytes(c, v, !preserve)
		if err != nil {
			return Value{}, err
		}
		t := normType(targ)
		n := len(raw)
		if t == "byte[]" || (t == tyString && n >= bodyViewMin) {
			n = 0 // a view of the body's bytes, not a copy (bodyString)
		}
		c.x.mem += len(raw) - n // the evaluation's own budget counts it all
		if err := c.charge(n); err != nil {
			return Value{}, err
		}
		return bodyAs(c, raw, t)
	}, "preserveContent")
	as.ret = func(targ string, _ []typ) typ { return normType(targ) }
	as.check = func(args []typ, targ string) string {
		switch normType(targ) {
		case tyString, "JObject", "JArray", "JToken", "XDocument", "XElement", "byte[]", "XmlDocument":
			return ""
		}
		return "As<" + targ + ">: T must be string, byte[], JObject, JArray, JToken, XDocument or XElement"
	}
	b.m("AsFormUrlEncodedContent", 0, 1, "Dictionary", func(c *Context, v Value, a []Value, _ string) (Value, error) {
		preserve := len(a) == 1 && a[0].k == kBool && a[0].b
		raw, err := bodyBytes(c, v, !preserve)
		if err != nil {
			return Value{}, err
		}
		var ps Params
		ParseQuery(string(raw), &ps)
		d := &dictionary{}
		for _, p := range ps.List {
			if i := d.find(str(p.Name)); i >= 0 {
				d.vals[i].o.(*seq).items = append(d.vals[i].o.(*seq).items, str(p.Value))
				continue
			}
			d.put(str(p.Name), objValue(&seq{items: []Value{str(p.Value)}}))
		}
		return objValue(d), nil
	}, "preserveContent")
}

// bodyAs converts body bytes to T. An empty body is null for the parsed
// types, as in APIM (a consumed body reads as empty).
func bodyAs(c *Context, raw []byte, t typ) (Value, error) {
	raw = bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))
	switch t {
	case tyString:
		return str(bodyString(raw)), nil
	case "byte[]":
		return objValue(&byteArray{b: raw}), nil
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return Value{}, nil
	}
	switch t {
	case "JObject", "JArray", "JToken":
		j, err := parseJSON(c, string(raw))
		if err != nil {
			return Value{}, err
		}
		if t != "JToken" && j.typeName() != string(t) {
			return Value{}, &thrown{typ: "JsonReaderException", msg: "the body is a " + j.typeName() + ", not a " + string(t)}
		}
		return objValue(j), nil
	case "XDocument", "XElement", "XmlDocument":
		d, err := parseXML(c, string(raw))
		if err != nil {
			return Value{}, err
		}
		switch t {
		case "XElement":
			return objValue(d.root()), nil
		case "XmlDocument":
			return objValue(&xmlDocument{doc: d}), nil
		}
		return objValue(d), nil
	}
	return Value{}, evalErr("As<%s> is not supported", t)
}
