package policy

import (
	"fmt"
	"strings"
)

// typ is an expression's static type, as far as the compiler knows it. tyAny
// is "object": a context variable or a GetValueOrDefault without <T>.
type typ uint8

const (
	tyAny typ = iota
	tyNull
	tyBool
	tyInt
	tyString
	tyStrings
)

var typNames = [...]string{"object", "null", "bool", "int", "string", "string[]"}

func (t typ) String() string { return typNames[t] }

type evalFn func(c *Context) (Value, error)

// expr is a compiled expression: a tree of closures built once per snapshot.
// Evaluating it does no parsing and, for the members and operators that do not
// build strings, no allocation.
type expr struct {
	fn evalFn
	t  typ
}

func (e *expr) eval(c *Context) (Value, error) {
	c.steps = 0
	if c.budget <= 0 {
		c.budget = DefaultStepBudget
	}
	return e.fn(c)
}

func evalErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrEval, fmt.Sprintf(format, args...))
}

// compileExpression compiles the body of @( … ) or @{ … }. Error offsets are
// relative to src.
func compileExpression(src string, block bool) (*expr, *exprError) {
	n, err := parseProgram(src, block)
	if err != nil {
		if ee, ok := err.(*exprError); ok {
			return nil, ee
		}
		return nil, errSyntaxAt(0, "%v", err)
	}
	fn, t, ee := compileNode(n)
	if ee != nil {
		return nil, ee
	}
	return &expr{fn: fn, t: t}, nil
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
	case kString:
		return tyString
	}
	return tyStrings
}

// path renders a member chain rooted at an identifier ("context.Request.Method").
func path(n *node) (string, bool) {
	switch n.k {
	case nIdent:
		return n.op, true
	case nMember:
		if len(n.typeArgs) > 0 {
			return "", false
		}
		p, ok := path(n.x)
		return p + "." + n.op, ok
	}
	return "", false
}

// dictionaries are context members usable only with GetValueOrDefault,
// ContainsKey or an indexer.
var dictionaries = map[string]bool{
	"context.Request.Headers":           true,
	"context.Request.Url.Query":         true,
	"context.Request.MatchedParameters": true,
	"context.Variables":                 true,
}

func str(s string) Value { return Value{k: kString, s: s} }

func nonEmpty(what, s string) (Value, error) {
	if s == "" {
		return Value{}, evalErr("%s is null", what)
	}
	return str(s), nil
}

// contextMembers are the value members of context this language supports.
var contextMembers = map[string]struct {
	t  typ
	fn func(c *Context) (Value, error)
}{
	"context.Request.Method":   {tyString, func(c *Context) (Value, error) { return str(c.Request.Method), nil }},
	"context.Request.Url.Path": {tyString, func(c *Context) (Value, error) { return str(c.Request.Path), nil }},
	"context.Request.IpAddress": {tyString, func(c *Context) (Value, error) {
		if !c.Request.ClientIP.IsValid() {
			return Value{}, nil
		}
		return str(c.Request.ClientIP.String()), nil
	}},
	"context.Subscription.Id": {tyString, func(c *Context) (Value, error) {
		return nonEmpty("context.Subscription (the request has no subscription)", c.ID.SubscriptionID)
	}},
	"context.Subscription.Key": {tyString, func(c *Context) (Value, error) {
		if c.ID.SubscriptionID == "" {
			return Value{}, evalErr("context.Subscription is null (the request has no subscription)")
		}
		return str(c.ID.SubscriptionKey), nil
	}},
	"context.Subscription.Name": {tyString, func(c *Context) (Value, error) {
		if c.ID.SubscriptionID == "" {
			return Value{}, evalErr("context.Subscription is null (the request has no subscription)")
		}
		return str(c.ID.SubscriptionName), nil
	}},
	"context.Product.Name": {tyString, func(c *Context) (Value, error) {
		return nonEmpty("context.Product (the request has no product)", c.ID.ProductName)
	}},
	"context.Api.Name":         {tyString, func(c *Context) (Value, error) { return str(c.ID.APIName), nil }},
	"context.Api.Path":         {tyString, func(c *Context) (Value, error) { return str(c.ID.APIPath), nil }},
	"context.Operation.Name":   {tyString, func(c *Context) (Value, error) { return str(c.ID.OperationName), nil }},
	"context.Operation.Method": {tyString, func(c *Context) (Value, error) { return str(c.ID.OperationMethod), nil }},
	"context.RequestId":        {tyString, func(c *Context) (Value, error) { return str(c.RequestID), nil }},
	"context.Response.StatusCode": {tyInt, func(c *Context) (Value, error) {
		return Value{k: kInt, i: int64(c.Response.StatusCode)}, nil
	}},
}

func compileNode(n *node) (evalFn, typ, *exprError) {
	switch n.k {
	case nLit:
		return constFn(n.lit), typOf(n.lit), nil
	case nIdent:
		switch n.op {
		case "context":
			return nil, 0, errUnsupportedAt(n.off, "context cannot be used as a value")
		case "string", "String":
			return nil, 0, errUnsupportedAt(n.off, "the type %s is only supported as string.Empty", n.op)
		}
		return nil, 0, errUnsupportedAt(n.off, "identifier %q is not supported (locals, types and static members are not part of this expression language)", n.op)
	case nMember:
		return compileMember(n)
	case nCall:
		return compileCall(n)
	case nIndex:
		return compileIndex(n)
	case nUnary:
		return compileUnary(n)
	case nBinary:
		return compileBinary(n)
	case nCond:
		return compileCond(n)
	case nCast:
		return compileCast(n)
	case nInterp:
		return compileInterp(n)
	}
	return nil, 0, errSyntaxAt(n.off, "unexpected expression")
}

func compileMember(n *node) (evalFn, typ, *exprError) {
	if p, ok := path(n); ok {
		if p == "string.Empty" || p == "String.Empty" {
			return constFn(str("")), tyString, nil
		}
		if m, ok := contextMembers[p]; ok {
			f := m.fn
			return func(c *Context) (Value, error) {
				if err := c.tick(); err != nil {
					return Value{}, err
				}
				return f(c)
			}, m.t, nil
		}
		if dictionaries[p] {
			return nil, 0, errUnsupportedAt(chainStart(n), "%s can only be used with GetValueOrDefault, ContainsKey or [ ]", p)
		}
		px, _ := path(n.x)
		if n.op != "Length" || !isValuePath(px) {
			if strings.HasPrefix(p, "context.") {
				return nil, 0, errUnsupportedAt(chainStart(n), "%s is not supported", p)
			}
			return nil, 0, errUnsupportedAt(chainStart(n), "%s is not supported (static members of .NET types are not part of this expression language)", p)
		}
	}
	recv, rt, err := compileNode(n.x)
	if err != nil {
		return nil, 0, err
	}
	if n.op != "Length" {
		return nil, 0, errUnsupportedAt(n.off, "member %s of %s is not supported", n.op, rt)
	}
	if rt != tyString && rt != tyStrings && rt != tyAny {
		return nil, 0, errUnsupportedAt(n.off, "Length is not defined on %s", rt)
	}
	return func(c *Context) (Value, error) {
		v, err := eval1(c, recv)
		if err != nil {
			return Value{}, err
		}
		switch v.k {
		case kString:
			return Value{k: kInt, i: int64(len(v.s))}, nil
		case kStrings:
			return Value{k: kInt, i: int64(len(v.a))}, nil
		case kNull:
			return Value{}, evalErr("Length of null")
		}
		return Value{}, evalErr("Length is not defined on %s", v.k)
	}, tyInt, nil
}

func compileArgs(args []*node) ([]evalFn, []typ, *exprError) {
	fns := make([]evalFn, len(args))
	ts := make([]typ, len(args))
	for i, a := range args {
		f, t, err := compileNode(a)
		if err != nil {
			return nil, nil, err
		}
		fns[i], ts[i] = f, t
	}
	return fns, ts, nil
}

func wantType(n *node, got, want typ) *exprError {
	if got == want || got == tyAny || got == tyNull && want == tyString {
		return nil
	}
	return errUnsupportedAt(n.off, "expected %s, found %s", want, got)
}

var genericTypes = map[string]typ{"string": tyString, "int": tyInt, "long": tyInt, "bool": tyBool, "object": tyAny}

// dictLookup returns the function that reads key from dictionary p.
func dictLookup(p string) func(c *Context, key string) (Value, bool) {
	switch p {
	case "context.Request.Headers":
		return func(c *Context, key string) (Value, bool) {
			s, ok := c.Request.Headers.Joined(key)
			return str(s), ok
		}
	case "context.Request.Url.Query":
		return func(c *Context, key string) (Value, bool) {
			s, ok := c.Request.Query.Get(key)
			return str(s), ok
		}
	case "context.Request.MatchedParameters":
		return func(c *Context, key string) (Value, bool) {
			s, ok := c.Request.MatchedParameters.Get(key)
			return str(s), ok
		}
	}
	return func(c *Context, key string) (Value, bool) {
		v, ok := c.vars[key]
		return v, ok
	}
}

func compileCall(n *node) (evalFn, typ, *exprError) {
	callee := n.x
	if callee.k != nMember {
		return nil, 0, errUnsupportedAt(n.off, "only methods can be called")
	}
	args, ats, err := compileArgs(n.args)
	if err != nil {
		return nil, 0, err
	}
	if p, ok := path(callee.x); ok && dictionaries[p] {
		return compileDictCall(n, p, callee, args, ats)
	}
	if px, ok := path(callee.x); ok && !isValuePath(px) {
		name := px + "." + callee.op
		if len(callee.typeArgs) > 0 {
			name += "<" + callee.typeArgs[0] + ">"
		}
		return nil, 0, errUnsupportedAt(chainStart(callee), "%s( ) is not supported", name)
	}
	if len(callee.typeArgs) > 0 {
		return nil, 0, errUnsupportedAt(callee.off, "generic method %s<%s> is not supported", callee.op, callee.typeArgs[0])
	}
	recv, rt, err := compileNode(callee.x)
	if err != nil {
		return nil, 0, err
	}
	return compileStringMethod(n, callee, recv, rt, args, ats)
}

// chainStart is the offset where a member chain begins ("context" in
// context.A.B), which is where an error about the whole chain should point.
func chainStart(n *node) int {
	for n.x != nil && (n.k == nMember || n.k == nCall || n.k == nIndex) {
		n = n.x
	}
	return n.off
}

func isValuePath(p string) bool { _, ok := contextMembers[p]; return ok }

func compileDictCall(n *node, p string, callee *node, args []evalFn, ats []typ) (evalFn, typ, *exprError) {
	lookup := dictLookup(p)
	isVars := p == "context.Variables"
	switch callee.op {
	case "ContainsKey":
		if len(args) != 1 {
			return nil, 0, errUnsupportedAt(n.off, "ContainsKey takes one argument")
		}
		if err := wantType(n.args[0], ats[0], tyString); err != nil {
			return nil, 0, err
		}
		key := args[0]
		return func(c *Context) (Value, error) {
			k, err := eval1(c, key)
			if err != nil {
				return Value{}, err
			}
			_, ok := lookup(c, k.s)
			return Value{k: kBool, b: ok}, nil
		}, tyBool, nil
	case "GetValueOrDefault":
		if len(args) < 1 || len(args) > 2 {
			return nil, 0, errUnsupportedAt(n.off, "GetValueOrDefault takes a name and an optional default")
		}
		if err := wantType(n.args[0], ats[0], tyString); err != nil {
			return nil, 0, err
		}
		rt := tyString
		if isVars {
			rt = tyAny
		}
		if len(callee.typeArgs) > 0 {
			if !isVars {
				return nil, 0, errUnsupportedAt(callee.off, "GetValueOrDefault<%s> is only supported on context.Variables", callee.typeArgs[0])
			}
			t, ok := genericTypes[callee.typeArgs[0]]
			if !ok {
				return nil, 0, errUnsupportedAt(callee.off, "GetValueOrDefault<%s>: type %s is not supported (string, int, long, bool, object)", callee.typeArgs[0], callee.typeArgs[0])
			}
			rt = t
		}
		var def evalFn
		if len(args) == 2 {
			if rt != tyAny {
				if err := wantType(n.args[1], ats[1], rt); err != nil {
					return nil, 0, err
				}
			}
			def = args[1]
		}
		key := args[0]
		zero := Value{}
		switch rt {
		case tyInt:
			zero = Value{k: kInt}
		case tyBool:
			zero = Value{k: kBool}
		}
		want := rt
		return func(c *Context) (Value, error) {
			k, err := eval1(c, key)
			if err != nil {
				return Value{}, err
			}
			v, ok := lookup(c, k.s)
			if !ok {
				if def != nil {
					return def(c)
				}
				return zero, nil
			}
			return castTo(v, want)
		}, rt, nil
	}
	return nil, 0, errUnsupportedAt(callee.off, "%s.%s is not supported (GetValueOrDefault, ContainsKey and [ ] are)", p, callee.op)
}

func compileIndex(n *node) (evalFn, typ, *exprError) {
	idx, it, err := compileNode(n.y)
	if err != nil {
		return nil, 0, err
	}
	if p, ok := path(n.x); ok && dictionaries[p] {
		if err := wantType(n.y, it, tyString); err != nil {
			return nil, 0, err
		}
		lookup := dictLookup(p)
		rt := tyString
		if p == "context.Variables" {
			rt = tyAny
		}
		return func(c *Context) (Value, error) {
			k, err := eval1(c, idx)
			if err != nil {
				return Value{}, err
			}
			v, ok := lookup(c, k.s)
			if !ok {
				return Value{}, evalErr("the key %q was not present in %s", k.s, p)
			}
			return v, nil
		}, rt, nil
	}
	recv, rt, err := compileNode(n.x)
	if err != nil {
		return nil, 0, err
	}
	if rt != tyStrings && rt != tyString && rt != tyAny {
		return nil, 0, errUnsupportedAt(n.off, "indexing is not defined on %s", rt)
	}
	if err := wantType(n.y, it, tyInt); err != nil {
		return nil, 0, err
	}
	out := tyString
	return func(c *Context) (Value, error) {
		v, err := eval1(c, recv)
		if err != nil {
			return Value{}, err
		}
		i, err := idx(c)
		if err != nil {
			return i, err
		}
		if i.k != kInt {
			return Value{}, evalErr("index is %s, not int", i.k)
		}
		switch v.k {
		case kStrings:
			if i.i < 0 || i.i >= int64(len(v.a)) {
				return Value{}, evalErr("index %d is outside the array of length %d", i.i, len(v.a))
			}
			return str(v.a[i.i]), nil
		case kString:
			if i.i < 0 || i.i >= int64(len(v.s)) {
				return Value{}, evalErr("index %d is outside the string of length %d", i.i, len(v.s))
			}
			return str(v.s[i.i : i.i+1]), nil
		case kNull:
			return Value{}, evalErr("indexing null")
		}
		return Value{}, evalErr("indexing is not defined on %s", v.k)
	}, out, nil
}

// stringMethods: name → (argument count range, result type).
var stringMethods = map[string]struct {
	min, max int
	t        typ
}{
	"Contains": {1, 1, tyBool}, "StartsWith": {1, 1, tyBool}, "EndsWith": {1, 1, tyBool}, "Equals": {1, 1, tyBool},
	"ToLower": {0, 0, tyString}, "ToUpper": {0, 0, tyString}, "ToLowerInvariant": {0, 0, tyString}, "ToUpperInvariant": {0, 0, tyString},
	"Trim": {0, 0, tyString}, "Split": {1, 8, tyStrings}, "Substring": {1, 2, tyString}, "Replace": {2, 2, tyString},
	"ToString": {0, 0, tyString},
}

func compileStringMethod(n, callee *node, recv evalFn, rt typ, args []evalFn, ats []typ) (evalFn, typ, *exprError) {
	m, ok := stringMethods[callee.op]
	if !ok {
		return nil, 0, errUnsupportedAt(callee.off, "method %s is not supported", callee.op)
	}
	if callee.op != "ToString" && callee.op != "Equals" && rt != tyString && rt != tyAny && rt != tyNull {
		return nil, 0, errUnsupportedAt(callee.off, "method %s is not defined on %s", callee.op, rt)
	}
	if len(args) < m.min || len(args) > m.max {
		return nil, 0, errUnsupportedAt(n.off, "%s takes %d to %d arguments, found %d", callee.op, m.min, m.max, len(args))
	}
	argT := tyString
	if callee.op == "Substring" {
		argT = tyInt
	}
	for i := range args {
		if callee.op == "Equals" {
			break
		}
		if err := wantType(n.args[i], ats[i], argT); err != nil {
			return nil, 0, err
		}
	}
	name := callee.op
	var a0, a1 evalFn
	if len(args) > 0 {
		a0 = args[0]
	}
	if len(args) > 1 {
		a1 = args[1]
	}
	return func(c *Context) (Value, error) {
		v, err := eval1(c, recv)
		if err != nil {
			return Value{}, err
		}
		if v.k == kNull {
			return Value{}, evalErr("%s called on null", name)
		}
		if name == "ToString" {
			return str(v.String()), nil
		}
		if name == "Equals" {
			w, err := a0(c)
			if err != nil {
				return w, err
			}
			return Value{k: kBool, b: v.equal(w)}, nil
		}
		if v.k != kString {
			return Value{}, evalErr("%s is not defined on %s", name, v.k)
		}
		s := v.s
		var x, y Value
		if a0 != nil {
			if x, err = a0(c); err != nil {
				return x, err
			}
			if argT == tyString && x.k != kString {
				return Value{}, evalErr("%s: argument is %s, not string", name, x.k)
			}
		}
		if a1 != nil {
			if y, err = a1(c); err != nil {
				return y, err
			}
		}
		switch name {
		case "Contains":
			return Value{k: kBool, b: strings.Contains(s, x.s)}, nil
		case "StartsWith":
			return Value{k: kBool, b: strings.HasPrefix(s, x.s)}, nil
		case "EndsWith":
			return Value{k: kBool, b: strings.HasSuffix(s, x.s)}, nil
		case "ToLower", "ToLowerInvariant":
			return str(strings.ToLower(s)), nil
		case "ToUpper", "ToUpperInvariant":
			return str(strings.ToUpper(s)), nil
		case "Trim":
			return str(strings.TrimSpace(s)), nil
		case "Replace":
			if y.k != kString && y.k != kNull {
				return Value{}, evalErr("Replace: argument is %s, not string", y.k)
			}
			if x.s == "" {
				return Value{}, evalErr("Replace: the old value is empty")
			}
			return str(strings.ReplaceAll(s, x.s, y.s)), nil
		case "Substring":
			if x.k != kInt || a1 != nil && y.k != kInt {
				return Value{}, evalErr("Substring takes int arguments")
			}
			start, end := x.i, int64(len(s))
			if a1 != nil {
				end = start + y.i
			}
			if start < 0 || start > int64(len(s)) || end < start || end > int64(len(s)) {
				return Value{}, evalErr("Substring(%d) is outside the string of length %d", start, len(s))
			}
			return str(s[start:end]), nil
		case "Split":
			seps := make([]string, 0, 2)
			seps = append(seps, x.s)
			for _, f := range args[1:] {
				w, err := f(c)
				if err != nil {
					return w, err
				}
				seps = append(seps, w.s)
			}
			return Value{k: kStrings, a: splitAny(s, seps)}, nil
		}
		return Value{}, evalErr("%s is not supported", name)
	}, m.t, nil
}

// splitAny splits s at every occurrence of any separator, keeping empty
// entries, like C#'s String.Split(params char[]).
func splitAny(s string, seps []string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); {
		matched := 0
		for _, sep := range seps {
			if sep != "" && strings.HasPrefix(s[i:], sep) {
				matched = len(sep)
				break
			}
		}
		if matched > 0 {
			out = append(out, s[start:i])
			i += matched
			start = i
			continue
		}
		i++
	}
	return append(out, s[start:])
}

func castTo(v Value, t typ) (Value, error) {
	switch t {
	case tyAny:
		return v, nil
	case tyString:
		if v.k == kString || v.k == kNull {
			return v, nil
		}
	case tyInt:
		if v.k == kInt {
			return v, nil
		}
	case tyBool:
		if v.k == kBool {
			return v, nil
		}
	case tyStrings:
		if v.k == kStrings || v.k == kNull {
			return v, nil
		}
	}
	return Value{}, evalErr("cannot cast %s to %s", v.k, t)
}

func compileCast(n *node) (evalFn, typ, *exprError) {
	x, xt, err := compileNode(n.x)
	if err != nil {
		return nil, 0, err
	}
	t := genericTypes[n.op]
	if xt != tyAny && xt != t && t != tyAny && !(xt == tyNull && t == tyString) {
		return nil, 0, errUnsupportedAt(n.off, "cannot cast %s to %s", xt, n.op)
	}
	return func(c *Context) (Value, error) {
		v, err := eval1(c, x)
		if err != nil {
			return Value{}, err
		}
		return castTo(v, t)
	}, t, nil
}

func compileUnary(n *node) (evalFn, typ, *exprError) {
	x, xt, err := compileNode(n.x)
	if err != nil {
		return nil, 0, err
	}
	if n.op == "!" {
		if err := wantType(n.x, xt, tyBool); err != nil {
			return nil, 0, err
		}
		return func(c *Context) (Value, error) {
			v, err := eval1(c, x)
			if err != nil {
				return Value{}, err
			}
			if v.k != kBool {
				return Value{}, evalErr("! applied to %s", v.k)
			}
			return Value{k: kBool, b: !v.b}, nil
		}, tyBool, nil
	}
	if err := wantType(n.x, xt, tyInt); err != nil {
		return nil, 0, err
	}
	return func(c *Context) (Value, error) {
		v, err := eval1(c, x)
		if err != nil {
			return Value{}, err
		}
		if v.k != kInt {
			return Value{}, evalErr("- applied to %s", v.k)
		}
		return Value{k: kInt, i: -v.i}, nil
	}, tyInt, nil
}

func comparable2(a, b typ) bool {
	return a == b || a == tyAny || b == tyAny || a == tyNull && b != tyInt && b != tyBool || b == tyNull && a != tyInt && a != tyBool
}

func compileBinary(n *node) (evalFn, typ, *exprError) {
	x, xt, err := compileNode(n.x)
	if err != nil {
		return nil, 0, err
	}
	y, yt, err := compileNode(n.y)
	if err != nil {
		return nil, 0, err
	}
	op := n.op
	switch op {
	case "&&", "||":
		if err := wantType(n.x, xt, tyBool); err != nil {
			return nil, 0, err
		}
		if err := wantType(n.y, yt, tyBool); err != nil {
			return nil, 0, err
		}
		and := op == "&&"
		return func(c *Context) (Value, error) {
			v, err := eval1(c, x)
			if err != nil {
				return Value{}, err
			}
			if v.k != kBool {
				return Value{}, evalErr("%s applied to %s", op, v.k)
			}
			if v.b != and {
				return v, nil
			}
			w, err := y(c)
			if err != nil {
				return w, err
			}
			if w.k != kBool {
				return Value{}, evalErr("%s applied to %s", op, w.k)
			}
			return w, nil
		}, tyBool, nil
	case "==", "!=":
		if !comparable2(xt, yt) {
			return nil, 0, errUnsupportedAt(n.off, "cannot compare %s with %s", xt, yt)
		}
		eq := op == "=="
		return func(c *Context) (Value, error) {
			v, w, err := eval2(c, x, y)
			if err != nil {
				return Value{}, err
			}
			return Value{k: kBool, b: v.equal(w) == eq}, nil
		}, tyBool, nil
	case "<", ">", "<=", ">=", "-":
		if err := wantType(n.x, xt, tyInt); err != nil {
			return nil, 0, err
		}
		if err := wantType(n.y, yt, tyInt); err != nil {
			return nil, 0, err
		}
		rt := tyBool
		if op == "-" {
			rt = tyInt
		}
		return func(c *Context) (Value, error) {
			v, w, err := eval2(c, x, y)
			if err != nil {
				return Value{}, err
			}
			if v.k != kInt || w.k != kInt {
				return Value{}, evalErr("%s applied to %s and %s", op, v.k, w.k)
			}
			switch op {
			case "<":
				return Value{k: kBool, b: v.i < w.i}, nil
			case ">":
				return Value{k: kBool, b: v.i > w.i}, nil
			case "<=":
				return Value{k: kBool, b: v.i <= w.i}, nil
			case ">=":
				return Value{k: kBool, b: v.i >= w.i}, nil
			}
			return Value{k: kInt, i: v.i - w.i}, nil
		}, rt, nil
	case "+":
		rt := tyAny
		switch {
		case xt == tyString || yt == tyString:
			rt = tyString
		case xt == tyInt && yt == tyInt:
			rt = tyInt
		case xt == tyBool && yt == tyBool, xt == tyStrings && yt != tyAny && yt != tyString:
			return nil, 0, errUnsupportedAt(n.off, "+ is not defined on %s and %s", xt, yt)
		}
		return func(c *Context) (Value, error) {
			v, w, err := eval2(c, x, y)
			if err != nil {
				return Value{}, err
			}
			if v.k == kInt && w.k == kInt {
				return Value{k: kInt, i: v.i + w.i}, nil
			}
			if v.k == kString || w.k == kString {
				return str(v.String() + w.String()), nil
			}
			return Value{}, evalErr("+ is not defined on %s and %s", v.k, w.k)
		}, rt, nil
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
	return nil, 0, errUnsupportedAt(n.off, "operator %q is not supported", op)
}

func compileCond(n *node) (evalFn, typ, *exprError) {
	cond, ct, err := compileNode(n.x)
	if err != nil {
		return nil, 0, err
	}
	if err := wantType(n.x, ct, tyBool); err != nil {
		return nil, 0, err
	}
	a, at, err := compileNode(n.y)
	if err != nil {
		return nil, 0, err
	}
	b, bt, err := compileNode(n.z)
	if err != nil {
		return nil, 0, err
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
			return Value{}, evalErr("?: condition is %s, not bool", v.k)
		}
		if v.b {
			return a(c)
		}
		return b(c)
	}, rt, nil
}

func compileInterp(n *node) (evalFn, typ, *exprError) {
	type part struct {
		lit string
		fn  evalFn
	}
	parts := make([]part, 0, len(n.parts))
	for _, p := range n.parts {
		if p.hole == nil {
			parts = append(parts, part{lit: p.lit})
			continue
		}
		f, _, err := compileNode(p.hole)
		if err != nil {
			return nil, 0, err
		}
		parts = append(parts, part{fn: f})
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
			b.WriteString(v.String())
		}
		return str(b.String()), nil
	}, tyString, nil
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
