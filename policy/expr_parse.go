package policy

import (
	"fmt"
	"strings"
)

// This file is the parser of the expression language: the subset of C# that
// APIM policy expressions use, expressions and (in @{ } blocks) statements.
// It builds a syntax tree; expr_compile.go and expr_stmt.go turn the tree into
// closures once per snapshot.

type nodeKind uint8

const (
	nLit nodeKind = iota
	nIdent
	nMember  // x.op (x nil: never)
	nCall    // x(args)
	nIndex   // x[y]
	nUnary   // op x
	nBinary  // x op y
	nCond    // x ? y : z
	nCast    // (op)x
	nInterp  // $"…"
	nAssign  // x op y, op "=", "+=", …
	nIncDec  // ++x, x++ (op "++"/"--", post true for x++)
	nLambda  // params => body
	nNew     // new T(args) { init }
	nIs      // x is T [name]
	nAs      // x as T
	nTypeRef // a type used as a value (typeof-less static access): op is the type
	nDefault // default(T)
	nArray   // new[] { … } / new T[] { … } / new T[n]
)

// node is an expression. For calls, argNames holds named-argument names ("" for
// positional) and outs the out-argument declarations.
type node struct {
	k        nodeKind
	off      int
	op       string
	lit      *Value // nLit; nil is the null literal
	x, y, z  *node
	args     []*node
	argNames []string
	outs     []outArg
	typeArgs []string
	parts    []interpPart
	nullCond bool // ?. or ?[
	post     bool
	params   []string // lambda parameters
	body     *stmt    // lambda block body (nil: x is the body)
	init     []initEntry
	hasInit  bool
	bind     string // is T name
}

// outArg marks argument i as "out var name" / "out T name" / "out name".
type outArg struct {
	i       int
	name    string
	declare bool
}

// initEntry is one entry of an object or collection initializer:
// { a, b } (args), [k] = v (key set), Name = v (name set) or a single value.
type initEntry struct {
	off  int
	key  *node
	name string
	args []*node
	val  *node
}

type stmtKind uint8

const (
	sExpr stmtKind = iota
	sDecl
	sBlock
	sIf
	sReturn
	sForeach
	sFor
	sWhile
	sDo
	sBreak
	sContinue
	sTry
	sSwitch
	sThrow
	sUsing
	sEmpty
	sFunc // local function: names[0] is its name, names[1:] its parameters, then its body
)

type stmt struct {
	k     stmtKind
	off   int
	x     *node  // expression, condition, return value, foreach collection, switch subject, thrown value
	typ   string // declared type ("var" for var)
	names []string
	inits []*node // per name, nil without initializer
	body  []*stmt
	then  *stmt
	els   *stmt
	init  []*stmt // for: initializers
	iter  []*node // for: iterators
	cases []switchCase
	catch []catchClause
	fin   *stmt
}

type switchCase struct {
	off     int
	labels  []*node // nil entry: default
	body    []*stmt
	hasDflt bool
}

type catchClause struct {
	typ  string
	name string
	body *stmt
}

type parser struct {
	toks  []token
	p     int
	depth int
}

func (p *parser) peek() token { return p.toks[p.p] }
func (p *parser) peekAt(k int) token {
	if p.p+k < len(p.toks) {
		return p.toks[p.p+k]
	}
	return p.toks[len(p.toks)-1]
}
func (p *parser) adv() token {
	t := p.toks[p.p]
	if p.p < len(p.toks)-1 {
		p.p++
	}
	return t
}
func (p *parser) isPunct(s string) bool { t := p.peek(); return t.k == tPunct && t.text == s }
func (p *parser) isIdent(s string) bool { t := p.peek(); return t.k == tIdent && t.text == s }
func (p *parser) expect(s string) (token, error) {
	t := p.peek()
	if t.k != tPunct || t.text != s {
		return t, errSyntaxAt(t.off, "expected %q, found %s", s, describe(t))
	}
	return p.adv(), nil
}

func describe(t token) string {
	switch t.k {
	case tEOF:
		return "end of expression"
	case tString, tInterp:
		return "string literal"
	}
	return fmt.Sprintf("%q", t.text)
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxNesting {
		return errUnsupportedAt(p.peek().off, "expression nested deeper than %d", maxNesting)
	}
	return nil
}

// program is a parsed @( ) expression or @{ } block.
type program struct {
	x     *node   // @( )
	block []*stmt // @{ }
}

// parseProgram parses the body of @( … ) (block false) or @{ … } (block true).
func parseProgram(src string, block bool) (*program, error) {
	toks, err := (&lexer{src: src}).all()
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	if block {
		var body []*stmt
		for p.peek().k != tEOF {
			s, err := p.parseStmt()
			if err != nil {
				return nil, err
			}
			body = append(body, s)
		}
		return &program{block: body}, nil
	}
	n, err := p.parseExpr()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.k != tEOF {
		return nil, errSyntaxAt(t.off, "unexpected %s after the expression", describe(t))
	}
	return &program{x: n}, nil
}

// Statements.

var stmtKeywords = map[string]bool{"if": true, "else": true, "return": true, "foreach": true, "for": true, "while": true,
	"do": true, "break": true, "continue": true, "try": true, "catch": true, "finally": true, "switch": true, "case": true,
	"default": true, "throw": true, "using": true, "var": true, "in": true, "new": true, "out": true, "is": true, "as": true}

func (p *parser) parseStmt() (*stmt, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	t := p.peek()
	if t.k == tPunct {
		switch t.text {
		case "{":
			return p.parseBlock()
		case ";":
			p.adv()
			return &stmt{k: sEmpty, off: t.off}, nil
		}
	}
	if t.k == tIdent {
		switch t.text {
		case "if":
			p.adv()
			if _, err := p.expect("("); err != nil {
				return nil, err
			}
			c, err := p.parseExpr()
			if err != nil {
				return nil, err
			}
			if _, err := p.expect(")"); err != nil {
				return nil, err
			}
			then, err := p.parseStmt()
			if err != nil {
				return nil, err
			}
			s := &stmt{k: sIf, off: t.off, x: c, then: then}
			if p.isIdent("else") {
				p.adv()
				if s.els, err = p.parseStmt(); err != nil {
					return nil, err
				}
			}
			return s, nil
		case "return":
			p.adv()
			s := &stmt{k: sReturn, off: t.off}
			if !p.isPunct(";") {
				x, err := p.parseExpr()
				if err != nil {
					return nil, err
				}
				s.x = x
			}
			_, err := p.expect(";")
			return s, err
		case "throw":
			p.adv()
			s := &stmt{k: sThrow, off: t.off}
			if !p.isPunct(";") {
				x, err := p.parseExpr()
				if err != nil {
					return nil, err
				}
				s.x = x
			}
			_, err := p.expect(";")
			return s, err
		case "break", "continue":
			p.adv()
			k := sBreak
			if t.text == "continue" {
				k = sContinue
			}
			_, err := p.expect(";")
			return &stmt{k: k, off: t.off}, err
		case "foreach":
			return p.parseForeach()
		case "for":
			return p.parseFor()
		case "while":
			p.adv()
			if _, err := p.expect("("); err != nil {
				return nil, err
			}
			c, err := p.parseExpr()
			if err != nil {
				return nil, err
			}
			if _, err := p.expect(")"); err != nil {
				return nil, err
			}
			body, err := p.parseStmt()
			if err != nil {
				return nil, err
			}
			return &stmt{k: sWhile, off: t.off, x: c, then: body}, nil
		case "do":
			p.adv()
			body, err := p.parseStmt()
			if err != nil {
				return nil, err
			}
			if !p.isIdent("while") {
				return nil, errSyntaxAt(p.peek().off, "expected \"while\" after a do body, found %s", describe(p.peek()))
			}
			p.adv()
			if _, err := p.expect("("); err != nil {
				return nil, err
			}
			c, err := p.parseExpr()
			if err != nil {
				return nil, err
			}
			if _, err := p.expect(")"); err != nil {
				return nil, err
			}
			_, err = p.expect(";")
			return &stmt{k: sDo, off: t.off, x: c, then: body}, err
		case "try":
			return p.parseTry()
		case "switch":
			return p.parseSwitch()
		case "using":
			p.adv()
			if !p.isPunct("(") {
				return nil, errUnsupportedAt(t.off, "using directives are not supported (types are known by their short names)")
			}
			p.adv()
			var res *stmt
			if d, ok, err := p.tryDecl(); err != nil {
				return nil, err
			} else if ok {
				res = d
			} else {
				x, err := p.parseExpr()
				if err != nil {
					return nil, err
				}
				res = &stmt{k: sExpr, off: x.off, x: x}
			}
			if _, err := p.expect(")"); err != nil {
				return nil, err
			}
			body, err := p.parseStmt()
			if err != nil {
				return nil, err
			}
			return &stmt{k: sUsing, off: t.off, init: []*stmt{res}, then: body}, nil
		case "unchecked", "checked":
			if p.peekAt(1).k == tPunct && p.peekAt(1).text == "{" {
				p.adv()
				return p.parseBlock()
			}
		case "const":
			p.adv()
			d, ok, err := p.tryDecl()
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, errSyntaxAt(t.off, "expected a declaration after const")
			}
			_, err = p.expect(";")
			return d, err
		case "else", "catch", "finally", "case", "default":
			return nil, errSyntaxAt(t.off, "unexpected %q", t.text)
		}
	}
	if d, ok, err := p.tryDecl(); err != nil {
		return nil, err
	} else if ok {
		if d.k == sFunc {
			return d, nil
		}
		_, err := p.expect(";")
		return d, err
	}
	x, err := p.parseExpr()
	if err != nil {
		return nil, err
	}
	switch x.k {
	case nAssign, nCall, nIncDec, nNew:
	default:
		return nil, errSyntaxAt(x.off, "only assignment, call, increment, decrement and new expressions can be used as a statement")
	}
	_, err = p.expect(";")
	return &stmt{k: sExpr, off: x.off, x: x}, err
}

func (p *parser) parseBlock() (*stmt, error) {
	t, err := p.expect("{")
	if err != nil {
		return nil, err
	}
	s := &stmt{k: sBlock, off: t.off}
	for !p.isPunct("}") {
		if p.peek().k == tEOF {
			return nil, errSyntaxAt(p.peek().off, "expected \"}\", found end of expression")
		}
		b, err := p.parseStmt()
		if err != nil {
			return nil, err
		}
		s.body = append(s.body, b)
	}
	p.adv()
	return s, nil
}

// tryDecl parses "T name [= init] {, name [= init]}" if the tokens form one
// (without the ';'), and restores the position otherwise.
func (p *parser) tryDecl() (*stmt, bool, error) {
	start := p.p
	t := p.peek()
	if t.k != tIdent || stmtKeywords[t.text] && t.text != "var" {
		return nil, false, nil
	}
	typ, ok := p.parseType()
	if !ok || p.peek().k != tIdent || stmtKeywords[p.peek().text] {
		p.p = start
		return nil, false, nil
	}
	nx := p.peekAt(1)
	if nx.k == tPunct && nx.text == "(" && typ != "var" {
		if f, ok, err := p.tryLocalFunc(t.off, typ); ok || err != nil {
			return f, ok, err
		}
		p.p = start
		return nil, false, nil
	}
	if nx.k != tPunct || (nx.text != "=" && nx.text != ";" && nx.text != "," && nx.text != ")") {
		p.p = start
		return nil, false, nil
	}
	s := &stmt{k: sDecl, off: t.off, typ: typ}
	for {
		name := p.adv()
		s.names = append(s.names, name.text)
		var init *node
		if p.isPunct("=") {
			p.adv()
			x, err := p.parseExprOrArrayInit(typ)
			if err != nil {
				return nil, false, err
			}
			init = x
		} else if typ == "var" {
			return nil, false, errSyntaxAt(name.off, "an implicitly typed local (var %s) needs an initializer", name.text)
		}
		s.inits = append(s.inits, init)
		if !p.isPunct(",") {
			break
		}
		p.adv()
		if p.peek().k != tIdent {
			return nil, false, errSyntaxAt(p.peek().off, "expected a variable name, found %s", describe(p.peek()))
		}
	}
	return s, true, nil
}

// tryLocalFunc parses "T Name(T a, …) { … }" or "T Name(…) => expr;" (the
// caller already parsed T; Name is next). It reports false, without error,
// when the parameter list is not one (a call statement instead).
func (p *parser) tryLocalFunc(off int, ret string) (*stmt, bool, error) {
	start := p.p
	name := p.adv()
	p.adv() // (
	var params []string
	for !p.isPunct(")") {
		if _, ok := p.parseType(); !ok || p.peek().k != tIdent {
			p.p = start
			return nil, false, nil
		}
		params = append(params, p.adv().text)
		if p.isPunct(",") {
			p.adv()
			continue
		}
		if !p.isPunct(")") {
			p.p = start
			return nil, false, nil
		}
	}
	p.adv()
	s := &stmt{k: sFunc, off: off, typ: ret, names: append([]string{name.text}, params...)}
	switch {
	case p.isPunct("{"):
		b, err := p.parseBlock()
		if err != nil {
			return nil, true, err
		}
		s.then = b
	case p.isPunct("=>"):
		p.adv()
		x, err := p.parseExpr()
		if err != nil {
			return nil, true, err
		}
		s.then = &stmt{k: sReturn, off: x.off, x: x}
		if ret == "void" {
			s.then = &stmt{k: sExpr, off: x.off, x: x}
		}
		if _, err := p.expect(";"); err != nil {
			return nil, true, err
		}
	default:
		p.p = start
		return nil, false, nil
	}
	return s, true, nil
}

// parseExprOrArrayInit parses an initializer; "T[] a = { … }" is allowed.
func (p *parser) parseExprOrArrayInit(typ string) (*node, error) {
	if p.isPunct("{") && strings.HasSuffix(typ, "[]") {
		t := p.peek()
		items, err := p.parseBraceList()
		if err != nil {
			return nil, err
		}
		return &node{k: nArray, off: t.off, op: strings.TrimSuffix(typ, "[]"), args: items}, nil
	}
	return p.parseExpr()
}

func (p *parser) parseForeach() (*stmt, error) {
	t := p.adv()
	if _, err := p.expect("("); err != nil {
		return nil, err
	}
	typ, ok := p.parseType()
	if !ok {
		return nil, errSyntaxAt(p.peek().off, "expected a type in foreach, found %s", describe(p.peek()))
	}
	name := p.adv()
	if name.k != tIdent {
		return nil, errSyntaxAt(name.off, "expected a variable name in foreach, found %s", describe(name))
	}
	if !p.isIdent("in") {
		return nil, errSyntaxAt(p.peek().off, "expected \"in\" in foreach, found %s", describe(p.peek()))
	}
	p.adv()
	coll, err := p.parseExpr()
	if err != nil {
		return nil, err
	}
	if _, err := p.expect(")"); err != nil {
		return nil, err
	}
	body, err := p.parseStmt()
	if err != nil {
		return nil, err
	}
	return &stmt{k: sForeach, off: t.off, typ: typ, names: []string{name.text}, x: coll, then: body}, nil
}

func (p *parser) parseFor() (*stmt, error) {
	t := p.adv()
	if _, err := p.expect("("); err != nil {
		return nil, err
	}
	s := &stmt{k: sFor, off: t.off}
	if !p.isPunct(";") {
		if d, ok, err := p.tryDecl(); err != nil {
			return nil, err
		} else if ok {
			s.init = append(s.init, d)
		} else {
			for {
				x, err := p.parseExpr()
				if err != nil {
					return nil, err
				}
				s.init = append(s.init, &stmt{k: sExpr, off: x.off, x: x})
				if !p.isPunct(",") {
					break
				}
				p.adv()
			}
		}
	}
	if _, err := p.expect(";"); err != nil {
		return nil, err
	}
	if !p.isPunct(";") {
		c, err := p.parseExpr()
		if err != nil {
			return nil, err
		}
		s.x = c
	}
	if _, err := p.expect(";"); err != nil {
		return nil, err
	}
	for !p.isPunct(")") {
		x, err := p.parseExpr()
		if err != nil {
			return nil, err
		}
		s.iter = append(s.iter, x)
		if !p.isPunct(",") {
			break
		}
		p.adv()
	}
	if _, err := p.expect(")"); err != nil {
		return nil, err
	}
	body, err := p.parseStmt()
	if err != nil {
		return nil, err
	}
	s.then = body
	return s, nil
}

func (p *parser) parseTry() (*stmt, error) {
	t := p.adv()
	body, err := p.parseBlock()
	if err != nil {
		return nil, err
	}
	s := &stmt{k: sTry, off: t.off, then: body}
	for p.isIdent("catch") {
		p.adv()
		cc := catchClause{typ: "Exception"}
		if p.isPunct("(") {
			p.adv()
			typ, ok := p.parseType()
			if !ok {
				return nil, errSyntaxAt(p.peek().off, "expected an exception type, found %s", describe(p.peek()))
			}
			cc.typ = typ
			if p.peek().k == tIdent {
				cc.name = p.adv().text
			}
			if _, err := p.expect(")"); err != nil {
				return nil, err
			}
		}
		if p.isIdent("when") {
			return nil, errUnsupportedAt(p.peek().off, "exception filters (catch … when) are not supported")
		}
		if cc.body, err = p.parseBlock(); err != nil {
			return nil, err
		}
		s.catch = append(s.catch, cc)
	}
	if p.isIdent("finally") {
		p.adv()
		if s.fin, err = p.parseBlock(); err != nil {
			return nil, err
		}
	}
	if len(s.catch) == 0 && s.fin == nil {
		return nil, errSyntaxAt(p.peek().off, "expected catch or finally after try")
	}
	return s, nil
}

func (p *parser) parseSwitch() (*stmt, error) {
	t := p.adv()
	if _, err := p.expect("("); err != nil {
		return nil, err
	}
	x, err := p.parseExpr()
	if err != nil {
		return nil, err
	}
	if _, err := p.expect(")"); err != nil {
		return nil, err
	}
	if _, err := p.expect("{"); err != nil {
		return nil, err
	}
	s := &stmt{k: sSwitch, off: t.off, x: x}
	for !p.isPunct("}") {
		sc := switchCase{off: p.peek().off}
		for p.isIdent("case") || p.isIdent("default") {
			kw := p.adv()
			if kw.text == "default" {
				sc.hasDflt = true
			} else {
				l, err := p.parseExpr()
				if err != nil {
					return nil, err
				}
				sc.labels = append(sc.labels, l)
			}
			if _, err := p.expect(":"); err != nil {
				return nil, err
			}
		}
		if len(sc.labels) == 0 && !sc.hasDflt {
			return nil, errSyntaxAt(p.peek().off, "expected case or default in switch, found %s", describe(p.peek()))
		}
		for !p.isIdent("case") && !p.isIdent("default") && !p.isPunct("}") {
			if p.peek().k == tEOF {
				return nil, errSyntaxAt(p.peek().off, "expected \"}\", found end of expression")
			}
			b, err := p.parseStmt()
			if err != nil {
				return nil, err
			}
			sc.body = append(sc.body, b)
		}
		s.cases = append(s.cases, sc)
	}
	p.adv()
	return s, nil
}

// Types.

// namespaces are stripped from qualified type names: System.Text.Encoding is
// Encoding.
var namespaces = []string{"System.Security.Cryptography.X509Certificates.", "System.Security.Cryptography.", "System.Text.RegularExpressions.",
	"System.Text.", "System.Web.", "System.Collections.Generic.", "System.Linq.", "System.Xml.Linq.", "System.Xml.", "System.Net.", "System.IO.",
	"Newtonsoft.Json.Linq.", "Newtonsoft.Json.", "System.Globalization.", "System."}

func stripNamespace(s string) string {
	for _, ns := range namespaces {
		if strings.HasPrefix(s, ns) && len(s) > len(ns) {
			return s[len(ns):]
		}
	}
	return s
}

// parseType parses a type name at the current position: a dotted name with
// optional generic arguments, "?" and "[]" suffixes. It restores the position
// and reports false when the tokens are not a type.
func (p *parser) parseType() (string, bool) {
	start := p.p
	t := p.peek()
	if t.k != tIdent {
		return "", false
	}
	p.adv()
	name := t.text
	for p.isPunct(".") && p.peekAt(1).k == tIdent {
		p.adv()
		name += "." + p.adv().text
	}
	name = stripNamespace(name)
	if p.isPunct("<") {
		save := p.p
		p.adv()
		var args []string
		for {
			a, ok := p.parseType()
			if !ok {
				p.p = save
				break
			}
			args = append(args, a)
			if p.isPunct(",") {
				p.adv()
				continue
			}
			if p.isPunct(">") {
				p.adv()
				name += "<" + strings.Join(args, ",") + ">"
			} else if p.isPunct(">>") && len(args) > 0 {
				// List<List<string>>: split the token.
				p.p = save
				args = nil
			} else {
				p.p = save
			}
			break
		}
		if p.p == save {
			p.p = start
			return "", false
		}
	}
	if p.isPunct("?") && (p.peekAt(1).k == tIdent || p.peekAt(1).k == tPunct && (p.peekAt(1).text == ")" || p.peekAt(1).text == ">" || p.peekAt(1).text == ",")) {
		p.adv()
	}
	for p.isPunct("[") && p.peekAt(1).k == tPunct && p.peekAt(1).text == "]" {
		p.adv()
		p.adv()
		name += "[]"
	}
	return name, true
}

// Expressions.

func (p *parser) parseExpr() (*node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	// Lambda: ident => …  or  (a, b) => …
	t := p.peek()
	if t.k == tIdent && p.peekAt(1).k == tPunct && p.peekAt(1).text == "=>" {
		p.p += 2
		return p.lambdaBody(t.off, []string{t.text})
	}
	if t.k == tPunct && t.text == "(" {
		if params, n, ok := p.lambdaParams(); ok {
			p.p += n
			return p.lambdaBody(t.off, params)
		}
	}
	return p.parseAssign()
}

// lambdaParams recognises "( [T] a, [T] b ) =>" and returns the parameter
// names and the number of tokens up to and including "=>".
func (p *parser) lambdaParams() ([]string, int, bool) {
	var names []string
	i := 1
	for {
		t := p.peekAt(i)
		if t.k == tPunct && t.text == ")" && len(names) == 0 {
			i++
			break
		}
		if t.k != tIdent {
			return nil, 0, false
		}
		if n := p.peekAt(i + 1); n.k == tIdent {
			i++ // typed parameter: skip the type
			t = n
		}
		names = append(names, t.text)
		i++
		if s := p.peekAt(i); s.k == tPunct && s.text == "," {
			i++
			continue
		}
		if s := p.peekAt(i); s.k == tPunct && s.text == ")" {
			i++
			break
		}
		return nil, 0, false
	}
	if a := p.peekAt(i); a.k == tPunct && a.text == "=>" {
		return names, i + 1, true
	}
	return nil, 0, false
}

func (p *parser) lambdaBody(off int, params []string) (*node, error) {
	n := &node{k: nLambda, off: off, params: params}
	if p.isPunct("{") {
		b, err := p.parseBlock()
		if err != nil {
			return nil, err
		}
		n.body = b
		return n, nil
	}
	x, err := p.parseExpr()
	if err != nil {
		return nil, err
	}
	n.x = x
	return n, nil
}

var assignOps = map[string]bool{"=": true, "+=": true, "-=": true, "*=": true, "/=": true, "%=": true, "??=": true, "|=": true, "&=": true, "^=": true, "<<=": true, ">>=": true}

func (p *parser) parseAssign() (*node, error) {
	l, err := p.parseCond()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.k == tPunct && assignOps[t.text] {
		switch l.k {
		case nIdent, nMember, nIndex:
		default:
			return nil, errSyntaxAt(t.off, "the left side of %s must be a variable, a property or an indexer", t.text)
		}
		p.adv()
		r, err := p.parseExpr()
		if err != nil {
			return nil, err
		}
		return &node{k: nAssign, off: t.off, op: t.text, x: l, y: r}, nil
	}
	return l, nil
}

func (p *parser) parseCond() (*node, error) {
	c, err := p.parseCoalesce()
	if err != nil {
		return nil, err
	}
	if !p.isPunct("?") {
		return c, nil
	}
	q := p.adv()
	a, err := p.parseExpr()
	if err != nil {
		return nil, err
	}
	if _, err := p.expect(":"); err != nil {
		return nil, err
	}
	b, err := p.parseExpr()
	if err != nil {
		return nil, err
	}
	return &node{k: nCond, off: q.off, x: c, y: a, z: b}, nil
}

func (p *parser) parseCoalesce() (*node, error) {
	l, err := p.parseBinary(0)
	if err != nil {
		return nil, err
	}
	if p.isPunct("??") {
		t := p.adv()
		r, err := p.parseCoalesce()
		if err != nil {
			return nil, err
		}
		return &node{k: nBinary, off: t.off, op: "??", x: l, y: r}, nil
	}
	return l, nil
}

var binLevels = [][]string{{"||"}, {"&&"}, {"|"}, {"^"}, {"&"}, {"==", "!="}, {"<", ">", "<=", ">="}, {"<<", ">>"}, {"+", "-"}, {"*", "/", "%"}}

const relLevel = 6

func (p *parser) parseBinary(level int) (*node, error) {
	if level == len(binLevels) {
		return p.parseUnary()
	}
	l, err := p.parseBinary(level + 1)
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if level == relLevel && t.k == tIdent && (t.text == "is" || t.text == "as") {
			p.adv()
			neg := false
			if t.text == "is" && p.isIdent("not") {
				p.adv()
				neg = true
			}
			if t.text == "is" && p.isIdent("null") {
				p.adv()
				n := &node{k: nBinary, off: t.off, op: "==", x: l, y: &node{k: nLit, off: t.off}}
				if neg {
					n.op = "!="
				}
				l = n
				continue
			}
			typ, ok := p.parseType()
			if !ok {
				return nil, errSyntaxAt(p.peek().off, "expected a type after %q, found %s", t.text, describe(p.peek()))
			}
			if t.text == "as" {
				l = &node{k: nAs, off: t.off, op: typ, x: l}
				continue
			}
			n := &node{k: nIs, off: t.off, op: typ, x: l}
			if p.peek().k == tIdent && !stmtKeywords[p.peek().text] && !neg {
				n.bind = p.adv().text
			}
			l = n
			if neg {
				l = &node{k: nUnary, off: t.off, op: "!", x: n}
			}
			continue
		}
		matched := false
		if t.k == tPunct {
			for _, op := range binLevels[level] {
				if t.text == op {
					matched = true
				}
			}
		}
		// ">>" is lexed as two ">" (generic type arguments close with them).
		if level == relLevel+1 && t.k == tPunct && t.text == ">" {
			if n := p.peekAt(1); n.k == tPunct && n.text == ">" && n.off == t.off+1 {
				p.adv()
				t.text = ">>"
				matched = true
			}
		}
		if level == relLevel && t.k == tPunct && t.text == ">" {
			if n := p.peekAt(1); n.k == tPunct && (n.text == ">" || n.text == ">=") && n.off == t.off+1 {
				return l, nil
			}
		}
		if !matched {
			return l, nil
		}
		p.adv()
		r, err := p.parseBinary(level + 1)
		if err != nil {
			return nil, err
		}
		l = &node{k: nBinary, off: t.off, op: t.text, x: l, y: r}
	}
}

// keywordTypes are the C# keyword types: "(string)x" is always a cast.
var keywordTypes = map[string]bool{"string": true, "int": true, "long": true, "bool": true, "object": true, "double": true,
	"float": true, "decimal": true, "byte": true, "char": true, "uint": true, "ulong": true, "short": true, "dynamic": true}

func (p *parser) parseUnary() (*node, error) {
	t := p.peek()
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > 4*maxNesting {
		return nil, errUnsupportedAt(t.off, "expression nested deeper than %d", maxNesting)
	}
	if t.k == tPunct {
		switch t.text {
		case "!", "-", "+", "~":
			p.adv()
			x, err := p.parseUnary()
			if err != nil {
				return nil, err
			}
			return &node{k: nUnary, off: t.off, op: t.text, x: x}, nil
		case "++", "--":
			p.adv()
			x, err := p.parseUnary()
			if err != nil {
				return nil, err
			}
			return &node{k: nIncDec, off: t.off, op: t.text, x: x}, nil
		case "(":
			if n, ok, err := p.tryCast(); ok || err != nil {
				return n, err
			}
		}
	}
	return p.parsePostfix()
}

// tryCast parses "(T)unary" when the parenthesis holds a type and what follows
// can only start an operand (C#'s disambiguation rule).
func (p *parser) tryCast() (*node, bool, error) {
	start := p.p
	open := p.adv()
	typ, ok := p.parseType()
	if !ok || !p.isPunct(")") {
		p.p = start
		return nil, false, nil
	}
	p.adv()
	nx := p.peek()
	base := strings.TrimSuffix(typ, "[]")
	isCast := keywordTypes[base]
	if !isCast {
		switch nx.k {
		case tIdent:
			isCast = nx.text != "is" && nx.text != "as" && nx.text != "in"
		case tInt, tFloat, tString, tInterp:
			isCast = true
		case tPunct:
			isCast = nx.text == "(" || nx.text == "!" || nx.text == "~"
		}
	}
	if !isCast {
		p.p = start
		return nil, false, nil
	}
	x, err := p.parseUnary()
	if err != nil {
		return nil, true, err
	}
	return &node{k: nCast, off: open.off, op: typ, x: x}, true, nil
}

// tryTypeArgs parses "<T, …>" after a member name when it is followed by "(".
func (p *parser) tryTypeArgs() ([]string, bool) {
	if !p.isPunct("<") {
		return nil, false
	}
	start := p.p
	p.adv()
	var args []string
	for {
		a, ok := p.parseType()
		if !ok {
			p.p = start
			return nil, false
		}
		args = append(args, a)
		if p.isPunct(",") {
			p.adv()
			continue
		}
		break
	}
	if !p.isPunct(">") || p.peekAt(1).k != tPunct || p.peekAt(1).text != "(" {
		p.p = start
		return nil, false
	}
	p.adv()
	return args, true
}

func (p *parser) parsePostfix() (*node, error) {
	x, err := p.parsePrimary()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if t.k != tPunct {
			return x, nil
		}
		switch t.text {
		case ".", "?.":
			p.adv()
			id := p.adv()
			if id.k != tIdent {
				return nil, errSyntaxAt(id.off, "expected a member name after '%s', found %s", t.text, describe(id))
			}
			m := &node{k: nMember, off: id.off, op: id.text, x: x, nullCond: t.text == "?."}
			if ta, ok := p.tryTypeArgs(); ok {
				m.typeArgs = ta
			}
			x = m
		case "(":
			c, err := p.parseCallArgs(x)
			if err != nil {
				return nil, err
			}
			x = c
		case "[", "?[":
			p.adv()
			i, err := p.parseExpr()
			if err != nil {
				return nil, err
			}
			if _, err := p.expect("]"); err != nil {
				return nil, err
			}
			x = &node{k: nIndex, off: t.off, x: x, y: i, nullCond: t.text == "?["}
		case "++", "--":
			p.adv()
			x = &node{k: nIncDec, off: t.off, op: t.text, x: x, post: true}
		case "!":
			// The null-forgiving operator x! is a no-op, unless "!=".
			return x, nil
		default:
			return x, nil
		}
	}
}

// parseCallArgs parses "( args )" after callee.
func (p *parser) parseCallArgs(callee *node) (*node, error) {
	t, _ := p.expect("(")
	c := &node{k: nCall, off: t.off, x: callee}
	hasNames := false
	for !p.isPunct(")") {
		name := ""
		if a := p.peek(); a.k == tIdent && p.peekAt(1).k == tPunct && p.peekAt(1).text == ":" {
			name = a.text
			hasNames = true
			p.p += 2
		}
		if p.isIdent("out") || p.isIdent("ref") {
			p.adv()
			o := outArg{i: len(c.args)}
			if typ, ok := p.parseType(); ok && p.peek().k == tIdent {
				o.declare = true
				_ = typ
			} else if ok {
				// "out name": parseType consumed the name.
				p.p--
			}
			id := p.adv()
			if id.k != tIdent {
				return nil, errSyntaxAt(id.off, "expected a variable after out, found %s", describe(id))
			}
			o.name = id.text
			c.outs = append(c.outs, o)
			c.args = append(c.args, &node{k: nIdent, off: id.off, op: id.text})
		} else {
			a, err := p.parseExpr()
			if err != nil {
				return nil, err
			}
			c.args = append(c.args, a)
		}
		c.argNames = append(c.argNames, name)
		if p.isPunct(",") {
			p.adv()
			continue
		}
		if !p.isPunct(")") {
			return nil, errSyntaxAt(p.peek().off, "unexpected %s in an argument list", describe(p.peek()))
		}
	}
	p.adv()
	if !hasNames {
		c.argNames = nil
	}
	return c, nil
}

func (p *parser) parsePrimary() (*node, error) {
	t := p.adv()
	switch t.k {
	case tInt:
		return &node{k: nLit, off: t.off, lit: litPtr(IntValue(t.num))}, nil
	case tFloat:
		return &node{k: nLit, off: t.off, lit: litPtr(Value{k: kDouble, i: t.num})}, nil
	case tString:
		return &node{k: nLit, off: t.off, lit: litPtr(StringValue(t.val))}, nil
	case tInterp:
		return &node{k: nInterp, off: t.off, parts: t.parts}, nil
	case tIdent:
		switch t.text {
		case "true", "false":
			return &node{k: nLit, off: t.off, lit: litPtr(BoolValue(t.text == "true"))}, nil
		case "null":
			return &node{k: nLit, off: t.off}, nil
		case "new":
			return p.parseNew(t)
		case "default":
			if p.isPunct("(") {
				p.adv()
				typ, ok := p.parseType()
				if !ok {
					return nil, errSyntaxAt(p.peek().off, "expected a type in default( ), found %s", describe(p.peek()))
				}
				if _, err := p.expect(")"); err != nil {
					return nil, err
				}
				return &node{k: nDefault, off: t.off, op: typ}, nil
			}
			return &node{k: nLit, off: t.off}, nil
		case "checked", "unchecked":
			if p.isPunct("(") {
				p.adv()
				x, err := p.parseExpr()
				if err != nil {
					return nil, err
				}
				_, err = p.expect(")")
				return x, err
			}
			return nil, errUnsupportedAt(t.off, "%s is not supported", t.text)
		case "typeof", "nameof", "await", "sizeof", "stackalloc", "delegate":
			return nil, errUnsupportedAt(t.off, "%s is not supported", t.text)
		case "var", "if", "return", "foreach", "for", "while", "try", "switch", "throw":
			return nil, errUnsupportedAt(t.off, "statement %q is not allowed in an expression (use a @{ } block)", t.text)
		}
		n := &node{k: nIdent, off: t.off, op: t.text}
		// A generic static method: Name<T>( … ) at the start (rare), or a
		// generic type used statically.
		return n, nil
	case tPunct:
		if t.text == "(" {
			x, err := p.parseExpr()
			if err != nil {
				return nil, err
			}
			if _, err := p.expect(")"); err != nil {
				return nil, err
			}
			return x, nil
		}
	}
	if t.k == tPunct && t.text == "=>" {
		return nil, errSyntaxAt(t.off, "unexpected \"=>\": a lambda's parameters are a name or (names)")
	}
	return nil, errSyntaxAt(t.off, "unexpected %s where a value was expected", describe(t))
}

// parseNew parses what follows "new": T(args) [init], T { init }, T[n],
// T[] { … }, new[] { … } and anonymous objects new { A = 1 }.
func (p *parser) parseNew(t token) (*node, error) {
	if p.isPunct("[") && p.peekAt(1).k == tPunct && p.peekAt(1).text == "]" {
		p.p += 2
		items, err := p.parseBraceList()
		if err != nil {
			return nil, err
		}
		return &node{k: nArray, off: t.off, args: items}, nil
	}
	if p.isPunct("{") {
		n := &node{k: nNew, off: t.off, op: "<anonymous>", hasInit: true}
		init, err := p.parseInit()
		if err != nil {
			return nil, err
		}
		n.init = init
		return n, nil
	}
	typeTok := p.peek()
	typ, ok := p.parseTypeNoArray()
	if !ok {
		return nil, errSyntaxAt(typeTok.off, "expected a type after new, found %s", describe(typeTok))
	}
	if p.isPunct("[") {
		p.adv()
		if p.isPunct("]") {
			p.adv()
			items, err := p.parseBraceList()
			if err != nil {
				return nil, err
			}
			return &node{k: nArray, off: t.off, op: typ, args: items}, nil
		}
		size, err := p.parseExpr()
		if err != nil {
			return nil, err
		}
		if _, err := p.expect("]"); err != nil {
			return nil, err
		}
		return &node{k: nArray, off: t.off, op: typ, x: size}, nil
	}
	n := &node{k: nNew, off: t.off, op: typ}
	if p.isPunct("(") {
		c, err := p.parseCallArgs(n)
		if err != nil {
			return nil, err
		}
		n.args, n.argNames, n.outs = c.args, c.argNames, c.outs
	} else if !p.isPunct("{") {
		return nil, errSyntaxAt(p.peek().off, "expected ( or { after new %s, found %s", typ, describe(p.peek()))
	}
	if p.isPunct("{") {
		init, err := p.parseInit()
		if err != nil {
			return nil, err
		}
		n.init, n.hasInit = init, true
	}
	return n, nil
}

// parseTypeNoArray parses a type for new, leaving "[" for the array size.
func (p *parser) parseTypeNoArray() (string, bool) {
	start := p.p
	typ, ok := p.parseType()
	if !ok {
		return "", false
	}
	if strings.HasSuffix(typ, "[]") {
		// new T[] { … }: give the [] back.
		p.p = start
		typ, _ = p.parseTypeStop()
	}
	return typ, true
}

func (p *parser) parseTypeStop() (string, bool) {
	// Re-parse up to the first "[" token.
	var b strings.Builder
	for !p.isPunct("[") && p.peek().k != tEOF {
		b.WriteString(p.adv().text)
	}
	return stripNamespace(b.String()), true
}

// parseBraceList parses "{ a, b, … }".
func (p *parser) parseBraceList() ([]*node, error) {
	if _, err := p.expect("{"); err != nil {
		return nil, err
	}
	var items []*node
	for !p.isPunct("}") {
		x, err := p.parseExpr()
		if err != nil {
			return nil, err
		}
		items = append(items, x)
		if p.isPunct(",") {
			p.adv()
			continue
		}
		if !p.isPunct("}") {
			return nil, errSyntaxAt(p.peek().off, "expected \",\" or \"}\" in an initializer, found %s", describe(p.peek()))
		}
	}
	p.adv()
	return items, nil
}

// parseInit parses an object or collection initializer.
func (p *parser) parseInit() ([]initEntry, error) {
	p.adv() // {
	var out []initEntry
	for !p.isPunct("}") {
		e := initEntry{off: p.peek().off}
		switch {
		case p.isPunct("{"):
			items, err := p.parseBraceList()
			if err != nil {
				return nil, err
			}
			e.args = items
		case p.isPunct("["):
			p.adv()
			k, err := p.parseExpr()
			if err != nil {
				return nil, err
			}
			if _, err := p.expect("]"); err != nil {
				return nil, err
			}
			if _, err := p.expect("="); err != nil {
				return nil, err
			}
			e.key = k
			if e.val, err = p.parseExpr(); err != nil {
				return nil, err
			}
		case p.peek().k == tIdent && p.peekAt(1).k == tPunct && p.peekAt(1).text == "=":
			e.name = p.adv().text
			p.adv()
			v, err := p.parseExpr()
			if err != nil {
				return nil, err
			}
			e.val = v
		default:
			v, err := p.parseExpr()
			if err != nil {
				return nil, err
			}
			e.val = v
		}
		out = append(out, e)
		if p.isPunct(",") {
			p.adv()
			continue
		}
		if !p.isPunct("}") {
			return nil, errSyntaxAt(p.peek().off, "expected \",\" or \"}\" in an initializer, found %s", describe(p.peek()))
		}
	}
	p.adv()
	return out, nil
}

func litPtr(v Value) *Value { return &v }

// litValue is a literal node's value.
func (n *node) litValue() Value {
	if n.lit == nil {
		return Value{}
	}
	return *n.lit
}
