package policy

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Document is one policy document as read: its name (used in every error) and
// its root element. A Document is immutable after Read and safe to share.
type Document struct {
	File string
	Root *Node
	src  string
	// lines holds the byte offset of every line start, for offset → Pos.
	lines []int
}

// Node is one element. Text is the element's character data with comments
// removed, entities decoded and CDATA kept verbatim; TextPos is where its first
// non-blank character is.
type Node struct {
	Name     string
	Pos      Pos
	Attrs    []Attr
	Children []*Node
	Text     string
	TextPos  Pos
	// inner is the byte range of the element's content in the document, for
	// policies whose content is a literal XML payload (set-body).
	innerStart, innerEnd int
}

// Inner returns the element's content exactly as written in doc (child
// elements, comments and all).
func (n *Node) Inner(doc *Document) string {
	if n.innerEnd <= n.innerStart || n.innerEnd > len(doc.src) {
		return ""
	}
	return doc.src[n.innerStart:n.innerEnd]
}

// Attr is one attribute; ValuePos is the position of the first character of the
// value (just after the opening quote).
type Attr struct {
	Name     string
	Value    string
	Pos      Pos
	ValuePos Pos
}

// Attr returns the attribute named name and whether it is present.
func (n *Node) Attr(name string) (Attr, bool) {
	for _, a := range n.Attrs {
		if a.Name == name {
			return a, true
		}
	}
	return Attr{}, false
}

// maxDepth bounds element nesting so hostile input cannot exhaust the stack.
const maxDepth = 256

// Read parses a policy document the way APIM does rather than the way a strict
// XML parser would: attribute values and element text may hold @( … ) and
// @{ … } C# expressions containing raw quotes, '<', '>' and '&&'; strings inside
// them follow C# rules ("…", $"…{hole}…", @"…""…" and 'c' characters); comments may hold
// "--"; {{named-value}} templates are left in place for Compile to substitute.
// Unknown entity-like text ("&&", "a & b") is kept literally. It never panics.
func Read(file string, src []byte) (*Document, error) {
	r := &reader{file: file, src: src}
	r.lines = append(r.lines, 0)
	for i, c := range src {
		if c == '\n' {
			r.lines = append(r.lines, i+1)
		}
	}
	if hasAt(src, 0, "\uFEFF") { // UTF-8 byte order mark
		r.i = 3
	}
	root, err := r.document()
	if err != nil {
		return nil, err
	}
	return &Document{File: file, Root: root, src: string(src), lines: r.lines}, nil
}

type reader struct {
	file  string
	src   []byte
	i     int
	lines []int
}

func posOf(lines []int, off int) Pos {
	l := sort.Search(len(lines), func(k int) bool { return lines[k] > off }) - 1
	if l < 0 {
		l = 0
	}
	return Pos{Line: l + 1, Col: off - lines[l] + 1}
}

func (r *reader) pos(off int) Pos { return posOf(r.lines, off) }

func (r *reader) errAt(off int, elem, format string, args ...any) error {
	return &Error{File: r.file, Pos: r.pos(off), Element: elem, Msg: fmt.Sprintf(format, args...), Kind: ErrSyntax}
}

func (r *reader) has(s string) bool {
	return r.i+len(s) <= len(r.src) && string(r.src[r.i:r.i+len(s)]) == s
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (r *reader) skipSpace() {
	for r.i < len(r.src) && isSpace(r.src[r.i]) {
		r.i++
	}
}

// skipMisc skips blanks, comments and processing instructions outside elements.
func (r *reader) skipMisc() error {
	for {
		r.skipSpace()
		switch {
		case r.has("<!--"):
			if err := r.skipComment(); err != nil {
				return err
			}
		case r.has("<?"):
			start := r.i
			end := bytes.Index(r.src[r.i:], []byte("?>"))
			if end < 0 {
				return r.errAt(start, "", "unterminated processing instruction")
			}
			r.i += end + 2
		case r.has("<!DOCTYPE"):
			return &Error{File: r.file, Pos: r.pos(r.i), Msg: "DOCTYPE is not allowed in a policy document", Kind: ErrUnsupported}
		default:
			return nil
		}
	}
}

// skipComment skips <!-- … -->. Unlike strict XML, "--" inside is allowed: the
// comment ends at the first "-->".
func (r *reader) skipComment() error {
	start := r.i
	end := bytes.Index(r.src[r.i+4:], []byte("-->"))
	if end < 0 {
		return r.errAt(start, "", "unterminated comment")
	}
	r.i += 4 + end + 3
	return nil
}

func (r *reader) document() (*Node, error) {
	if err := r.skipMisc(); err != nil {
		return nil, err
	}
	if r.i >= len(r.src) {
		return nil, &Error{File: r.file, Pos: Pos{1, 1}, Msg: "empty document: expected <policies> or <fragment>", Kind: ErrSyntax}
	}
	if r.src[r.i] != '<' {
		return nil, r.errAt(r.i, "", "text before the root element")
	}
	root, err := r.element(0)
	if err != nil {
		return nil, err
	}
	if err := r.skipMisc(); err != nil {
		return nil, err
	}
	if r.i < len(r.src) {
		return nil, r.errAt(r.i, root.Name, "content after the end of the root element")
	}
	return root, nil
}

func isNameByte(c byte) bool {
	return c == '-' || c == '_' || c == ':' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func (r *reader) name() string {
	start := r.i
	for r.i < len(r.src) && isNameByte(r.src[r.i]) {
		r.i++
	}
	return string(r.src[start:r.i])
}

// element reads one element starting at '<'.
func (r *reader) element(depth int) (*Node, error) {
	start := r.i
	if depth > maxDepth {
		return nil, r.errAt(start, "", "elements nested deeper than %d", maxDepth)
	}
	r.i++ // '<'
	n := &Node{Pos: r.pos(start)}
	n.Name = r.name()
	if n.Name == "" {
		return nil, r.errAt(start, "", "expected an element name after '<'")
	}
	for {
		r.skipSpace()
		if r.i >= len(r.src) {
			return nil, r.errAt(start, n.Name, "unterminated start tag")
		}
		c := r.src[r.i]
		if c == '/' {
			if !r.has("/>") {
				return nil, r.errAt(r.i, n.Name, "expected '/>'")
			}
			r.i += 2
			return n, nil
		}
		if c == '>' {
			r.i++
			break
		}
		aStart := r.i
		an := r.name()
		if an == "" {
			return nil, r.errAt(r.i, n.Name, "unexpected %q in start tag", rune(c))
		}
		r.skipSpace()
		if r.i >= len(r.src) || r.src[r.i] != '=' {
			return nil, r.errAt(aStart, n.Name, "attribute %q has no value", an)
		}
		r.i++
		r.skipSpace()
		if r.i >= len(r.src) || (r.src[r.i] != '"' && r.src[r.i] != '\'') {
			return nil, r.errAt(aStart, n.Name, "attribute %q: value must be quoted", an)
		}
		q := r.src[r.i]
		r.i++
		vStart := r.i
		for {
			if r.i >= len(r.src) {
				return nil, r.errAt(aStart, n.Name, "attribute %q: unterminated value", an)
			}
			c := r.src[r.i]
			if c == q {
				break
			}
			if c == '@' && r.i+1 < len(r.src) && (r.src[r.i+1] == '(' || r.src[r.i+1] == '{') {
				end, err := r.scanExpr(r.i)
				if err != nil {
					return nil, err
				}
				r.i = end
				continue
			}
			if c == '<' {
				return nil, r.errAt(r.i, n.Name, "attribute %q: '<' in a value outside an expression", an)
			}
			r.i++
		}
		for _, a := range n.Attrs {
			if a.Name == an {
				return nil, r.errAt(aStart, n.Name, "attribute %q appears twice", an)
			}
		}
		n.Attrs = append(n.Attrs, Attr{Name: an, Value: decodeEntities(r.src[vStart:r.i]), Pos: r.pos(aStart), ValuePos: r.pos(vStart)})
		r.i++ // closing quote
	}
	// Content.
	n.innerStart = r.i
	var text strings.Builder
	textSeen := false
	for {
		if r.i >= len(r.src) {
			return nil, r.errAt(start, n.Name, "element is never closed (expected </%s>)", n.Name)
		}
		switch {
		case r.has("</"):
			closeAt := r.i
			r.i += 2
			cn := r.name()
			r.skipSpace()
			if r.i >= len(r.src) || r.src[r.i] != '>' {
				return nil, r.errAt(closeAt, n.Name, "malformed end tag")
			}
			r.i++
			if cn != n.Name {
				return nil, r.errAt(closeAt, n.Name, "end tag </%s> does not match <%s> opened at %s", cn, n.Name, n.Pos)
			}
			n.Text = text.String()
			n.innerEnd = closeAt
			return n, nil
		case r.has("<!--"):
			if err := r.skipComment(); err != nil {
				return nil, err
			}
		case r.has("<![CDATA["):
			cs := r.i
			end := bytes.Index(r.src[r.i+9:], []byte("]]>"))
			if end < 0 {
				return nil, r.errAt(cs, n.Name, "unterminated CDATA section")
			}
			body := r.src[r.i+9 : r.i+9+end]
			if !textSeen && strings.TrimSpace(string(body)) != "" {
				textSeen = true
				n.TextPos = r.pos(r.i + 9)
			}
			text.Write(body)
			r.i += 9 + end + 3
		case r.has("<?"):
			end := bytes.Index(r.src[r.i:], []byte("?>"))
			if end < 0 {
				return nil, r.errAt(r.i, n.Name, "unterminated processing instruction")
			}
			r.i += end + 2
		case r.src[r.i] == '<':
			child, err := r.element(depth + 1)
			if err != nil {
				return nil, err
			}
			n.Children = append(n.Children, child)
		default:
			ts := r.i
			for r.i < len(r.src) && r.src[r.i] != '<' {
				if r.src[r.i] == '@' && r.i+1 < len(r.src) && (r.src[r.i+1] == '(' || r.src[r.i+1] == '{') {
					end, err := r.scanExpr(r.i)
					if err != nil {
						return nil, err
					}
					r.i = end
					continue
				}
				r.i++
			}
			seg := r.src[ts:r.i]
			if !textSeen {
				if k := firstNonSpace(seg); k >= 0 {
					textSeen = true
					n.TextPos = r.pos(ts + k)
				}
			}
			text.WriteString(decodeEntities(seg))
		}
	}
}

func firstNonSpace(b []byte) int {
	for k, c := range b {
		if !isSpace(c) {
			return k
		}
	}
	return -1
}

// scanExpr returns the offset just past the @( … ) or @{ … } starting at at.
func (r *reader) scanExpr(at int) (int, error) {
	end, err := scanCode(r.src, at+2, r.src[at+1])
	if err != nil {
		off := at
		if se, ok := err.(*scanError); ok {
			off = se.off
		}
		return 0, r.errAt(off, "", "expression starting at %s: %s", r.pos(at), err)
	}
	return end, nil
}

type scanError struct {
	off int
	msg string
}

func (e *scanError) Error() string { return e.msg }

func closerOf(open byte) byte {
	switch open {
	case '(':
		return ')'
	case '[':
		return ']'
	}
	return '}'
}

// scanCode scans C# code from i until the bracket matching open closes, and
// returns the offset just past it. Strings, characters and comments are
// skipped with C# rules, so brackets and quotes inside them do not count.
func scanCode(src []byte, i int, open byte) (int, error) {
	stack := []byte{closerOf(open)}
	for i < len(src) {
		c := src[i]
		switch {
		case c == '"':
			end, err := scanString(src, i+1, false, false, `"`)
			if err != nil {
				return 0, err
			}
			i = end
			continue
		case c == '&' && hasAt(src, i, "&quot;"):
			end, err := scanString(src, i+6, false, false, "&quot;")
			if err != nil {
				return 0, err
			}
			i = end
			continue
		case c == '@' && hasAt(src, i, `@"`):
			end, err := scanString(src, i+2, true, false, `"`)
			if err != nil {
				return 0, err
			}
			i = end
			continue
		case c == '$' && hasAt(src, i, `$"`):
			end, err := scanString(src, i+2, false, true, `"`)
			if err != nil {
				return 0, err
			}
			i = end
			continue
		case c == '$' && (hasAt(src, i, `$@"`) || hasAt(src, i, `@$"`)), c == '@' && hasAt(src, i, `@$"`):
			end, err := scanString(src, i+3, true, true, `"`)
			if err != nil {
				return 0, err
			}
			i = end
			continue
		case c == '\'':
			j := i + 1
			for j < len(src) && src[j] != '\'' && src[j] != '\n' {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(src) || src[j] != '\'' {
				return 0, &scanError{i, "unterminated character literal"}
			}
			i = j + 1
			continue
		case c == '/' && hasAt(src, i, "//"):
			for i < len(src) && src[i] != '\n' {
				i++
			}
			continue
		case c == '/' && hasAt(src, i, "/*"):
			k := bytes.Index(src[i+2:], []byte("*/"))
			if k < 0 {
				return 0, &scanError{i, "unterminated /* comment"}
			}
			i += 2 + k + 2
			continue
		case c == '(' || c == '[' || c == '{':
			stack = append(stack, closerOf(c))
		case c == ')' || c == ']' || c == '}':
			if stack[len(stack)-1] != c {
				return 0, &scanError{i, fmt.Sprintf("unbalanced %q (expected %q)", rune(c), rune(stack[len(stack)-1]))}
			}
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return i + 1, nil
			}
		}
		i++
	}
	return 0, &scanError{len(src), fmt.Sprintf("unterminated expression: missing %q", rune(stack[len(stack)-1]))}
}

func hasAt(src []byte, i int, s string) bool {
	return i+len(s) <= len(src) && string(src[i:i+len(s)]) == s
}

// scanString scans the body of a C# string literal starting just after its
// opening quote and returns the offset past the closing one. Verbatim strings
// double their quotes; interpolated strings hold {code} holes and {{ }} escapes.
func scanString(src []byte, i int, verbatim, interp bool, quote string) (int, error) {
	start := i - len(quote) // report the opening quote
	for i < len(src) {
		c := src[i]
		switch {
		case hasAt(src, i, quote):
			if verbatim && hasAt(src, i+len(quote), quote) {
				i += 2 * len(quote)
				continue
			}
			return i + len(quote), nil
		case c == '\\' && !verbatim:
			i += 2
			continue
		case c == '\n' && !verbatim:
			return 0, &scanError{start, "newline in string literal"}
		case interp && c == '{':
			if hasAt(src, i, "{{") {
				i += 2
				continue
			}
			end, err := scanCode(src, i+1, '{')
			if err != nil {
				return 0, err
			}
			i = end
			continue
		case interp && c == '}' && hasAt(src, i, "}}"):
			i += 2
			continue
		}
		i++
	}
	return 0, &scanError{start, "unterminated string literal"}
}

// decodeEntities decodes the five XML entities and numeric character
// references; anything else that starts with '&' is kept as written, because
// APIM documents carry raw "&&" in expressions.
func decodeEntities(b []byte) string {
	if bytes.IndexByte(b, '&') < 0 {
		return string(b)
	}
	var sb strings.Builder
	for i := 0; i < len(b); i++ {
		if b[i] != '&' {
			sb.WriteByte(b[i])
			continue
		}
		semi := -1
		for k := i + 1; k < len(b) && k < i+12; k++ {
			if b[k] == ';' {
				semi = k
				break
			}
		}
		if semi < 0 {
			sb.WriteByte('&')
			continue
		}
		ent := string(b[i+1 : semi])
		switch ent {
		case "lt":
			sb.WriteByte('<')
		case "gt":
			sb.WriteByte('>')
		case "amp":
			sb.WriteByte('&')
		case "quot":
			sb.WriteByte('"')
		case "apos":
			sb.WriteByte('\'')
		default:
			if len(ent) > 1 && ent[0] == '#' {
				var v uint64
				var err error
				if ent[1] == 'x' || ent[1] == 'X' {
					v, err = strconv.ParseUint(ent[2:], 16, 32)
				} else {
					v, err = strconv.ParseUint(ent[1:], 10, 32)
				}
				if err == nil && v <= 0x10FFFF {
					sb.WriteRune(rune(v))
					i = semi
					continue
				}
			}
			sb.WriteByte('&')
			continue
		}
		i = semi
	}
	return sb.String()
}
