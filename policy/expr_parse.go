package policy

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

func utf8Len(s string) int {
	_, n := utf8.DecodeRuneInString(s)
	return n
}

// This file is the front end of the expression language: a lexer and parser
// for the subset of C# that APIM policy expressions use. It builds a small
// syntax tree; exprcompile.go turns the tree into closures once per snapshot.

type tokKind uint8

const (
	tEOF tokKind = iota
	tIdent
	tInt
	tString // regular, verbatim or char literal; val is decoded
	tInterp // interpolated string; parts hold literal text and holes
	tPunct
)

type token struct {
	k     tokKind
	off   int
	text  string // identifier, punctuation, or the raw literal
	val   string // decoded string literal
	num   int64
	parts []interpPart
}

type interpPart struct {
	lit  string
	hole *node // nil for literal text
}

type exprError struct {
	off         int
	msg         string
	unsupported bool
}

func (e *exprError) Error() string { return e.msg }

func errSyntaxAt(off int, format string, args ...any) *exprError {
	return &exprError{off: off, msg: fmt.Sprintf(format, args...)}
}

func errUnsupportedAt(off int, format string, args ...any) *exprError {
	return &exprError{off: off, msg: fmt.Sprintf(format, args...), unsupported: true}
}

type lexer struct {
	src   string
	i     int
	base  int // offset of src within the whole expression text (for holes)
	depth int // nesting of interpolated strings
}

// maxNesting bounds parenthesis and interpolation nesting, so hostile input
// cannot exhaust the stack.
const maxNesting = 128

var puncts = []string{"??", "?.", "==", "!=", "&&", "||", "<=", ">=", "=>", "++", "--", "+=", "-=",
	"(", ")", "[", "]", "{", "}", ".", ",", "?", ":", "!", "+", "-", "*", "/", "%", "<", ">", "=", ";", "&", "|", "^", "~"}

func isIdentStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool      { return c >= '0' && c <= '9' }

func (l *lexer) all() ([]token, error) {
	out := make([]token, 0, len(l.src)/6+2)
	for {
		t, err := l.next()
		if err != nil {
			return nil, err
		}
		out = append(out, t)
		if t.k == tEOF {
			return out, nil
		}
	}
}

func (l *lexer) next() (token, error) {
	for l.i < len(l.src) {
		c := l.src[l.i]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			l.i++
			continue
		}
		if strings.HasPrefix(l.src[l.i:], "\u00a0") || strings.HasPrefix(l.src[l.i:], "\ufeff") {
			// No-break spaces and BOMs pasted from documentation are
			// whitespace to C#.
			l.i += utf8Len(l.src[l.i:])
			continue
		}
		if strings.HasPrefix(l.src[l.i:], "//") {
			for l.i < len(l.src) && l.src[l.i] != '\n' {
				l.i++
			}
			continue
		}
		if strings.HasPrefix(l.src[l.i:], "/*") {
			k := strings.Index(l.src[l.i+2:], "*/")
			if k < 0 {
				return token{}, errSyntaxAt(l.base+l.i, "unterminated comment")
			}
			l.i += k + 4
			continue
		}
		break
	}
	off := l.base + l.i
	if l.i >= len(l.src) {
		return token{k: tEOF, off: off}, nil
	}
	s := l.src[l.i:]
	c := s[0]
	switch {
	case isIdentStart(c):
		j := 1
		for j < len(s) && (isIdentStart(s[j]) || isDigit(s[j])) {
			j++
		}
		l.i += j
		return token{k: tIdent, off: off, text: s[:j]}, nil
	case isDigit(c):
		j := 1
		for j < len(s) && (isDigit(s[j]) || isIdentStart(s[j]) || s[j] == '.') {
			j++
		}
		lit := s[:j]
		n, err := strconv.ParseInt(lit, 10, 64)
		if err != nil {
			return token{}, errUnsupportedAt(off, "numeric literal %q is not supported (only decimal integers)", lit)
		}
		l.i += j
		return token{k: tInt, off: off, text: lit, num: n}, nil
	case c == '"':
		return l.str(off, 1, false)
	case c == '@' && len(s) > 1 && s[1] == '"':
		return l.str(off, 2, true)
	case c == '$' && len(s) > 1 && s[1] == '"':
		return l.interp(off, 2, false)
	case strings.HasPrefix(s, `$@"`) || strings.HasPrefix(s, `@$"`):
		return l.interp(off, 3, true)
	case c == '\'':
		j := 1
		var b strings.Builder
		for j < len(s) && s[j] != '\'' {
			if s[j] == '\\' && j+1 < len(s) {
				r, n, err := unescape(s[j:])
				if err != nil {
					return token{}, errSyntaxAt(off+j, "%v", err)
				}
				b.WriteString(r)
				j += n
				continue
			}
			b.WriteByte(s[j])
			j++
		}
		if j >= len(s) {
			return token{}, errSyntaxAt(off, "unterminated character literal")
		}
		l.i += j + 1
		return token{k: tString, off: off, text: s[:j+1], val: b.String()}, nil
	}
	for _, p := range puncts {
		if strings.HasPrefix(s, p) {
			l.i += len(p)
			return token{k: tPunct, off: off, text: p}, nil
		}
	}
	r, _ := utf8.DecodeRuneInString(s)
	return token{}, errSyntaxAt(off, "unexpected character %q", r)
}

func unescape(s string) (string, int, error) {
	if len(s) < 2 {
		return "", 0, fmt.Errorf("bad escape")
	}
	switch s[1] {
	case 'n':
		return "\n", 2, nil
	case 't':
		return "\t", 2, nil
	case 'r':
		return "\r", 2, nil
	case '0':
		return "\x00", 2, nil
	case '\\', '"', '\'':
		return s[1:2], 2, nil
	case 'u':
		if len(s) >= 6 {
			if v, err := strconv.ParseUint(s[2:6], 16, 32); err == nil {
				return string(rune(v)), 6, nil
			}
		}
	}
	return "", 0, fmt.Errorf("unsupported escape sequence %q", s[:2])
}

// str lexes "…" or @"…" starting at l.i; skip is the length of the opener.
func (l *lexer) str(off, skip int, verbatim bool) (token, error) {
	s := l.src[l.i:]
	var b strings.Builder
	j := skip
	for j < len(s) {
		c := s[j]
		switch {
		case c == '"':
			if verbatim && j+1 < len(s) && s[j+1] == '"' {
				b.WriteByte('"')
				j += 2
				continue
			}
			l.i += j + 1
			return token{k: tString, off: off, text: s[:j+1], val: b.String()}, nil
		case c == '\\' && !verbatim:
			r, n, err := unescape(s[j:])
			if err != nil {
				return token{}, errSyntaxAt(off+j, "%v", err)
			}
			b.WriteString(r)
			j += n
			continue
		}
		b.WriteByte(c)
		j++
	}
	return token{}, errSyntaxAt(off, "unterminated string literal")
}

// interp lexes $"…{hole}…"; holes are parsed as expressions right away.
func (l *lexer) interp(off, skip int, verbatim bool) (token, error) {
	s := l.src[l.i:]
	var parts []interpPart
	var b strings.Builder
	flush := func() {
		if b.Len() > 0 {
			parts = append(parts, interpPart{lit: b.String()})
			b.Reset()
		}
	}
	j := skip
	for j < len(s) {
		c := s[j]
		switch {
		case c == '"':
			if verbatim && j+1 < len(s) && s[j+1] == '"' {
				b.WriteByte('"')
				j += 2
				continue
			}
			flush()
			l.i += j + 1
			return token{k: tInterp, off: off, text: s[:j+1], parts: parts}, nil
		case c == '\\' && !verbatim:
			r, n, err := unescape(s[j:])
			if err != nil {
				return token{}, errSyntaxAt(off+j, "%v", err)
			}
			b.WriteString(r)
			j += n
			continue
		case c == '{' && j+1 < len(s) && s[j+1] == '{', c == '}' && j+1 < len(s) && s[j+1] == '}':
			b.WriteByte(c)
			j += 2
			continue
		case c == '{':
			end, err := scanCode([]byte(s), j+1, '{')
			if err != nil {
				return token{}, errSyntaxAt(off+j, "interpolation hole: %v", err)
			}
			holeSrc := s[j+1 : end-1]
			if k := topLevelFormat(holeSrc); k >= 0 {
				return token{}, errUnsupportedAt(off+j+1+k, "format or alignment in an interpolation hole is not supported")
			}
			if l.depth >= maxNesting {
				return token{}, errUnsupportedAt(off, "interpolated strings nested deeper than %d", maxNesting)
			}
			p := &parser{}
			hl := &lexer{src: holeSrc, base: off + j + 1, depth: l.depth + 1}
			toks, err := hl.all()
			if err != nil {
				return token{}, err
			}
			p.toks = toks
			n, err := p.parseExpr()
			if err != nil {
				return token{}, err
			}
			if p.peek().k != tEOF {
				return token{}, errSyntaxAt(p.peek().off, "unexpected %q in interpolation hole", p.peek().text)
			}
			flush()
			parts = append(parts, interpPart{hole: n})
			j = end
			continue
		}
		b.WriteByte(c)
		j++
	}
	return token{}, errSyntaxAt(off, "unterminated interpolated string")
}

// topLevelFormat finds a ':' or ',' at bracket depth 0 outside strings (a format
// specifier or alignment), ignoring the ':' of a conditional expression.
func topLevelFormat(s string) int {
	depth, q := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			end, err := scanString([]byte(s), i+1, false, false, `"`)
			if err != nil {
				return -1
			}
			i = end - 1
		case c == '(' || c == '[' || c == '{':
			depth++
		case c == ')' || c == ']' || c == '}':
			depth--
		case c == '?' && depth == 0:
			if i+1 < len(s) && (s[i+1] == '?' || s[i+1] == '.') {
				i++
				continue
			}
			q++
		case c == ':' && depth == 0:
			if q > 0 {
				q--
				continue
			}
			return i
		case c == ',' && depth == 0:
			return i
		}
	}
	return -1
}

// Syntax tree.

type nodeKind uint8

const (
	nLit nodeKind = iota
	nIdent
	nMember
	nCall
	nIndex
	nUnary
	nBinary
	nCond
	nCast
	nInterp
)

type node struct {
	k        nodeKind
	off      int
	op       string // operator, identifier or member name
	lit      Value
	x, y, z  *node
	args     []*node
	typeArgs []string
	parts    []interpPart
}

type parser struct {
	toks  []token
	p     int
	depth int
}

func (p *parser) peek() token { return p.toks[p.p] }
func (p *parser) adv() token {
	t := p.toks[p.p]
	if p.p < len(p.toks)-1 {
		p.p++
	}
	return t
}
func (p *parser) isPunct(s string) bool { t := p.peek(); return t.k == tPunct && t.text == s }
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

// parseProgram parses the body of @( … ) (block false) or @{ … } (block true).
func parseProgram(src string, block bool) (*node, error) {
	toks, err := (&lexer{src: src}).all()
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	if block {
		t := p.peek()
		if t.k != tIdent || t.text != "return" {
			return nil, errUnsupportedAt(t.off, "statement %s: a @{ } block may hold only a single 'return <expression>;'", describe(t))
		}
		p.adv()
		n, err := p.parseExpr()
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(";"); err != nil {
			return nil, err
		}
		if t := p.peek(); t.k != tEOF {
			return nil, errUnsupportedAt(t.off, "statement %s after return: a @{ } block may hold only a single 'return <expression>;'", describe(t))
		}
		return n, nil
	}
	n, err := p.parseExpr()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.k != tEOF {
		return nil, unsupportedOrSyntax(t, "after the expression")
	}
	return n, nil
}

func unsupportedOrSyntax(t token, where string) *exprError {
	if t.k == tPunct {
		switch t.text {
		case "=>":
			return errUnsupportedAt(t.off, "lambda expressions (=>) are not supported")
		case "*", "/", "%", "&", "|", "^", "~", "++", "--", "+=", "-=", "=":
			return errUnsupportedAt(t.off, "operator %q is not supported", t.text)
		case "?.":
			return errUnsupportedAt(t.off, "null-conditional operator ?. is not supported")
		}
	}
	return errSyntaxAt(t.off, "unexpected %s %s", describe(t), where)
}

func (p *parser) parseExpr() (*node, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxNesting {
		return nil, errUnsupportedAt(p.peek().off, "expression nested deeper than %d", maxNesting)
	}
	return p.parseCond()
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

var binLevels = [][]string{{"||"}, {"&&"}, {"==", "!="}, {"<", ">", "<=", ">="}, {"+", "-"}}

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
		matched := false
		if t.k == tPunct {
			for _, op := range binLevels[level] {
				if t.text == op {
					matched = true
				}
			}
		}
		if !matched {
			if t.k == tPunct && level == len(binLevels)-1 {
				switch t.text {
				case "*", "/", "%", "&", "|", "^":
					return nil, errUnsupportedAt(t.off, "operator %q is not supported", t.text)
				}
			}
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

var castTypes = map[string]bool{"string": true, "int": true, "long": true, "bool": true, "object": true}

func (p *parser) parseUnary() (*node, error) {
	t := p.peek()
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > 4*maxNesting {
		return nil, errUnsupportedAt(t.off, "expression nested deeper than %d", maxNesting)
	}
	if t.k == tPunct && (t.text == "!" || t.text == "-") {
		p.adv()
		x, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return &node{k: nUnary, off: t.off, op: t.text, x: x}, nil
	}
	// A cast: '(' type ')' unary. "(string)" cannot be a parenthesised value.
	if t.k == tPunct && t.text == "(" && p.p+2 < len(p.toks) {
		id, cl := p.toks[p.p+1], p.toks[p.p+2]
		if id.k == tIdent && cl.k == tPunct && cl.text == ")" && (castTypes[id.text] || isTypeName(id.text)) {
			if !castTypes[id.text] {
				return nil, errUnsupportedAt(id.off, "cast to %s is not supported (only string, int, long, bool, object)", id.text)
			}
			p.p += 3
			x, err := p.parseUnary()
			if err != nil {
				return nil, err
			}
			return &node{k: nCast, off: t.off, op: id.text, x: x}, nil
		}
	}
	return p.parsePostfix()
}

// isTypeName recognises the .NET type names policies cast to, so that the
// error says "cast not supported" rather than a confusing syntax error.
func isTypeName(s string) bool {
	switch s {
	case "JObject", "JArray", "JToken", "IResponse", "Jwt", "double", "float", "decimal", "DateTime", "DateTimeOffset",
		"byte", "char", "Guid", "TimeSpan", "IRequest", "Uri":
		return true
	}
	return false
}

func (p *parser) parsePostfix() (*node, error) {
	x, err := p.parsePrimary()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		switch {
		case t.k == tPunct && t.text == ".":
			p.adv()
			id := p.adv()
			if id.k != tIdent {
				return nil, errSyntaxAt(id.off, "expected a member name after '.', found %s", describe(id))
			}
			m := &node{k: nMember, off: id.off, op: id.text, x: x}
			// Generic type arguments: Name<T>( … ).
			if p.isPunct("<") && p.p+3 < len(p.toks) && p.toks[p.p+1].k == tIdent && p.toks[p.p+2].k == tPunct && p.toks[p.p+2].text == ">" && p.toks[p.p+3].k == tPunct && p.toks[p.p+3].text == "(" {
				m.typeArgs = []string{p.toks[p.p+1].text}
				p.p += 3
			}
			x = m
		case t.k == tPunct && t.text == "(":
			p.adv()
			var args []*node
			for !p.isPunct(")") {
				a, err := p.parseExpr()
				if err != nil {
					return nil, err
				}
				args = append(args, a)
				if p.isPunct(",") {
					p.adv()
					continue
				}
				if !p.isPunct(")") {
					return nil, unsupportedOrSyntax(p.peek(), "in an argument list")
				}
			}
			p.adv()
			x = &node{k: nCall, off: t.off, x: x, args: args}
		case t.k == tPunct && t.text == "[":
			p.adv()
			i, err := p.parseExpr()
			if err != nil {
				return nil, err
			}
			if _, err := p.expect("]"); err != nil {
				return nil, err
			}
			x = &node{k: nIndex, off: t.off, x: x, y: i}
		case t.k == tPunct && t.text == "?.":
			return nil, errUnsupportedAt(t.off, "null-conditional operator ?. is not supported")
		default:
			return x, nil
		}
	}
}

func (p *parser) parsePrimary() (*node, error) {
	t := p.adv()
	switch t.k {
	case tInt:
		return &node{k: nLit, off: t.off, lit: IntValue(t.num)}, nil
	case tString:
		return &node{k: nLit, off: t.off, lit: StringValue(t.val)}, nil
	case tInterp:
		return &node{k: nInterp, off: t.off, parts: t.parts}, nil
	case tIdent:
		switch t.text {
		case "true", "false":
			return &node{k: nLit, off: t.off, lit: BoolValue(t.text == "true")}, nil
		case "null":
			return &node{k: nLit, off: t.off}, nil
		case "new":
			return nil, errUnsupportedAt(t.off, "object creation (new) is not supported")
		case "var", "if", "return", "foreach", "for", "while", "try", "switch":
			return nil, errUnsupportedAt(t.off, "statement %q is not supported in an expression", t.text)
		}
		return &node{k: nIdent, off: t.off, op: t.text}, nil
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
	return nil, unsupportedOrSyntax(t, "where a value was expected")
}
