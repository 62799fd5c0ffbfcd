package policy

import (
	"errors"
	"fmt"
	"strings"
)

// typ is an expression's static type as far as the compiler knows it: a C#
// type name ("string", "JObject", "IResponse"…). tyAny ("object") means
// unknown until run time: members are then looked up on the value's run-time
// type, and an unknown member name is still a compile error.
type typ string

const (
	tyAny     typ = "object"
	tyNull    typ = "null"
	tyBool    typ = "bool"
	tyInt     typ = "int"
	tyDouble  typ = "double"
	tyString  typ = "string"
	tyStrings typ = "string[]"
	tyVoid    typ = "void"
)

func (t typ) String() string { return string(t) }

type evalFn func(c *Context) (Value, error)

// expr is a compiled expression or block: a tree of closures built once per
// snapshot. Evaluating it does no parsing; expressions that only read context
// members and compare them do not allocate.
type expr struct {
	fn    evalFn
	t     typ
	nloc  int // local variable slots (block locals, lambda parameters)
	reads bodyReads
}

// bodyReads records which message bodies an expression may read, so the
// pipeline can buffer them.
type bodyReads struct{ request, response bool }

// ReadsBody reports whether evaluating the expression may read the request or
// the response body (Body.As<T>(), AsFormUrlEncodedContent()).
func (e *expr) ReadsBody() (request, response bool) { return e.reads.request, e.reads.response }

func (e *expr) eval(c *Context) (v Value, err error) {
	defer func() {
		// A library bug must fail the request, not the gateway; the fuzz
		// tests treat this error as a failure.
		if r := recover(); r != nil {
			c.x.stack = c.x.stack[:0]
			v, err = Value{}, evalErr("internal error in the expression library: %v", r)
		}
	}()
	c.steps = 0
	if c.budget <= 0 {
		c.budget = DefaultStepBudget
	}
	c.x.mem = 0
	if e.nloc > 0 {
		if cap(c.x.loc) < e.nloc {
			c.x.loc = make([]Value, e.nloc)
		}
		c.x.loc = c.x.loc[:e.nloc]
		clear(c.x.loc)
	}
	v, err = e.fn(c)
	if err != nil {
		var th *thrown
		if errors.As(err, &th) {
			return Value{}, evalErr("unhandled exception %s: %s", th.typ, th.msg)
		}
	}
	return v, err
}

func evalErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrEval, fmt.Sprintf(format, args...))
}

// compileExpression compiles the body of @( … ) or @{ … }. Error offsets are
// relative to src.
func compileExpression(src string, block bool) (*expr, *exprError) {
	pr, err := parseProgram(src, block)
	if err != nil {
		if ee, ok := err.(*exprError); ok {
			return nil, ee
		}
		return nil, errSyntaxAt(0, "%v", err)
	}
	cc := &compiler{}
	var fn evalFn
	var t typ
	var ee *exprError
	if block {
		fn, t, ee = cc.compileBody(pr.block)
	} else {
		fn, t, ee = cc.compile(pr.x)
	}
	if ee != nil {
		return nil, ee
	}
	return &expr{fn: fn, t: t, nloc: cc.nloc, reads: cc.reads}, nil
}

// compiler holds the lexical scopes of locals while one expression compiles.
type compiler struct {
	vars   []namedLocal // locals in scope, innermost last
	scopes []int        // start of each scope in vars
	nloc   int
	reads  bodyReads
	loops  int
}

type local struct {
	slot int
	t    typ
	fn   *localFunc // a local function, not a variable
}

// localFunc is a compiled local function: its parameters live in local slots
// (saved and restored around each call, so recursion works).
type localFunc struct {
	params []int
	body   evalFn
	ret    typ
}

type namedLocal struct {
	name string
	l    *local
}

func (cc *compiler) push() { cc.scopes = append(cc.scopes, len(cc.vars)) }
func (cc *compiler) pop() {
	cc.vars = cc.vars[:cc.scopes[len(cc.scopes)-1]]
	cc.scopes = cc.scopes[:len(cc.scopes)-1]
}

func (cc *compiler) lookup(name string) *local {
	for i := len(cc.vars) - 1; i >= 0; i-- {
		if cc.vars[i].name == name {
			return cc.vars[i].l
		}
	}
	return nil
}

func (cc *compiler) declare(off int, name string, t typ) (*local, *exprError) {
	if name == "context" {
		return nil, errSyntaxAt(off, "a local cannot be called context")
	}
	if cc.lookup(name) != nil {
		return nil, errSyntaxAt(off, "a local named %q is already defined in this scope", name)
	}
	l := &local{slot: cc.nloc, t: t}
	cc.nloc++
	cc.vars = append(cc.vars, namedLocal{name, l})
	return l, nil
}

func constFn(v Value) evalFn {
	return func(c *Context) (Value, error) {
		if err := c.tick(); err != nil {
			return Value{}, err
		}
		return v, nil
	}
}

func typOf(v Value) typ {
	switch v.k {
	case kNull:
		return tyNull
	case kBool:
		return tyBool
	case kInt:
		return tyInt
	case kDouble:
		return tyDouble
	case kString:
		return tyString
	case kStrings:
		return tyStrings
	}
	return typ(v.o.typeName())
}

func str(s string) Value { return Value{k: kString, s: s} }

func (cc *compiler) compile(n *node) (evalFn, typ, *exprError) {
	switch n.k {
	case nLit:
		return constFn(n.litValue()), typOf(n.litValue()), nil
	case nIdent:
		return cc.compileIdent(n)
	case nMember:
		return cc.compileMember(n)
	case nCall:
		return cc.compileCall(n)
	case nIndex:
		return cc.compileIndex(n)
	case nUnary:
		return cc.compileUnary(n)
	case nBinary:
		return cc.compileBinary(n)
	case nCond:
		return cc.compileCond(n)
	case nCast:
		return cc.compileCast(n)
	case nInterp:
		return cc.compileInterp(n)
	case nAssign:
		return cc.compileAssign(n)
	case nIncDec:
		return cc.compileIncDec(n)
	case nLambda:
		return nil, "", errUnsupportedAt(n.off, "a lambda can only be the argument of a method (Select, Where, Any…)")
	case nNew:
		return cc.compileNew(n)
	case nArray:
		return cc.compileArray(n)
	case nIs, nAs:
		return cc.compileIsAs(n)
	case nDefault:
		return cc.compileDefault(n)
	}
	return nil, "", errSyntaxAt(n.off, "unexpected expression")
}

func (cc *compiler) compileIdent(n *node) (evalFn, typ, *exprError) {
	if l := cc.lookup(n.op); l != nil {
		slot := l.slot
		return func(c *Context) (Value, error) {
			if err := c.tick(); err != nil {
				return Value{}, err
			}
			return c.x.loc[slot], nil
		}, l.t, nil
	}
	if n.op == "context" {
		return func(c *Context) (Value, error) {
			if err := c.tick(); err != nil {
				return Value{}, err
			}
			return Value{k: kObject, o: (*ctxView)(c)}, nil
		}, "context", nil
	}
	if lookupType(n.op) != nil {
		return nil, "", errUnsupportedAt(n.off, "the type %s cannot be used as a value", n.op)
	}
	return nil, "", errUnsupportedAt(n.off, "the name %q does not exist (not a local, context or a supported .NET type)", n.op)
}

// staticPath reports the .NET type a member chain starts with, when its root
// identifier is not a local or context: "System.Text.Encoding.UTF8" → Encoding
// and the offset.
func (cc *compiler) staticType(n *node) (*typeInfo, bool) {
	p, ok := dotted(n)
	if !ok {
		return nil, false
	}
	root := p
	if i := strings.IndexByte(p, '.'); i >= 0 {
		root = p[:i]
	}
	if cc.lookup(root) != nil || root == "context" {
		return nil, false
	}
	if ti := lookupType(stripNamespace(p)); ti != nil {
		return ti, true
	}
	return nil, false
}

// dotted renders an identifier chain "a.b.c".
func dotted(n *node) (string, bool) {
	switch n.k {
	case nIdent:
		return n.op, true
	case nMember:
		if len(n.typeArgs) > 0 || n.nullCond {
			return "", false
		}
		p, ok := dotted(n.x)
		return p + "." + n.op, ok
	}
	return "", false
}

// chainStart is the offset where a member chain begins.
func chainStart(n *node) int {
	for n.x != nil && (n.k == nMember || n.k == nCall || n.k == nIndex) {
		n = n.x
	}
	return n.off
}

func (cc *compiler) noteBody(t typ) {
	switch t {
	case "IRequest":
		cc.reads.request = true
	case "IResponse":
		cc.reads.response = true
	default:
		cc.reads.request, cc.reads.response = true, true
	}
}

func (cc *compiler) compileMember(n *node) (evalFn, typ, *exprError) {
	if ti, ok := cc.staticType(n.x); ok {
		m := ti.staticProp(n.op)
		if m == nil {
			return nil, "", errUnsupportedAt(n.off, "%s.%s is not supported", ti.name, n.op)
		}
		get := m.get
		return func(c *Context) (Value, error) {
			if err := c.tick(); err != nil {
				return Value{}, err
			}
			return get(c, Value{})
		}, m.t, nil
	}
	if ti, ok := cc.staticType(n); ok {
		return nil, "", errUnsupportedAt(chainStart(n), "the type %s cannot be used as a value", ti.name)
	}
	recv, rt, err := cc.compile(n.x)
	if err != nil {
		return nil, "", err
	}
	name := n.op
	if name == "Body" {
		cc.noteBody(rt)
	}
	nullCond := n.nullCond
	if ti := lookupType(string(rt)); ti != nil && rt != tyAny {
		m := ti.prop(name)
		if m == nil {
			if ti.method(name) != nil {
				return nil, "", errUnsupportedAt(n.off, "%s.%s is a method: call it with ( )", rt, name)
			}
			return nil, "", errUnsupportedAt(n.off, "%s.%s is not supported", rt, name)
		}
		get := m.get
		what := string(rt) + "." + name
		return func(c *Context) (Value, error) {
			v, err := eval1(c, recv)
			if err != nil {
				return Value{}, err
			}
			if v.k == kNull {
				if nullCond {
					return Value{}, nil
				}
				if name == "HasValue" {
					return BoolValue(false), nil
				}
				return Value{}, nullRef(what)
			}
			return get(c, v)
		}, m.t, nil
	}
	if !anyProp[name] {
		return nil, "", errUnsupportedAt(n.off, "member %s is not supported on any type this gateway knows", name)
	}
	return func(c *Context) (Value, error) {
		v, err := eval1(c, recv)
		if err != nil {
			return Value{}, err
		}
		if v.k == kNull {
			if nullCond {
				return Value{}, nil
			}
			return Value{}, nullRef(name)
		}
		m := lookupType(runtimeType(v)).prop(name)
		if m == nil {
			return Value{}, evalErr("%s does not have a member %s", runtimeType(v), name)
		}
		return m.get(c, v)
	}, tyAny, nil
}

func nullRef(what string) error {
	return evalErr("object reference not set to an instance of an object (%s of null)", what)
}

// compileArgs compiles call arguments, reordering named ones by the method's
// parameter names when known.
func (cc *compiler) compileArgs(n *node, params []string) ([]evalFn, []typ, *exprError) {
	fns := make([]evalFn, len(n.args))
	ts := make([]typ, len(n.args))
	for i, a := range n.args {
		var f evalFn
		var t typ
		var err *exprError
		if a.k == nLambda {
			f, t, err = cc.compileLambda(a)
		} else {
			f, t, err = cc.compile(a)
		}
		if err != nil {
			return nil, nil, err
		}
		fns[i], ts[i] = f, t
	}
	if n.argNames == nil {
		return fns, ts, nil
	}
	// Named arguments: place each at its parameter's position.
	out := make([]evalFn, 0, len(fns))
	outT := make([]typ, 0, len(fns))
	for i, name := range n.argNames {
		if name == "" {
			out = append(out, fns[i])
			outT = append(outT, ts[i])
			continue
		}
		pos := -1
		for j, p := range params {
			if strings.EqualFold(p, name) {
				pos = j
			}
		}
		if pos < 0 {
			return nil, nil, errUnsupportedAt(n.args[i].off, "no parameter named %q", name)
		}
		for len(out) <= pos {
			out = append(out, nil)
			outT = append(outT, tyNull)
		}
		out[pos], outT[pos] = fns[i], ts[i]
	}
	for i := range out {
		if out[i] == nil {
			out[i] = constFn(Value{k: kObject, o: missingArg{}})
		}
	}
	return out, outT, nil
}

// missingArg fills a parameter skipped by named arguments; methods treat it
// as the parameter's default.
type missingArg struct{}

func (missingArg) typeName() string { return "<missing>" }
func (missingArg) String() string   { return "" }

func isMissing(v Value) bool { _, ok := v.o.(missingArg); return v.k == kObject && ok }

func (cc *compiler) compileCall(n *node) (evalFn, typ, *exprError) {
	callee := n.x
	if callee.k == nIdent {
		if l := cc.lookup(callee.op); l != nil && l.fn != nil {
			return cc.compileLocalCall(n, l.fn)
		}
	}
	if callee.k != nMember {
		if callee.k == nIdent {
			return nil, "", errUnsupportedAt(callee.off, "%s( ) is not supported (local functions and delegates are not part of this expression language)", callee.op)
		}
		return nil, "", errUnsupportedAt(n.off, "only methods can be called")
	}
	targ := ""
	if len(callee.typeArgs) > 0 {
		targ = callee.typeArgs[0]
	}
	if ti, ok := cc.staticType(callee.x); ok {
		m := ti.staticMethod(callee.op)
		if m == nil {
			return nil, "", errUnsupportedAt(callee.off, "%s.%s( ) is not supported", ti.name, callee.op)
		}
		return cc.finishCall(n, m, nil, "", targ, ti.name+"."+callee.op)
	}
	if ti, ok := cc.staticType(callee); ok {
		return nil, "", errUnsupportedAt(chainStart(callee), "the type %s cannot be called", ti.name)
	}
	recv, rt, err := cc.compile(callee.x)
	if err != nil {
		return nil, "", err
	}
	if callee.op == "As" || callee.op == "AsFormUrlEncodedContent" {
		cc.noteBodyRecv(callee.x, rt)
	}
	if ti := lookupType(string(rt)); ti != nil && rt != tyAny {
		m := ti.method(callee.op)
		if m == nil {
			if ti.prop(callee.op) != nil {
				if pt := lookupType(string(ti.prop(callee.op).t)); pt != nil && pt.index != nil {
					return nil, "", errUnsupportedAt(callee.off, "%s.%s is a property, not a method (index it: %s[…], or call %s.GetValueOrDefault(…))", rt, callee.op, callee.op, callee.op)
				}
				return nil, "", errUnsupportedAt(callee.off, "%s.%s is a property, not a method", rt, callee.op)
			}
			return nil, "", errUnsupportedAt(callee.off, "method %s.%s( ) is not supported", rt, callee.op)
		}
		return cc.finishCall(n, m, recv, callee.op, targ, string(rt)+"."+callee.op)
	}
	if anyMethod[callee.op] == nil {
		return nil, "", errUnsupportedAt(callee.off, "method %s( ) is not supported on any type this gateway knows", callee.op)
	}
	return cc.finishCall(n, nil, recv, callee.op, targ, callee.op)
}

// noteBodyRecv records a body read through x.As<T>() where x is a Body.
func (cc *compiler) noteBodyRecv(x *node, rt typ) {
	if rt != "IMessageBody" && rt != tyAny {
		return
	}
	if x.k == nMember && x.op == "Body" {
		return // noted when Body was compiled
	}
	cc.reads.request, cc.reads.response = true, true
}

// finishCall compiles the arguments and builds the call. m nil means dynamic
// dispatch on the receiver's run-time type (name is the method).
func (cc *compiler) finishCall(n *node, m *method, recv evalFn, name, targ, what string) (evalFn, typ, *exprError) {
	var params []string
	if m != nil {
		params = m.params
	} else {
		params = anyMethod[name].params
	}
	// out arguments: declare their locals first (visible after the call).
	outSlot := -1
	if len(n.outs) > 0 {
		o := n.outs[len(n.outs)-1]
		if o.i != len(n.args)-1 || len(n.outs) > 1 || (m != nil && !m.out) {
			return nil, "", errUnsupportedAt(n.args[o.i].off, "out arguments are supported only as the last argument of TryParse-like methods")
		}
		var l *local
		if o.declare {
			var ee *exprError
			if l, ee = cc.declare(n.args[o.i].off, o.name, tyAny); ee != nil {
				return nil, "", ee
			}
		} else if l = cc.lookup(o.name); l == nil {
			return nil, "", errSyntaxAt(n.args[o.i].off, "the name %q does not exist", o.name)
		}
		outSlot = l.slot
	}
	args, ats, err := cc.compileArgs(n, params)
	if err != nil {
		return nil, "", err
	}
	if m != nil {
		if len(args) < m.min || m.max >= 0 && len(args) > m.max {
			return nil, "", errUnsupportedAt(n.off, "%s takes %s, found %d", what, argRange(m.min, m.max), len(args))
		}
		if m.check != nil {
			if msg := m.check(ats, targ); msg != "" {
				return nil, "", errUnsupportedAt(n.off, "%s: %s", what, msg)
			}
		}
		if m.checkArgs != nil {
			if i, msg := m.checkArgs(n.args); msg != "" {
				return nil, "", errUnsupportedAt(n.args[i].off, "%s: %s", what, msg)
			}
		}
	}
	if outSlot >= 0 {
		args = args[:len(args)-1]
	}
	rt := tyAny
	if m != nil {
		rt = m.t
		if m.ret != nil {
			rt = m.ret(targ, ats)
		}
	}
	nargs := len(args)
	static := recv == nil
	return func(c *Context) (Value, error) {
		if err := c.tick(); err != nil {
			return Value{}, err
		}
		var self Value
		if !static {
			v, err := recv(c)
			if err != nil {
				return Value{}, err
			}
			if v.k == kNull && !nullReceiver[name] {
				if n.x.nullCond {
					return Value{}, nil
				}
				return Value{}, nullRef(what + "( )")
			}
			self = v
		}
		base := len(c.x.stack)
		for _, a := range args {
			v, err := a(c)
			if err != nil {
				c.x.stack = c.x.stack[:base]
				return Value{}, err
			}
			c.x.stack = append(c.x.stack, v)
		}
		av := c.x.stack[base : base+nargs : base+nargs]
		mm := m
		if mm == nil {
			mm = lookupType(runtimeType(self)).method(name)
			if mm == nil {
				c.x.stack = c.x.stack[:base]
				return Value{}, evalErr("%s does not have a method %s", runtimeType(self), name)
			}
			if nargs < mm.min || mm.max >= 0 && nargs > mm.max {
				c.x.stack = c.x.stack[:base]
				return Value{}, evalErr("%s.%s takes %s, found %d", runtimeType(self), name, argRange(mm.min, mm.max), nargs)
			}
		}
		r, err := mm.fn(c, self, av, targ)
		c.x.stack = c.x.stack[:base]
		if outSlot >= 0 && err == nil {
			c.x.loc[outSlot] = c.x.out
		}
		return r, err
	}, rt, nil
}

// nullReceiver are APIM's extension methods on string, which C# lets a null
// receiver call: null.AsJwt() is null, null.TryParseJwt(out j) is false.
var nullReceiver = map[string]bool{"AsJwt": true, "AsBasic": true, "TryParseJwt": true, "TryParseBasic": true}

func argRange(min, max int) string {
	switch {
	case max < 0:
		return fmt.Sprintf("at least %d arguments", min)
	case min == max:
		return fmt.Sprintf("%d arguments", min)
	}
	return fmt.Sprintf("%d to %d arguments", min, max)
}

func (cc *compiler) compileIndex(n *node) (evalFn, typ, *exprError) {
	recv, rt, err := cc.compile(n.x)
	if err != nil {
		return nil, "", err
	}
	idx, _, err := cc.compile(n.y)
	if err != nil {
		return nil, "", err
	}
	out := tyAny
	if ti := lookupType(string(rt)); ti != nil && rt != tyAny {
		if ti.index == nil {
			return nil, "", errUnsupportedAt(n.off, "indexing is not defined on %s", rt)
		}
		out = ti.indexT
	}
	nullCond := n.nullCond
	return func(c *Context) (Value, error) {
		v, err := eval1(c, recv)
		if err != nil {
			return Value{}, err
		}
		i, err := idx(c)
		if err != nil {
			return Value{}, err
		}
		if v.k == kNull {
			if nullCond {
				return Value{}, nil
			}
			return Value{}, evalErr("indexing null")
		}
		ti := lookupType(runtimeType(v))
		if ti == nil || ti.index == nil {
			return Value{}, evalErr("indexing is not defined on %s", runtimeType(v))
		}
		return ti.index(c, v, i)
	}, out, nil
}

func (cc *compiler) compileUnary(n *node) (evalFn, typ, *exprError) {
	x, xt, err := cc.compile(n.x)
	if err != nil {
		return nil, "", err
	}
	op := n.op
	switch op {
	case "!":
		if err := wantType(n.x, xt, tyBool); err != nil {
			return nil, "", err
		}
		return func(c *Context) (Value, error) {
			v, err := eval1(c, x)
			if err != nil {
				return Value{}, err
			}
			if v.k != kBool {
				return Value{}, evalErr("! applied to %s", runtimeType(v))
			}
			return Value{k: kBool, b: !v.b}, nil
		}, tyBool, nil
	case "~":
		return func(c *Context) (Value, error) {
			v, err := eval1(c, x)
			if err != nil {
				return Value{}, err
			}
			if v.k != kInt {
				return Value{}, evalErr("~ applied to %s", runtimeType(v))
			}
			return Value{k: kInt, i: ^v.i}, nil
		}, tyInt, nil
	}
	if !isNumericT(xt) && xt != tyAny {
		return nil, "", errUnsupportedAt(n.x.off, "expected a number, found %s", xt)
	}
	neg := op == "-"
	return func(c *Context) (Value, error) {
		v, err := eval1(c, x)
		if err != nil {
			return Value{}, err
		}
		switch v.k {
		case kInt:
			if neg {
				v.i = -v.i
			}
			return v, nil
		case kDouble:
			if neg {
				return doubleValue(-v.float()), nil
			}
			return v, nil
		}
		if ts, ok := v.o.(tSpan); ok && v.k == kObject && neg {
			return objValue(tSpan(-ts)), nil
		}
		return Value{}, evalErr("%s applied to %s", op, runtimeType(v))
	}, xt, nil
}

func isNumericT(t typ) bool { return t == tyInt || t == tyDouble }

func wantType(n *node, got, want typ) *exprError {
	if got == want || got == tyAny {
		return nil
	}
	return errUnsupportedAt(n.off, "expected %s, found %s", want, got)
}

// known reports whether t is a primitive static type the compiler checks.
func primitive(t typ) bool {
	return t == tyBool || t == tyInt || t == tyDouble || t == tyString
}

func (cc *compiler) compileBinary(n *node) (evalFn, typ, *exprError) {
	x, xt, err := cc.compile(n.x)
	if err != nil {
		return nil, "", err
	}
	y, yt, err := cc.compile(n.y)
	if err != nil {
		return nil, "", err
	}
	op := n.op
	switch op {
	case "&&", "||":
		if err := wantType(n.x, xt, tyBool); err != nil {
			return nil, "", err
		}
		if err := wantType(n.y, yt, tyBool); err != nil {
			return nil, "", err
		}
		and := op == "&&"
		return func(c *Context) (Value, error) {
			v, err := eval1(c, x)
			if err != nil {
				return Value{}, err
			}
			if v.k != kBool {
				return Value{}, evalErr("%s applied to %s", op, runtimeType(v))
			}
			if v.b != and {
				return v, nil
			}
			w, err := y(c)
			if err != nil {
				return w, err
			}
			if w.k != kBool {
				return Value{}, evalErr("%s applied to %s", op, runtimeType(w))
			}
			return w, nil
		}, tyBool, nil
	case "==", "!=":
		if primitive(xt) && primitive(yt) && xt != yt && !(isNumericT(xt) && isNumericT(yt)) {
			return nil, "", errUnsupportedAt(n.off, "cannot compare %s with %s", xt, yt)
		}
		if (xt == tyNull && (xt == tyInt || yt == tyBool)) || (yt == tyNull && (xt == tyInt || xt == tyBool)) {
			return nil, "", errUnsupportedAt(n.off, "cannot compare %s with %s", xt, yt)
		}
		eq := op == "=="
		return func(c *Context) (Value, error) {
			v, w, err := eval2(c, x, y)
			if err != nil {
				return Value{}, err
			}
			return Value{k: kBool, b: looseEqual(v, w) == eq}, nil
		}, tyBool, nil
	case "??":
		rt := xt
		if xt != yt {
			rt = tyAny
			if xt == tyNull {
				rt = yt
			}
		}
		return func(c *Context) (Value, error) {
			if err := c.tick(); err != nil {
				return Value{}, err
			}
			v, err := x(c)
			if err != nil || v.k != kNull {
				return v, err
			}
			return y(c)
		}, rt, nil
	}
	if op != "+" && (primitive(xt) && !isNumericT(xt) && xt != tyBool || primitive(yt) && !isNumericT(yt) && yt != tyBool) {
		return nil, "", errUnsupportedAt(n.off, "operator %s is not defined on %s and %s", op, xt, yt)
	}
	if (xt == tyBool || yt == tyBool) && op != "&" && op != "|" && op != "^" && op != "+" {
		return nil, "", errUnsupportedAt(n.off, "operator %s is not defined on %s and %s", op, xt, yt)
	}
	rt := tyAny
	switch {
	case op == "<" || op == ">" || op == "<=" || op == ">=":
		rt = tyBool
	case op == "+" && (xt == tyString || yt == tyString):
		rt = tyString
	case xt == tyInt && yt == tyInt:
		rt = tyInt
	case isNumericT(xt) && isNumericT(yt):
		rt = tyDouble
	case xt == tyBool && yt == tyBool:
		rt = tyBool
	case op == "+" && (xt == tyBool || yt == tyBool) && (primitive(xt) && primitive(yt)):
		return nil, "", errUnsupportedAt(n.off, "+ is not defined on %s and %s", xt, yt)
	}
	if xt == tyInt && yt == tyInt {
		if f := intOp(op); f != nil {
			// Both sides are statically int: skip the dynamic dispatch.
			return func(c *Context) (Value, error) {
				v, w, err := eval2(c, x, y)
				if err != nil {
					return Value{}, err
				}
				if v.k == kInt && w.k == kInt {
					return f(v.i, w.i), nil
				}
				return arith(c, op, v, w)
			}, rt, nil
		}
	}
	return func(c *Context) (Value, error) {
		v, w, err := eval2(c, x, y)
		if err != nil {
			return Value{}, err
		}
		return arith(c, op, v, w)
	}, rt, nil
}

// intOp is the int fast path of an operator that cannot fail.
func intOp(op string) func(a, b int64) Value {
	switch op {
	case "+":
		return func(a, b int64) Value { return Value{k: kInt, i: a + b} }
	case "-":
		return func(a, b int64) Value { return Value{k: kInt, i: a - b} }
	case "*":
		return func(a, b int64) Value { return Value{k: kInt, i: a * b} }
	case "<":
		return func(a, b int64) Value { return Value{k: kBool, b: a < b} }
	case ">":
		return func(a, b int64) Value { return Value{k: kBool, b: a > b} }
	case "<=":
		return func(a, b int64) Value { return Value{k: kBool, b: a <= b} }
	case ">=":
		return func(a, b int64) Value { return Value{k: kBool, b: a >= b} }
	}
	return nil
}

func (cc *compiler) compileCond(n *node) (evalFn, typ, *exprError) {
	cond, ct, err := cc.compile(n.x)
	if err != nil {
		return nil, "", err
	}
	if err := wantType(n.x, ct, tyBool); err != nil {
		return nil, "", err
	}
	a, at, err := cc.compile(n.y)
	if err != nil {
		return nil, "", err
	}
	b, bt, err := cc.compile(n.z)
	if err != nil {
		return nil, "", err
	}
	rt := at
	if at != bt {
		switch {
		case at == tyNull:
			rt = bt
		case bt == tyNull:
		default:
			rt = tyAny
		}
	}
	return func(c *Context) (Value, error) {
		v, err := eval1(c, cond)
		if err != nil {
			return Value{}, err
		}
		if v.k != kBool {
			return Value{}, evalErr("?: condition is %s, not bool", runtimeType(v))
		}
		if v.b {
			return a(c)
		}
		return b(c)
	}, rt, nil
}

func (cc *compiler) compileCast(n *node) (evalFn, typ, *exprError) {
	x, xt, err := cc.compile(n.x)
	if err != nil {
		return nil, "", err
	}
	t := normType(n.op)
	if !castable(t) {
		return nil, "", errUnsupportedAt(n.off+1, "cast to %s is not supported (no such type in this gateway)", n.op)
	}
	if primitive(xt) && primitive(t) && xt != t && !(isNumericT(xt) && isNumericT(t)) {
		return nil, "", errUnsupportedAt(n.off, "cannot cast %s to %s", xt, n.op)
	}
	width := intWidth(n.op)
	return func(c *Context) (Value, error) {
		v, err := eval1(c, x)
		if err != nil {
			return Value{}, err
		}
		r, err := castTo(v, t)
		if err == nil && width != 0 && r.k == kInt {
			r.i = truncInt(r.i, width)
		}
		return r, err
	}, t, nil
}

// intWidth is the width of a C# integer type that casts truncate to
// (unchecked conversion); 0 for long and non-integers.
func intWidth(name string) int {
	switch stripNamespace(name) {
	case "byte", "Byte":
		return 8
	case "sbyte", "SByte":
		return -8
	case "short", "Int16":
		return -16
	case "ushort", "UInt16", "char", "Char":
		return 16
	case "int", "Int32":
		return -32
	case "uint", "UInt32":
		return 32
	}
	return 0
}

// truncInt wraps i to an integer type (negative width: signed).
func truncInt(i int64, width int) int64 {
	switch width {
	case 8:
		return int64(uint8(i))
	case -8:
		return int64(int8(i))
	case 16:
		return int64(uint16(i))
	case -16:
		return int64(int16(i))
	case 32:
		return int64(uint32(i))
	case -32:
		return int64(int32(i))
	}
	return i
}

func (cc *compiler) compileIsAs(n *node) (evalFn, typ, *exprError) {
	x, _, err := cc.compile(n.x)
	if err != nil {
		return nil, "", err
	}
	t := normType(n.op)
	if !castable(t) {
		return nil, "", errUnsupportedAt(n.off, "type %s is not supported", n.op)
	}
	if n.k == nAs {
		return func(c *Context) (Value, error) {
			v, err := eval1(c, x)
			if err != nil {
				return Value{}, err
			}
			if !isType(v, t) {
				return Value{}, nil
			}
			return v, nil
		}, t, nil
	}
	slot := -1
	if n.bind != "" {
		l, ee := cc.declare(n.off, n.bind, t)
		if ee != nil {
			return nil, "", ee
		}
		slot = l.slot
	}
	return func(c *Context) (Value, error) {
		v, err := eval1(c, x)
		if err != nil {
			return Value{}, err
		}
		ok := isType(v, t)
		if ok && slot >= 0 {
			c.x.loc[slot] = v
		}
		return Value{k: kBool, b: ok}, nil
	}, tyBool, nil
}

func (cc *compiler) compileDefault(n *node) (evalFn, typ, *exprError) {
	t := normType(n.op)
	return constFn(zeroOf(t)), t, nil
}

func zeroOf(t typ) Value {
	switch t {
	case tyInt:
		return Value{k: kInt}
	case tyDouble:
		return doubleValue(0)
	case tyBool:
		return Value{k: kBool}
	}
	return Value{}
}

func (cc *compiler) compileInterp(n *node) (evalFn, typ, *exprError) {
	type part struct {
		lit   string
		fn    evalFn
		align int
		fmt   string
	}
	parts := make([]part, 0, len(n.parts))
	for _, p := range n.parts {
		if p.hole == nil {
			parts = append(parts, part{lit: p.lit})
			continue
		}
		f, _, err := cc.compile(p.hole)
		if err != nil {
			return nil, "", err
		}
		parts = append(parts, part{fn: f, align: p.align, fmt: p.fmt})
	}
	return func(c *Context) (Value, error) {
		if err := c.tick(); err != nil {
			return Value{}, err
		}
		var b strings.Builder
		for _, p := range parts {
			if p.fn == nil {
				b.WriteString(p.lit)
				continue
			}
			v, err := p.fn(c)
			if err != nil {
				return v, err
			}
			if err := chargeString(c, v); err != nil {
				return Value{}, err
			}
			s := v.String()
			if p.fmt != "" {
				if s, err = formatValue(v, p.fmt); err != nil {
					return Value{}, err
				}
			}
			if err := c.charge(len(s) + abs(p.align)); err != nil {
				return Value{}, err
			}
			b.WriteString(pad(s, p.align))
		}
		return str(b.String()), nil
	}, tyString, nil
}

func pad(s string, align int) string {
	switch {
	case align > len(s):
		return strings.Repeat(" ", align-len(s)) + s
	case -align > len(s):
		return s + strings.Repeat(" ", -align-len(s))
	}
	return s
}

// eval1 counts one step and evaluates an operand.
func eval1(c *Context, x evalFn) (Value, error) {
	if err := c.tick(); err != nil {
		return Value{}, err
	}
	return x(c)
}

// eval2 counts one step and evaluates both operands of a binary operator, in
// order.
func eval2(c *Context, x, y evalFn) (v, w Value, err error) {
	if err = c.tick(); err != nil {
		return
	}
	if v, err = x(c); err != nil {
		return
	}
	w, err = y(c)
	return
}
