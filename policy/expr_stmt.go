package policy

import (
	"errors"
	"strings"
)

// This file compiles @{ } statement blocks, assignments, lambdas and object
// creation. Loops count a step per iteration, so a runaway loop exhausts the
// step budget (ErrBudget) and fails its request through on-error.

type ctl uint8

const (
	ctlNext ctl = iota
	ctlReturn
	ctlBreak
	ctlContinue
)

type stmtFn func(c *Context) (ctl, Value, error)

// compileBody compiles the statements of a @{ } block; it must return a value.
func (cc *compiler) compileBody(body []*stmt) (evalFn, typ, *exprError) {
	if !returns(body) {
		off := 0
		if len(body) > 0 {
			off = body[len(body)-1].off
		}
		return nil, "", errSyntaxAt(off, "a @{ } block must return a value (no return statement found)")
	}
	fns, rt, err := cc.compileStmts(body)
	if err != nil {
		return nil, "", err
	}
	return func(c *Context) (Value, error) {
		for _, f := range fns {
			k, v, err := f(c)
			if err != nil {
				return Value{}, err
			}
			if k == ctlReturn {
				return v, nil
			}
		}
		return Value{}, nil
	}, rt, nil
}

func returns(body []*stmt) bool {
	for _, s := range body {
		if stmtReturns(s) {
			return true
		}
	}
	return false
}

func stmtReturns(s *stmt) bool {
	switch s.k {
	case sReturn, sThrow:
		return true
	case sBlock:
		return returns(s.body)
	case sIf:
		return stmtReturns(s.then) || s.els != nil && stmtReturns(s.els)
	case sForeach, sFor, sWhile, sDo, sUsing:
		return stmtReturns(s.then)
	case sTry:
		if stmtReturns(s.then) {
			return true
		}
		for _, c := range s.catch {
			if stmtReturns(c.body) {
				return true
			}
		}
	case sSwitch:
		for _, c := range s.cases {
			if returns(c.body) {
				return true
			}
		}
	}
	return false
}

// compileStmts compiles a statement list; rt is the type of the returns when
// they agree.
func (cc *compiler) compileStmts(body []*stmt) ([]stmtFn, typ, *exprError) {
	out := make([]stmtFn, 0, len(body))
	var rt typ
	// Local functions are visible in their whole block.
	for _, s := range body {
		if s.k != sFunc {
			continue
		}
		l, err := cc.declare(s.off, s.names[0], "Func")
		if err != nil {
			return nil, "", err
		}
		l.fn = &localFunc{ret: normType(s.typ)}
	}
	for _, s := range body {
		f, t, err := cc.compileStmt(s)
		if err != nil {
			return nil, "", err
		}
		rt = joinT(rt, t)
		out = append(out, f)
	}
	return out, rt, nil
}

func joinT(a, b typ) typ {
	switch {
	case a == "":
		return b
	case b == "" || a == b:
		return a
	case a == tyNull:
		return b
	case b == tyNull:
		return a
	}
	return tyAny
}

func runStmts(c *Context, fns []stmtFn) (ctl, Value, error) {
	for _, f := range fns {
		k, v, err := f(c)
		if err != nil || k != ctlNext {
			return k, v, err
		}
	}
	return ctlNext, Value{}, nil
}

func (cc *compiler) compileScoped(s *stmt) (stmtFn, typ, *exprError) {
	cc.push()
	defer cc.pop()
	return cc.compileStmt(s)
}

func (cc *compiler) compileStmt(s *stmt) (stmtFn, typ, *exprError) {
	switch s.k {
	case sEmpty:
		return func(c *Context) (ctl, Value, error) { return ctlNext, Value{}, nil }, "", nil
	case sExpr:
		f, _, err := cc.compile(s.x)
		if err != nil {
			return nil, "", err
		}
		return func(c *Context) (ctl, Value, error) {
			_, err := f(c)
			return ctlNext, Value{}, err
		}, "", nil
	case sDecl:
		return cc.compileDecl(s)
	case sBlock:
		cc.push()
		defer cc.pop()
		fns, rt, err := cc.compileStmts(s.body)
		if err != nil {
			return nil, "", err
		}
		return func(c *Context) (ctl, Value, error) { return runStmts(c, fns) }, rt, nil
	case sReturn:
		if s.x == nil {
			return nil, "", errSyntaxAt(s.off, "return needs a value in a policy expression")
		}
		f, t, err := cc.compile(s.x)
		if err != nil {
			return nil, "", err
		}
		return func(c *Context) (ctl, Value, error) {
			v, err := f(c)
			return ctlReturn, v, err
		}, t, nil
	case sThrow:
		return cc.compileThrow(s)
	case sBreak, sContinue:
		if cc.loops == 0 {
			return nil, "", errSyntaxAt(s.off, "break or continue outside a loop or switch")
		}
		k := ctlBreak
		if s.k == sContinue {
			k = ctlContinue
		}
		return func(c *Context) (ctl, Value, error) { return k, Value{}, nil }, "", nil
	case sIf:
		cond, ct, err := cc.compile(s.x)
		if err != nil {
			return nil, "", err
		}
		if err := wantType(s.x, ct, tyBool); err != nil {
			return nil, "", err
		}
		then, t1, err := cc.compileScoped(s.then)
		if err != nil {
			return nil, "", err
		}
		var els stmtFn
		var t2 typ
		if s.els != nil {
			if els, t2, err = cc.compileScoped(s.els); err != nil {
				return nil, "", err
			}
		}
		return func(c *Context) (ctl, Value, error) {
			v, err := eval1(c, cond)
			if err != nil {
				return ctlNext, Value{}, err
			}
			if v.k != kBool {
				return ctlNext, Value{}, evalErr("if condition is %s, not bool", runtimeType(v))
			}
			if v.b {
				return then(c)
			}
			if els != nil {
				return els(c)
			}
			return ctlNext, Value{}, nil
		}, joinT(t1, t2), nil
	case sWhile, sDo:
		return cc.compileWhile(s)
	case sFor:
		return cc.compileFor(s)
	case sForeach:
		return cc.compileForeach(s)
	case sTry:
		return cc.compileTry(s)
	case sSwitch:
		return cc.compileSwitch(s)
	case sFunc:
		return cc.compileLocalFunc(s)
	case sUsing:
		cc.push()
		defer cc.pop()
		res, _, err := cc.compileStmt(s.init[0])
		if err != nil {
			return nil, "", err
		}
		body, t, err := cc.compileScoped(s.then)
		if err != nil {
			return nil, "", err
		}
		return func(c *Context) (ctl, Value, error) {
			if _, _, err := res(c); err != nil {
				return ctlNext, Value{}, err
			}
			return body(c)
		}, t, nil
	}
	return nil, "", errSyntaxAt(s.off, "unexpected statement")
}

func (cc *compiler) compileDecl(s *stmt) (stmtFn, typ, *exprError) {
	declared := tyAny
	if s.typ != "var" {
		declared = normType(s.typ)
		if !castable(declared) {
			return nil, "", errUnsupportedAt(s.off, "type %s is not supported", s.typ)
		}
	}
	type one struct {
		slot int
		init evalFn
		conv typ
	}
	var all []one
	for i, name := range s.names {
		var init evalFn
		t := declared
		if s.inits[i] != nil {
			f, it, err := cc.compile(s.inits[i])
			if err != nil {
				return nil, "", err
			}
			init = f
			if s.typ == "var" {
				t = it
				if t == tyNull || t == tyVoid {
					t = tyAny
				}
			} else if primitive(it) && primitive(declared) && it != declared && !(it == tyInt && declared == tyDouble) {
				return nil, "", errUnsupportedAt(s.inits[i].off, "cannot convert %s to %s", it, declared)
			}
		}
		l, err := cc.declare(s.off, name, t)
		if err != nil {
			return nil, "", err
		}
		conv := typ("")
		if s.typ != "var" {
			conv = declared
		}
		all = append(all, one{slot: l.slot, init: init, conv: conv})
	}
	return func(c *Context) (ctl, Value, error) {
		for _, o := range all {
			v := zeroOf(declared)
			if o.init != nil {
				var err error
				if v, err = o.init(c); err != nil {
					return ctlNext, Value{}, err
				}
				if o.conv != "" {
					v = implicitConvert(v, o.conv)
				}
			}
			c.x.loc[o.slot] = v
		}
		return ctlNext, Value{}, nil
	}, "", nil
}

func (cc *compiler) compileThrow(s *stmt) (stmtFn, typ, *exprError) {
	if s.x == nil {
		return func(c *Context) (ctl, Value, error) {
			return ctlNext, Value{}, &thrown{typ: "Exception", msg: "rethrow outside catch"}
		}, "", nil
	}
	f, _, err := cc.compile(s.x)
	if err != nil {
		return nil, "", err
	}
	return func(c *Context) (ctl, Value, error) {
		v, err := f(c)
		if err != nil {
			return ctlNext, Value{}, err
		}
		if e, ok := v.o.(*exceptionValue); ok && v.k == kObject {
			return ctlNext, Value{}, &thrown{typ: e.typ, msg: e.msg}
		}
		return ctlNext, Value{}, &thrown{typ: "Exception", msg: v.String()}
	}, "", nil
}

func (cc *compiler) loopBody(s *stmt) (stmtFn, typ, *exprError) {
	cc.loops++
	defer func() { cc.loops-- }()
	return cc.compileScoped(s)
}

func (cc *compiler) compileWhile(s *stmt) (stmtFn, typ, *exprError) {
	cond, ct, err := cc.compile(s.x)
	if err != nil {
		return nil, "", err
	}
	if err := wantType(s.x, ct, tyBool); err != nil {
		return nil, "", err
	}
	body, t, err := cc.loopBody(s.then)
	if err != nil {
		return nil, "", err
	}
	do := s.k == sDo
	return func(c *Context) (ctl, Value, error) {
		first := do
		for {
			if !first {
				v, err := eval1(c, cond)
				if err != nil {
					return ctlNext, Value{}, err
				}
				if v.k != kBool {
					return ctlNext, Value{}, evalErr("while condition is %s, not bool", runtimeType(v))
				}
				if !v.b {
					return ctlNext, Value{}, nil
				}
			}
			first = false
			if err := c.tick(); err != nil {
				return ctlNext, Value{}, err
			}
			k, v, err := body(c)
			if err != nil || k == ctlReturn {
				return k, v, err
			}
			if k == ctlBreak {
				return ctlNext, Value{}, nil
			}
		}
	}, t, nil
}

func (cc *compiler) compileFor(s *stmt) (stmtFn, typ, *exprError) {
	cc.push()
	defer cc.pop()
	inits, _, err := cc.compileStmts(s.init)
	if err != nil {
		return nil, "", err
	}
	var cond evalFn
	if s.x != nil {
		var ct typ
		if cond, ct, err = cc.compile(s.x); err != nil {
			return nil, "", err
		}
		if err := wantType(s.x, ct, tyBool); err != nil {
			return nil, "", err
		}
	}
	var iters []evalFn
	for _, it := range s.iter {
		f, _, err := cc.compile(it)
		if err != nil {
			return nil, "", err
		}
		iters = append(iters, f)
	}
	body, t, err := cc.loopBody(s.then)
	if err != nil {
		return nil, "", err
	}
	return func(c *Context) (ctl, Value, error) {
		if _, _, err := runStmts(c, inits); err != nil {
			return ctlNext, Value{}, err
		}
		for {
			if cond != nil {
				v, err := eval1(c, cond)
				if err != nil {
					return ctlNext, Value{}, err
				}
				if v.k != kBool || !v.b {
					return ctlNext, Value{}, nil
				}
			}
			if err := c.tick(); err != nil {
				return ctlNext, Value{}, err
			}
			k, v, err := body(c)
			if err != nil || k == ctlReturn {
				return k, v, err
			}
			if k == ctlBreak {
				return ctlNext, Value{}, nil
			}
			for _, f := range iters {
				if _, err := f(c); err != nil {
					return ctlNext, Value{}, err
				}
			}
		}
	}, t, nil
}

func (cc *compiler) compileForeach(s *stmt) (stmtFn, typ, *exprError) {
	coll, _, err := cc.compile(s.x)
	if err != nil {
		return nil, "", err
	}
	cc.push()
	defer cc.pop()
	t := tyAny
	if s.typ != "var" {
		t = normType(s.typ)
	}
	l, ee := cc.declare(s.off, s.names[0], t)
	if ee != nil {
		return nil, "", ee
	}
	slot := l.slot
	body, rt, err := cc.loopBody(s.then)
	if err != nil {
		return nil, "", err
	}
	return func(c *Context) (ctl, Value, error) {
		v, err := eval1(c, coll)
		if err != nil {
			return ctlNext, Value{}, err
		}
		items, err := enumerate(c, v)
		if err != nil {
			return ctlNext, Value{}, err
		}
		for _, it := range items {
			if err := c.tick(); err != nil {
				return ctlNext, Value{}, err
			}
			c.x.loc[slot] = it
			k, v, err := body(c)
			if err != nil || k == ctlReturn {
				return k, v, err
			}
			if k == ctlBreak {
				break
			}
		}
		return ctlNext, Value{}, nil
	}, rt, nil
}

func (cc *compiler) compileTry(s *stmt) (stmtFn, typ, *exprError) {
	body, t, err := cc.compileScoped(s.then)
	if err != nil {
		return nil, "", err
	}
	type handler struct {
		typ  string
		slot int
		body stmtFn
	}
	var hs []handler
	for _, cl := range s.catch {
		cc.push()
		h := handler{typ: strings.TrimPrefix(stripNamespace(cl.typ), "System."), slot: -1}
		if cl.name != "" {
			l, ee := cc.declare(s.off, cl.name, "Exception")
			if ee != nil {
				cc.pop()
				return nil, "", ee
			}
			h.slot = l.slot
		}
		f, ht, ee := cc.compileStmt(cl.body)
		cc.pop()
		if ee != nil {
			return nil, "", ee
		}
		t = joinT(t, ht)
		h.body = f
		hs = append(hs, h)
	}
	var fin stmtFn
	if s.fin != nil {
		if fin, _, err = cc.compileScoped(s.fin); err != nil {
			return nil, "", err
		}
	}
	return func(c *Context) (ctl, Value, error) {
		k, v, err := body(c)
		if err != nil && !errors.Is(err, ErrBudget) {
			ex := exceptionOf(err)
			for _, h := range hs {
				if h.typ != "Exception" && h.typ != ex.typ {
					continue
				}
				if h.slot >= 0 {
					c.x.loc[h.slot] = objValue(ex)
				}
				k, v, err = h.body(c)
				break
			}
		}
		if fin != nil {
			if fk, fv, ferr := fin(c); ferr != nil || fk != ctlNext {
				return fk, fv, ferr
			}
		}
		return k, v, err
	}, t, nil
}

// exceptionOf turns an evaluation error into the exception a catch sees.
func exceptionOf(err error) *exceptionValue {
	var th *thrown
	if errors.As(err, &th) {
		return &exceptionValue{typ: th.typ, msg: th.msg}
	}
	msg := strings.TrimPrefix(err.Error(), ErrEval.Error()+": ")
	typ := "Exception"
	switch {
	case strings.Contains(msg, "object reference not set"):
		typ = "NullReferenceException"
	case strings.Contains(msg, "cannot cast"):
		typ = "InvalidCastException"
	case strings.Contains(msg, "not a valid") || strings.Contains(msg, "format"):
		typ = "FormatException"
	case strings.Contains(msg, "outside"):
		typ = "IndexOutOfRangeException"
	}
	return &exceptionValue{typ: typ, msg: msg}
}

func (cc *compiler) compileSwitch(s *stmt) (stmtFn, typ, *exprError) {
	subj, _, err := cc.compile(s.x)
	if err != nil {
		return nil, "", err
	}
	type arm struct {
		labels []evalFn
		dflt   bool
		body   []stmtFn
	}
	var arms []arm
	var rt typ
	cc.loops++
	defer func() { cc.loops-- }()
	cc.push()
	defer cc.pop()
	for _, sc := range s.cases {
		a := arm{dflt: sc.hasDflt}
		for _, l := range sc.labels {
			f, _, err := cc.compile(l)
			if err != nil {
				return nil, "", err
			}
			a.labels = append(a.labels, f)
		}
		body, t, err := cc.compileStmts(sc.body)
		if err != nil {
			return nil, "", err
		}
		rt = joinT(rt, t)
		a.body = body
		arms = append(arms, a)
	}
	return func(c *Context) (ctl, Value, error) {
		v, err := eval1(c, subj)
		if err != nil {
			return ctlNext, Value{}, err
		}
		chosen := -1
		for i, a := range arms {
			for _, l := range a.labels {
				w, err := l(c)
				if err != nil {
					return ctlNext, Value{}, err
				}
				if looseEqual(v, w) {
					chosen = i
					break
				}
			}
			if chosen >= 0 {
				break
			}
		}
		if chosen < 0 {
			for i, a := range arms {
				if a.dflt {
					chosen = i
				}
			}
		}
		if chosen < 0 {
			return ctlNext, Value{}, nil
		}
		k, r, err := runStmts(c, arms[chosen].body)
		if k == ctlBreak {
			k = ctlNext
		}
		return k, r, err
	}, rt, nil
}

// Assignments.

// lvalue compiles an assignment target into a getter and a setter.
func (cc *compiler) lvalue(n *node) (evalFn, func(c *Context, v Value) error, typ, *exprError) {
	switch n.k {
	case nIdent:
		l := cc.lookup(n.op)
		if l == nil {
			return nil, nil, "", errSyntaxAt(n.off, "the name %q does not exist (declare it with var or a type)", n.op)
		}
		slot := l.slot
		lt := l.t
		get := func(c *Context) (Value, error) { return c.x.loc[slot], nil }
		return get, func(c *Context, v Value) error {
			c.x.loc[slot] = implicitConvert(v, lt)
			return nil
		}, l.t, nil
	case nIndex:
		recv, rt, err := cc.compile(n.x)
		if err != nil {
			return nil, nil, "", err
		}
		if p, _ := dotted(n.x); p == "context.Variables" {
			return nil, nil, "", errUnsupportedAt(n.off, "context.Variables is read-only in expressions (use set-variable)")
		}
		if ti := lookupType(string(rt)); ti != nil && rt != tyAny && ti.setIndex == nil {
			return nil, nil, "", errUnsupportedAt(n.off, "%s cannot be assigned through an indexer", rt)
		}
		idx, _, err := cc.compile(n.y)
		if err != nil {
			return nil, nil, "", err
		}
		get, _, err := cc.compileIndex(n)
		if err != nil {
			return nil, nil, "", err
		}
		return get, func(c *Context, v Value) error {
			r, err := recv(c)
			if err != nil {
				return err
			}
			k, err := idx(c)
			if err != nil {
				return err
			}
			if r.k == kNull {
				return evalErr("indexing null")
			}
			ti := lookupType(runtimeType(r))
			if ti == nil || ti.setIndex == nil {
				return evalErr("%s cannot be assigned through an indexer", runtimeType(r))
			}
			return ti.setIndex(c, r, k, v)
		}, tyAny, nil
	case nMember:
		recv, rt, err := cc.compile(n.x)
		if err != nil {
			return nil, nil, "", err
		}
		name := n.op
		if ti := lookupType(string(rt)); ti != nil && rt != tyAny {
			m := ti.prop(name)
			if m == nil || m.set == nil {
				return nil, nil, "", errUnsupportedAt(n.off, "%s.%s cannot be assigned", rt, name)
			}
		}
		get, t, err := cc.compileMember(n)
		if err != nil {
			return nil, nil, "", err
		}
		return get, func(c *Context, v Value) error {
			r, err := recv(c)
			if err != nil {
				return err
			}
			if r.k == kNull {
				return nullRef(name)
			}
			m := lookupType(runtimeType(r)).prop(name)
			if m == nil || m.set == nil {
				return evalErr("%s.%s cannot be assigned", runtimeType(r), name)
			}
			return m.set(c, r, v)
		}, t, nil
	}
	return nil, nil, "", errSyntaxAt(n.off, "cannot assign to this expression")
}

func (cc *compiler) compileAssign(n *node) (evalFn, typ, *exprError) {
	get, set, lt, err := cc.lvalue(n.x)
	if err != nil {
		return nil, "", err
	}
	rhs, rt, err := cc.compile(n.y)
	if err != nil {
		return nil, "", err
	}
	op := strings.TrimSuffix(n.op, "=")
	if op == "" {
		if primitive(lt) && primitive(rt) && lt != rt && !(lt == tyDouble && rt == tyInt) {
			return nil, "", errUnsupportedAt(n.y.off, "cannot convert %s to %s", rt, lt)
		}
		return func(c *Context) (Value, error) {
			v, err := eval1(c, rhs)
			if err != nil {
				return Value{}, err
			}
			return v, set(c, v)
		}, rt, nil
	}
	return func(c *Context) (Value, error) {
		if err := c.tick(); err != nil {
			return Value{}, err
		}
		old, err := get(c)
		if err != nil {
			return Value{}, err
		}
		var v Value
		if op == "??" {
			if old.k != kNull {
				return old, nil
			}
			if v, err = rhs(c); err != nil {
				return Value{}, err
			}
		} else {
			w, err := rhs(c)
			if err != nil {
				return Value{}, err
			}
			if v, err = arith(c, op, old, w); err != nil {
				return Value{}, err
			}
		}
		return v, set(c, v)
	}, lt, nil
}

func (cc *compiler) compileIncDec(n *node) (evalFn, typ, *exprError) {
	get, set, t, err := cc.lvalue(n.x)
	if err != nil {
		return nil, "", err
	}
	d := int64(1)
	if n.op == "--" {
		d = -1
	}
	post := n.post
	return func(c *Context) (Value, error) {
		if err := c.tick(); err != nil {
			return Value{}, err
		}
		old, err := get(c)
		if err != nil {
			return Value{}, err
		}
		nv, err := arith(c, "+", old, IntValue(d))
		if err != nil {
			return Value{}, err
		}
		if err := set(c, nv); err != nil {
			return Value{}, err
		}
		if post {
			return old, nil
		}
		return nv, nil
	}, t, nil
}

// Lambdas.

// lambda is a compiled x => … closure. Its parameters live in the
// evaluation's local slots, so calling it does not allocate.
type lambda struct {
	slots []int
	body  evalFn
}

func (l *lambda) typeName() string { return "Func" }
func (l *lambda) String() string   { return "System.Func" }

func (l *lambda) call(c *Context, args ...Value) (Value, error) {
	if err := c.tick(); err != nil {
		return Value{}, err
	}
	for i, s := range l.slots {
		if i < len(args) {
			c.x.loc[s] = args[i]
		}
	}
	return l.body(c)
}

func (cc *compiler) compileLambda(n *node) (evalFn, typ, *exprError) {
	cc.push()
	defer cc.pop()
	lam := &lambda{}
	for _, p := range n.params {
		l, err := cc.declare(n.off, p, tyAny)
		if err != nil {
			return nil, "", err
		}
		lam.slots = append(lam.slots, l.slot)
	}
	if n.body != nil {
		f, _, err := cc.compileBody(n.body.body)
		if err != nil {
			return nil, "", err
		}
		lam.body = f
	} else {
		f, _, err := cc.compile(n.x)
		if err != nil {
			return nil, "", err
		}
		lam.body = f
	}
	v := objValue(lam)
	return func(c *Context) (Value, error) { return v, nil }, "Func", nil
}

// Object creation.

func (cc *compiler) compileNew(n *node) (evalFn, typ, *exprError) {
	var ctor *method
	t := normType(n.op)
	if n.op == "<anonymous>" {
		t = "JObject"
		ctor = types["JObject"].ctor
	} else {
		ti := lookupType(n.op)
		if ti == nil || ti.ctor == nil {
			return nil, "", errUnsupportedAt(n.off, "new %s is not supported", n.op)
		}
		ctor = ti.ctor
	}
	targ := ""
	if i := strings.IndexByte(n.op, '<'); i >= 0 {
		targ = n.op[i+1 : len(n.op)-1]
	}
	call := &node{k: nCall, off: n.off, args: n.args, argNames: n.argNames, outs: n.outs}
	args, ats, err := cc.compileArgs(call, ctor.params)
	if err != nil {
		return nil, "", err
	}
	if len(args) < ctor.min || ctor.max >= 0 && len(args) > ctor.max {
		return nil, "", errUnsupportedAt(n.off, "new %s takes %s, found %d", n.op, argRange(ctor.min, ctor.max), len(args))
	}
	if ctor.check != nil {
		if msg := ctor.check(ats, targ); msg != "" {
			return nil, "", errUnsupportedAt(n.off, "new %s: %s", n.op, msg)
		}
	}
	if ctor.checkArgs != nil {
		if i, msg := ctor.checkArgs(n.args); msg != "" {
			return nil, "", errUnsupportedAt(n.args[i].off, "new %s: %s", n.op, msg)
		}
	}
	type entry struct {
		args []evalFn
		key  evalFn
		name string
		val  evalFn
	}
	var inits []entry
	for _, e := range n.init {
		var en entry
		for _, a := range e.args {
			f, _, err := cc.compile(a)
			if err != nil {
				return nil, "", err
			}
			en.args = append(en.args, f)
		}
		if e.key != nil {
			f, _, err := cc.compile(e.key)
			if err != nil {
				return nil, "", err
			}
			en.key = f
		}
		if e.val != nil {
			f, _, err := cc.compile(e.val)
			if err != nil {
				return nil, "", err
			}
			en.val = f
		}
		en.name = e.name
		if n.op == "<anonymous>" && en.name == "" && e.val != nil && e.key == nil && len(e.args) == 0 {
			// Projection initializer: new { exp, x.Name } names members after them.
			switch e.val.k {
			case nIdent, nMember:
				en.name = e.val.op
			default:
				return nil, "", errSyntaxAt(e.off, "an anonymous type member needs a name (Name = value)")
			}
		}
		if en.name != "" && n.op != "<anonymous>" {
			if ti := lookupType(string(t)); ti.prop(en.name) == nil || ti.prop(en.name).set == nil {
				return nil, "", errUnsupportedAt(e.off, "%s.%s cannot be set in an object initializer", n.op, en.name)
			}
		}
		inits = append(inits, en)
	}
	anon := n.op == "<anonymous>"
	return func(c *Context) (Value, error) {
		if err := c.tick(); err != nil {
			return Value{}, err
		}
		av := make([]Value, len(args))
		for i, a := range args {
			v, err := a(c)
			if err != nil {
				return Value{}, err
			}
			av[i] = v
		}
		obj, err := ctor.fn(c, Value{}, av, targ)
		if err != nil {
			return Value{}, err
		}
		ti := lookupType(runtimeType(obj))
		for _, e := range inits {
			switch {
			case e.key != nil:
				k, err := e.key(c)
				if err != nil {
					return Value{}, err
				}
				v, err := e.val(c)
				if err != nil {
					return Value{}, err
				}
				if ti.setIndex == nil {
					return Value{}, evalErr("%s has no indexer", runtimeType(obj))
				}
				if err := ti.setIndex(c, obj, k, v); err != nil {
					return Value{}, err
				}
			case e.name != "":
				v, err := e.val(c)
				if err != nil {
					return Value{}, err
				}
				if anon {
					if err := ti.setIndex(c, obj, str(e.name), v); err != nil {
						return Value{}, err
					}
					continue
				}
				if err := ti.prop(e.name).set(c, obj, v); err != nil {
					return Value{}, err
				}
			default:
				var items []Value
				if e.val != nil {
					v, err := e.val(c)
					if err != nil {
						return Value{}, err
					}
					items = []Value{v}
				}
				for _, a := range e.args {
					v, err := a(c)
					if err != nil {
						return Value{}, err
					}
					items = append(items, v)
				}
				add := ti.method("Add")
				if add == nil {
					return Value{}, evalErr("%s has no Add method for a collection initializer", runtimeType(obj))
				}
				if len(items) < add.min || add.max >= 0 && len(items) > add.max {
					return Value{}, evalErr("%s.Add takes %s, found %d", runtimeType(obj), argRange(add.min, add.max), len(items))
				}
				if _, err := add.fn(c, obj, items, ""); err != nil {
					return Value{}, err
				}
			}
		}
		return obj, nil
	}, t, nil
}

func (cc *compiler) compileArray(n *node) (evalFn, typ, *exprError) {
	elem := normType(n.op)
	if n.op == "" {
		elem = ""
	}
	var items []evalFn
	var size evalFn
	var ets typ
	for _, a := range n.args {
		f, t, err := cc.compile(a)
		if err != nil {
			return nil, "", err
		}
		ets = joinT(ets, t)
		items = append(items, f)
	}
	if n.x != nil {
		f, _, err := cc.compile(n.x)
		if err != nil {
			return nil, "", err
		}
		size = f
	}
	if elem == "" {
		elem = ets
	}
	rt := typ("List")
	switch elem {
	case tyString:
		rt = tyStrings
	case tyInt:
		if strings.TrimSpace(n.op) == "byte" || n.op == "Byte" {
			rt = "byte[]"
		}
	}
	return func(c *Context) (Value, error) {
		if err := c.tick(); err != nil {
			return Value{}, err
		}
		if size != nil {
			s, err := size(c)
			if err != nil {
				return Value{}, err
			}
			if s.k != kInt || s.i < 0 {
				return Value{}, evalErr("array size must be a non-negative int")
			}
			if s.i > DefaultMemoryBudget {
				return Value{}, ErrBudget
			}
			if err := c.charge(int(s.i) * 8); err != nil {
				return Value{}, err
			}
			switch rt {
			case "byte[]":
				return objValue(&byteArray{b: make([]byte, s.i)}), nil
			case tyStrings:
				return Value{k: kStrings, a: make([]string, s.i)}, nil
			}
			return objValue(&seq{items: make([]Value, s.i)}), nil
		}
		vals := make([]Value, len(items))
		for i, f := range items {
			v, err := f(c)
			if err != nil {
				return Value{}, err
			}
			vals[i] = v
		}
		switch rt {
		case "byte[]":
			b := make([]byte, len(vals))
			for i, v := range vals {
				b[i] = byte(v.i)
			}
			return objValue(&byteArray{b: b}), nil
		case tyStrings:
			a := make([]string, len(vals))
			for i, v := range vals {
				a[i] = v.s
			}
			return Value{k: kStrings, a: a}, nil
		}
		return objValue(&seq{items: vals}), nil
	}, rt, nil
}

func (cc *compiler) compileLocalFunc(s *stmt) (stmtFn, typ, *exprError) {
	lf := cc.lookup(s.names[0]).fn
	cc.push()
	defer cc.pop()
	saved := cc.loops
	cc.loops = 0
	defer func() { cc.loops = saved }()
	for _, p := range s.names[1:] {
		l, err := cc.declare(s.off, p, tyAny)
		if err != nil {
			return nil, "", err
		}
		lf.params = append(lf.params, l.slot)
	}
	if lf.ret != tyVoid && !stmtReturns(s.then) {
		return nil, "", errSyntaxAt(s.off, "local function %s must return a value", s.names[0])
	}
	cc.push()
	fns, _, err := cc.compileStmts(s.then.body)
	cc.pop()
	if s.then.k != sBlock {
		fns, _, err = cc.compileStmts([]*stmt{s.then})
	}
	if err != nil {
		return nil, "", err
	}
	lf.body = func(c *Context) (Value, error) {
		k, v, err := runStmts(c, fns)
		if err != nil {
			return Value{}, err
		}
		if k == ctlReturn {
			return v, nil
		}
		return Value{}, nil
	}
	return func(c *Context) (ctl, Value, error) { return ctlNext, Value{}, nil }, "", nil
}

func (cc *compiler) compileLocalCall(n *node, lf *localFunc) (evalFn, typ, *exprError) {
	args, _, err := cc.compileArgs(n, nil)
	if err != nil {
		return nil, "", err
	}
	return func(c *Context) (Value, error) {
		if err := c.tick(); err != nil {
			return Value{}, err
		}
		if len(args) != len(lf.params) {
			return Value{}, evalErr("local function takes %d arguments, found %d", len(lf.params), len(args))
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
		// Save the parameters' current values (recursion), then bind.
		for i, s := range lf.params {
			old := c.x.loc[s]
			c.x.loc[s] = c.x.stack[base+i]
			c.x.stack[base+i] = old
		}
		v, err := lf.body(c)
		for i, s := range lf.params {
			c.x.loc[s] = c.x.stack[base+i]
		}
		c.x.stack = c.x.stack[:base]
		return v, err
	}, lf.ret, nil
}
