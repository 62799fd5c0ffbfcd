package policy

import (
	"fmt"
	"math"
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
	tFloat
	tString // regular, verbatim or char literal; val is decoded
	tInterp // interpolated string; parts hold literal text and holes
	tPunct
)

type token struct {
	k     tokKind
	off   int
	text  string // identifier, punctuation, or the raw literal
	val   string // decoded string literal
	num   int64  // integer literal; a real literal's float64 bits
	parts []interpPart
}

type interpPart struct {
	lit   string
	hole  *node  // nil for literal text
	align int    // {x,align}
	fmt   string // {x:format}
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

var puncts = []string{"??=", "<<=", "??", "?.", "?[", "==", "*=", "/=", "%=", "|=", "&=", "^=", "<<", "!=", "&&", "||", "<=", ">=", "=>", "++", "--", "+=", "-=",
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
	case isDigit(c) || c == '.' && len(s) > 1 && isDigit(s[1]):
		return l.number(off, s)
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
			align, format := 0, ""
			if k := topLevelFormat(holeSrc); k >= 0 {
				spec := holeSrc[k:]
				holeSrc = holeSrc[:k]
				if spec[0] == ',' {
					a, f, _ := strings.Cut(spec[1:], ":")
					n, err := strconv.Atoi(strings.TrimSpace(a))
					if err == nil && (n > 1<<16 || n < -(1<<16)) {
						return token{}, errUnsupportedAt(off+j+1+k, "interpolation alignment %d is too wide", n)
					}
					if err != nil {
						return token{}, errSyntaxAt(off+j+1+k, "interpolation alignment %q is not an integer", a)
					}
					align = n
					format = f
				} else {
					format = spec[1:]
				}
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
			parts = append(parts, interpPart{hole: n, align: align, fmt: format})
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

// number lexes a C# numeric literal: decimal or 0x hexadecimal integers with
// optional U/L suffixes, and real literals (1.5, 1e3, 2d, 1.5f, 1m) as double.
func (l *lexer) number(off int, s string) (token, error) {
	j := 0
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		j = 2
		for j < len(s) && (isHex(s[j]) || s[j] == '_') {
			j++
		}
		digits := strings.ReplaceAll(s[2:j], "_", "")
		k := j
		for k < len(s) && strings.IndexByte("uUlL", s[k]) >= 0 {
			k++
		}
		if k < len(s) && (isIdentStart(s[k]) || isDigit(s[k])) {
			return token{}, errSyntaxAt(off, "malformed numeric literal %q", s[:k+1])
		}
		n, err := strconv.ParseUint(digits, 16, 64)
		if err != nil {
			return token{}, errSyntaxAt(off, "malformed numeric literal %q", s[:k])
		}
		l.i += k
		return token{k: tInt, off: off, text: s[:k], num: int64(n)}, nil
	}
	real := false
	for j < len(s) && (isDigit(s[j]) || s[j] == '_') {
		j++
	}
	if j+1 < len(s) && s[j] == '.' && isDigit(s[j+1]) {
		real = true
		j++
		for j < len(s) && (isDigit(s[j]) || s[j] == '_') {
			j++
		}
	}
	if j < len(s) && (s[j] == 'e' || s[j] == 'E') {
		k := j + 1
		if k < len(s) && (s[k] == '+' || s[k] == '-') {
			k++
		}
		if k < len(s) && isDigit(s[k]) {
			real = true
			j = k
			for j < len(s) && isDigit(s[j]) {
				j++
			}
		}
	}
	digits := strings.ReplaceAll(s[:j], "_", "")
	k := j
	for k < len(s) && strings.IndexByte("uUlLfFdDmM", s[k]) >= 0 {
		if strings.IndexByte("fFdDmM", s[k]) >= 0 {
			real = true
		}
		k++
	}
	if k < len(s) && (isIdentStart(s[k]) || isDigit(s[k]) || s[k] == '.' && k+1 < len(s) && isDigit(s[k+1])) {
		return token{}, errSyntaxAt(off, "malformed numeric literal %q", s[:k+1])
	}
	l.i += k
	if real {
		f, err := strconv.ParseFloat(digits, 64)
		if err != nil {
			return token{}, errSyntaxAt(off, "malformed numeric literal %q", s[:k])
		}
		return token{k: tFloat, off: off, text: s[:k], num: int64(math.Float64bits(f))}, nil
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		u, err2 := strconv.ParseUint(digits, 10, 64)
		if err2 != nil {
			return token{}, errSyntaxAt(off, "numeric literal %q is out of range", s[:k])
		}
		n = int64(u)
	}
	return token{k: tInt, off: off, text: s[:k], num: n}, nil
}
