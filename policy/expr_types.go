package policy

import (
	"math"
	"strconv"
	"strings"
)

// This file is the run-time type system of the expression language: the
// registry of .NET types the library implements (their properties, methods,
// static members, constructors and indexers), conversions and operators.

// object is a non-primitive run-time value (JObject, DateTime, byte[]…). Its
// implementations are pointers or comparable structs, so == on them is safe.
type object interface {
	typeName() string
	String() string
}

// chargeString charges the rendering of an object before it is rendered
// (a JSON tree referencing one large string many times renders large).
func chargeString(c *Context, v Value) error {
	if j, ok := v.o.(*jNode); ok && v.k == kObject {
		return c.charge(j.size())
	}
	return nil
}

// DefaultMemoryBudget bounds the bytes one evaluation may build (strings,
// JSON, arrays); exceeding it fails the request like the step budget.
const DefaultMemoryBudget = 64 << 20

// exprState is the per-Context scratch space of expression evaluation, reused
// across requests: locals, the argument stack, the out-argument register and
// the memory charged so far.
type exprState struct {
	loc   []Value
	stack []Value
	out   Value
	mem   int
}

// charge counts n bytes against the evaluation's memory budget and the
// gateway-wide one (Context.Memory, chargeBody).
func (c *Context) charge(n int) error {
	c.x.mem += n
	if c.x.mem > DefaultMemoryBudget {
		return ErrBudget
	}
	return c.chargeBody(n)
}

// member is a property: get reads it from a receiver (the zero Value for
// static properties).
type member struct {
	t   typ
	get func(c *Context, recv Value) (Value, error)
	set func(c *Context, recv, v Value) error
}

// method is a method or constructor. a holds the arguments (missing named
// ones are missingArg); targ is the generic type argument ("" if none).
type method struct {
	min, max int // max -1: variadic
	t        typ
	ret      func(targ string, args []typ) typ // result type depending on T, or nil
	params   []string                          // parameter names, for named arguments
	out      bool                              // the last parameter is an out parameter (result in c.x.out)
	check    func(args []typ, targ string) string
	// checkArgs looks at the argument syntax (a literal regular expression
	// is validated at compile time); it returns the offending argument.
	checkArgs func(args []*node) (int, string)
	fn        func(c *Context, recv Value, a []Value, targ string) (Value, error)
}

type typeInfo struct {
	name     string
	bases    []string
	props    map[string]*member
	methods  map[string]*method
	sprops   map[string]*member
	smethods map[string]*method
	ctor     *method
	index    func(c *Context, recv, key Value) (Value, error)
	indexT   typ
	setIndex func(c *Context, recv, key, v Value) error
}

var (
	types     = map[string]*typeInfo{}
	anyProp   = map[string]bool{}
	anyMethod = map[string]*method{}
)

// typeAliases map C# spellings to the registry's names.
var typeAliases = map[string]string{"String": "string", "Int32": "int", "Int64": "int", "long": "int", "Boolean": "bool",
	"Double": "double", "float": "double", "decimal": "double", "Single": "double", "Decimal": "double", "Object": "object",
	"dynamic": "object", "var": "object", "uint": "int", "ulong": "int", "short": "int", "ushort": "int", "sbyte": "int",
	"char": "string", "Char": "string", "byte": "int", "Byte": "int", "IEnumerable": "IEnumerable", "ICollection": "IEnumerable",
	"IList": "List", "Array": "List", "IReadOnlyList": "List", "IDictionary": "Dictionary", "IReadOnlyDictionary": "Dictionary",
	"HMACSHA256": "HMAC", "HMACSHA1": "HMAC", "HMACSHA512": "HMAC", "HMACSHA384": "HMAC", "HMACMD5": "HMAC",
	"SHA256": "HashAlgorithm", "SHA1": "HashAlgorithm", "SHA512": "HashAlgorithm", "SHA384": "HashAlgorithm", "MD5": "HashAlgorithm",
	"XContainer": "XElement", "XNode": "XNode", "XmlElement": "XmlNode", "XmlNodeList": "List", "Exception": "Exception",
	"DateTime?": "DateTime", "IUrl": "IUrl", "JContainer": "JToken"}

// lookupType returns the registry entry for a type name (aliases, generic
// arguments and namespaces resolved), or nil.
func lookupType(name string) *typeInfo {
	if ti, ok := types[name]; ok {
		return ti
	}
	return types[string(normType(name))]
}

// normType turns a C# type spelling into the registry's name: "Int32" → int,
// "List<string>" → List, "JObject[]" → List, "string[]" and "byte[]" kept.
func normType(name string) typ {
	name = strings.TrimSuffix(stripNamespace(name), "?")
	if name == "string[]" || name == "byte[]" {
		return typ(name)
	}
	if strings.HasSuffix(name, "[]") {
		if strings.TrimSuffix(name, "[]") == "String" {
			return tyStrings
		}
		if b := strings.TrimSuffix(name, "[]"); b == "Byte" {
			return "byte[]"
		}
		return "List"
	}
	if i := strings.IndexByte(name, '<'); i >= 0 {
		name = name[:i]
	}
	if a, ok := typeAliases[name]; ok {
		return typ(a)
	}
	return typ(name)
}

func castable(t typ) bool { return t == tyAny || lookupType(string(t)) != nil }

// register adds (or extends) a type.
func regType(name string, bases ...string) *typeInfo {
	ti := types[name]
	if ti == nil {
		ti = &typeInfo{name: name, props: map[string]*member{}, methods: map[string]*method{}, sprops: map[string]*member{}, smethods: map[string]*method{}}
		types[name] = ti
	}
	ti.bases = append(ti.bases, bases...)
	return ti
}

func (ti *typeInfo) prop(name string) *member {
	if ti == nil {
		return nil
	}
	if m, ok := ti.props[name]; ok {
		return m
	}
	for _, b := range ti.bases {
		if m := types[b].prop(name); m != nil {
			return m
		}
	}
	if ti.name != "object" {
		return types["object"].prop(name)
	}
	return nil
}

func (ti *typeInfo) method(name string) *method {
	if ti == nil {
		return nil
	}
	if m, ok := ti.methods[name]; ok {
		return m
	}
	for _, b := range ti.bases {
		if m := types[b].method(name); m != nil {
			return m
		}
	}
	if ti.name != "object" {
		return types["object"].method(name)
	}
	return nil
}

func (ti *typeInfo) staticProp(name string) *member {
	if m, ok := ti.sprops[name]; ok {
		return m
	}
	return nil
}

func (ti *typeInfo) staticMethod(name string) *method {
	if m, ok := ti.smethods[name]; ok {
		return m
	}
	return nil
}

// isA reports whether type name is t or derives from it.
func isA(name string, t typ) bool {
	if typ(name) == t || t == tyAny {
		return true
	}
	ti := types[name]
	if ti == nil {
		return false
	}
	for _, b := range ti.bases {
		if isA(b, t) {
			return true
		}
	}
	return false
}

func (ti *typeInfo) p(name string, t typ, get func(c *Context, recv Value) (Value, error)) *typeInfo {
	ti.props[name] = &member{t: t, get: get}
	anyProp[name] = true
	return ti
}

func (ti *typeInfo) sp(name string, t typ, get func(c *Context) (Value, error)) *typeInfo {
	ti.sprops[name] = &member{t: t, get: func(c *Context, _ Value) (Value, error) { return get(c) }}
	return ti
}

func (ti *typeInfo) m(name string, min, max int, t typ, fn func(c *Context, recv Value, a []Value, targ string) (Value, error), params ...string) *method {
	m := &method{min: min, max: max, t: t, fn: fn, params: params}
	ti.methods[name] = m
	if anyMethod[name] == nil || len(params) > len(anyMethod[name].params) {
		anyMethod[name] = m
	}
	return m
}

func (ti *typeInfo) sm(name string, min, max int, t typ, fn func(c *Context, a []Value, targ string) (Value, error), params ...string) *method {
	m := &method{min: min, max: max, t: t, params: params, fn: func(c *Context, _ Value, a []Value, targ string) (Value, error) { return fn(c, a, targ) }}
	ti.smethods[name] = m
	return m
}

// runtimeType is the registry name of v's run-time type.
func runtimeType(v Value) string {
	switch v.k {
	case kNull:
		return "null"
	case kBool:
		return "bool"
	case kInt:
		return "int"
	case kDouble:
		return "double"
	case kString:
		return "string"
	case kStrings:
		return "string[]"
	}
	return v.o.typeName()
}

func objValue(o object) Value { return Value{k: kObject, o: o} }

func doubleValue(f float64) Value { return Value{k: kDouble, i: int64(math.Float64bits(f))} }

func (v Value) float() float64 {
	if v.k == kInt {
		return float64(v.i)
	}
	return math.Float64frombits(uint64(v.i))
}

// valueString renders doubles and objects as .NET's ToString does.
func valueString(v Value) string {
	if v.k == kDouble {
		return formatDouble(v.float())
	}
	if v.o == nil {
		return ""
	}
	return v.o.String()
}

// formatDouble renders f as .NET Core's double.ToString() (shortest
// round-trip, "E+" exponents).
func formatDouble(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "∞"
	case math.IsInf(f, -1):
		return "-∞"
	}
	a := math.Abs(f)
	if a != 0 && (a >= 1e15 || a < 1e-5) {
		s := strconv.FormatFloat(f, 'E', -1, 64)
		// .NET: 1E+15, Go: 1E+15; .NET pads no zeros: "1E-05" → "1E-05".
		return s
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// equaler is implemented by value-like objects (DateTime, TimeSpan, Guid).
type equaler interface{ equal(o object) bool }

func valueEqual(v, w Value) bool {
	if v.k == kDouble {
		return v.float() == w.float()
	}
	if e, ok := v.o.(equaler); ok {
		return e.equal(w.o)
	}
	return v.o == w.o
}

// looseEqual is C#'s == across the types expressions mix: numbers compare by
// value, JSON values compare with the primitives they hold, objects by
// reference (value-like objects by value).
func looseEqual(v, w Value) bool {
	if v.k == kObject || w.k == kObject {
		if jv, ok := jsonPrimitive(v); ok {
			v = jv
		}
		if jw, ok := jsonPrimitive(w); ok {
			w = jw
		}
	}
	if (v.k == kInt || v.k == kDouble) && (w.k == kInt || w.k == kDouble) {
		if v.k == kInt && w.k == kInt {
			return v.i == w.i
		}
		return v.float() == w.float()
	}
	return v.equal(w)
}

// castTo is C#'s explicit conversion (T)v for the types the library knows.
func castTo(v Value, t typ) (Value, error) {
	if t == tyAny {
		return v, nil
	}
	if jv, ok := jsonPrimitive(v); ok && (primitive(t) || t == "DateTime" || t == "Guid") {
		v = jv
		if v.k == kNull {
			if t == tyString {
				return Value{}, nil
			}
			return Value{}, evalErr("cannot cast a null JSON value to %s", t)
		}
	}
	switch t {
	case tyString:
		if v.k == kString || v.k == kNull {
			return v, nil
		}
	case tyInt:
		switch v.k {
		case kInt:
			return v, nil
		case kDouble:
			return IntValue(int64(v.float())), nil
		}
	case tyDouble:
		switch v.k {
		case kInt:
			return doubleValue(float64(v.i)), nil
		case kDouble:
			return v, nil
		}
	case tyBool:
		if v.k == kBool {
			return v, nil
		}
	case tyStrings:
		switch v.k {
		case kStrings, kNull:
			return v, nil
		}
	default:
		if v.k == kNull {
			return v, nil
		}
		if isA(runtimeType(v), t) {
			return v, nil
		}
		if conv := convertObject(v, t); conv.k != kNull {
			return conv, nil
		}
	}
	return Value{}, evalErr("cannot cast %s to %s", runtimeType(v), t)
}

// convertObject applies the implicit conversions casts rely on: a JSON array
// to string[]/List, a string[] to an enumerable.
func convertObject(v Value, t typ) Value {
	switch t {
	case "DateTimeOffset", "DateTime":
		if d, ok := asTime(v); ok {
			return objValue(dateTime{t: d.t, offset: t == "DateTimeOffset"})
		}
	case "XNamespace":
		if v.k == kString {
			return objValue(xNamespace(v.s))
		}
	case "XName":
		if v.k == kString {
			return objValue(nameOf(v))
		}
	case "IEnumerable", "List":
		if v.k == kStrings {
			return objValue(stringsList(v.a))
		}
	}
	return Value{}
}

// implicitConvert applies C#'s implicit conversions on assignment to a typed
// local: int → double, string → XNamespace/XName, DateTime → DateTimeOffset.
func implicitConvert(v Value, t typ) Value {
	switch {
	case t == tyDouble && v.k == kInt:
		return doubleValue(float64(v.i))
	case t == "XNamespace" || t == "XName" || t == "DateTimeOffset":
		if conv := convertObject(v, t); conv.k != kNull {
			return conv
		}
	}
	return v
}

// isType is "v is T": false for null.
func isType(v Value, t typ) bool {
	if v.k == kNull {
		return false
	}
	rt := runtimeType(v)
	if t == tyString || t == tyInt || t == tyBool || t == tyDouble {
		return typ(rt) == t
	}
	return isA(rt, t)
}

// arith applies a binary arithmetic, comparison or bitwise operator.
func arith(c *Context, op string, v, w Value) (Value, error) {
	if xn, ok := v.o.(xNamespace); ok && v.k == kObject && op == "+" && w.k == kString {
		return objValue(xName{ns: string(xn), local: w.s}), nil
	}
	if op == "+" && (v.k == kString || w.k == kString) {
		if err := chargeString(c, v); err != nil {
			return Value{}, err
		}
		if err := chargeString(c, w); err != nil {
			return Value{}, err
		}
		s := v.String() + w.String()
		if err := c.charge(len(s)); err != nil {
			return Value{}, err
		}
		return str(s), nil
	}
	if jv, ok := jsonPrimitive(v); ok {
		v = jv
	}
	if jw, ok := jsonPrimitive(w); ok {
		w = jw
	}
	if v.k == kInt && w.k == kInt {
		a, b := v.i, w.i
		switch op {
		case "+":
			return IntValue(a + b), nil
		case "-":
			return IntValue(a - b), nil
		case "*":
			return IntValue(a * b), nil
		case "/", "%":
			if b == 0 {
				return Value{}, evalErr("attempted to divide by zero")
			}
			if op == "/" {
				return IntValue(a / b), nil
			}
			return IntValue(a % b), nil
		case "<":
			return BoolValue(a < b), nil
		case ">":
			return BoolValue(a > b), nil
		case "<=":
			return BoolValue(a <= b), nil
		case ">=":
			return BoolValue(a >= b), nil
		case "&":
			return IntValue(a & b), nil
		case "|":
			return IntValue(a | b), nil
		case "^":
			return IntValue(a ^ b), nil
		case "<<":
			return IntValue(a << (uint(b) & 63)), nil
		case ">>":
			return IntValue(a >> (uint(b) & 63)), nil
		}
	}
	if (v.k == kInt || v.k == kDouble) && (w.k == kInt || w.k == kDouble) {
		a, b := v.float(), w.float()
		switch op {
		case "+":
			return doubleValue(a + b), nil
		case "-":
			return doubleValue(a - b), nil
		case "*":
			return doubleValue(a * b), nil
		case "/":
			return doubleValue(a / b), nil
		case "%":
			return doubleValue(math.Mod(a, b)), nil
		case "<":
			return BoolValue(a < b), nil
		case ">":
			return BoolValue(a > b), nil
		case "<=":
			return BoolValue(a <= b), nil
		case ">=":
			return BoolValue(a >= b), nil
		}
	}
	if v.k == kBool && w.k == kBool {
		switch op {
		case "&":
			return BoolValue(v.b && w.b), nil
		case "|":
			return BoolValue(v.b || w.b), nil
		case "^":
			return BoolValue(v.b != w.b), nil
		}
	}
	if v.k == kObject && w.k == kObject {
		if r, ok, err := timeArith(op, v, w); ok {
			return r, err
		}
		if xn, ok := v.o.(xNamespace); ok && op == "+" {
			if s, ok := w.o.(xNamespace); ok {
				return objValue(xName{ns: string(xn), local: string(s)}), nil
			}
		}
	}
	if op == "+" {
		if xn, ok := v.o.(xNamespace); ok && v.k == kObject && w.k == kString {
			return objValue(xName{ns: string(xn), local: w.s}), nil
		}
		if v.k == kNull && w.k == kNull {
			return Value{}, nil
		}
	}
	return Value{}, evalErr("operator %s is not defined on %s and %s", op, runtimeType(v), runtimeType(w))
}

// thrown is a C# exception raised by throw or by a library method that
// documents one; try/catch catches it (and evaluation errors).
type thrown struct {
	typ, msg string
}

func (t *thrown) Error() string { return t.typ + ": " + t.msg }
func (t *thrown) Unwrap() error { return ErrEval }

// exceptionValue is the catch variable: Message, GetType().Name, ToString().
type exceptionValue struct{ typ, msg string }

func (e *exceptionValue) typeName() string { return "Exception" }
func (e *exceptionValue) String() string   { return "System." + e.typ + ": " + e.msg }

func init() {
	regType("Exception").
		p("Message", tyString, func(c *Context, v Value) (Value, error) { return str(v.o.(*exceptionValue).msg), nil }).
		p("InnerException", tyAny, func(c *Context, v Value) (Value, error) { return Value{}, nil })
	ex := types["Exception"]
	ex.ctor = &method{min: 0, max: 2, t: "Exception", fn: func(c *Context, _ Value, a []Value, _ string) (Value, error) {
		msg := "Exception of type 'System.Exception' was thrown."
		if len(a) > 0 {
			msg = a[0].String()
		}
		return objValue(&exceptionValue{typ: "Exception", msg: msg}), nil
	}}
	for _, n := range []string{"InvalidOperationException", "ArgumentException", "ArgumentNullException", "FormatException",
		"UnauthorizedAccessException", "ApplicationException", "NotSupportedException", "KeyNotFoundException", "ArgumentOutOfRangeException"} {
		name := n
		ti := regType(name, "Exception")
		ti.ctor = &method{min: 0, max: 2, t: typ(name), fn: func(c *Context, _ Value, a []Value, _ string) (Value, error) {
			msg := "Exception of type 'System." + name + "' was thrown."
			if len(a) > 0 {
				msg = a[0].String()
			}
			return objValue(&exceptionValue{typ: name, msg: msg}), nil
		}}
	}
	// object members every value has.
	obj := regType("object")
	obj.m("ToString", 0, 1, tyString, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		if len(a) == 1 && !isMissing(a[0]) {
			if a[0].k == kString {
				s, err := formatValue(v, a[0].s)
				return str(s), err
			}
			if f, ok := a[0].o.(formatting); ok && a[0].k == kObject {
				if j, ok := v.o.(*jNode); ok && v.k == kObject {
					if err := c.charge(j.size()); err != nil {
						return Value{}, err
					}
					return str(j.render(bool(f))), nil
				}
			}
		}
		if err := chargeString(c, v); err != nil {
			return Value{}, err
		}
		return str(v.String()), nil
	}, "format")
	obj.m("Equals", 1, 2, tyBool, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		if len(a) == 2 && v.k == kString && a[0].k == kString {
			return BoolValue(stringEquals(v.s, a[0].s, a[1])), nil
		}
		return BoolValue(looseEqual(v, a[0])), nil
	})
	obj.p("HasValue", tyBool, func(c *Context, v Value) (Value, error) { return BoolValue(true), nil })
	obj.m("GetHashCode", 0, 0, tyInt, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		h := uint32(2166136261)
		for _, b := range []byte(v.String()) {
			h = (h ^ uint32(b)) * 16777619
		}
		return IntValue(int64(int32(h))), nil
	})
	obj.m("GetType", 0, 0, "Type", func(c *Context, v Value, a []Value, _ string) (Value, error) {
		return objValue(typeValue(runtimeType(v))), nil
	})
	regType("Type").p("Name", tyString, func(c *Context, v Value) (Value, error) { return str(string(v.o.(typeValue))), nil })
	for _, n := range []string{"string", "int", "double", "bool", "string[]"} {
		regType(n, "object")
	}
	regType("null")
}

type typeValue string

func (t typeValue) typeName() string { return "Type" }
func (t typeValue) String() string   { return string(t) }
