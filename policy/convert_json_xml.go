package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// JSON → XML conversion as APIM's json-to-xml produces it (docs/policies.md,
// "json-to-xml and xml-to-json"):
//
//   - an object with one property whose value is not an array becomes that
//     element; anything else is wrapped in <Document>;
//   - arrays become repeated elements of the property's name, an empty array
//     one empty element; null becomes xsi:nil="true"; booleans True/False;
//     numbers as written;
//   - the attribute-block-name object's properties become attributes, as do
//     "@name" properties; "#text" is the element's text; properties starting
//     with namespace-prefix are namespace declarations;
//   - a name "p<sep>local" whose prefix p is a declared namespace prefix
//     becomes p:local; characters not allowed in XML names are encoded as
//     .NET's XmlConvert.EncodeName does (_xHHHH_).

// ErrConvert is wrapped by the errors of json-to-xml and xml-to-json for a
// body they cannot convert.
var errConvert = errors.New("policy: body conversion")

const xsiNS = "http://www.w3.org/2001/XMLSchema-instance"

// jsonNode is a parsed JSON value that keeps the order of object properties.
type jsonNode struct {
	kind byte // 'o' object, 'a' array, 's' string, 'n' number, 'b' bool, 'z' null
	s    string
	b    bool
	keys []string
	vals []*jsonNode
}

// maxConvertDepth bounds nesting, so a hostile body cannot exhaust the stack.
const maxConvertDepth = 256

func parseOrderedJSON(body []byte) (*jsonNode, error) {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	n, err := readJSONNode(d, 0)
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: the body holds more than one JSON value", errConvert)
	}
	return n, nil
}

func readJSONNode(d *json.Decoder, depth int) (*jsonNode, error) {
	if depth > maxConvertDepth {
		return nil, fmt.Errorf("%w: JSON nested deeper than %d", errConvert, maxConvertDepth)
	}
	t, err := d.Token()
	if err != nil {
		return nil, fmt.Errorf("%w: the body is not JSON: %v", errConvert, err)
	}
	switch v := t.(type) {
	case json.Delim:
		switch v {
		case '{':
			n := &jsonNode{kind: 'o'}
			for d.More() {
				kt, err := d.Token()
				if err != nil {
					return nil, fmt.Errorf("%w: the body is not JSON: %v", errConvert, err)
				}
				k, _ := kt.(string)
				c, err := readJSONNode(d, depth+1)
				if err != nil {
					return nil, err
				}
				n.keys, n.vals = append(n.keys, k), append(n.vals, c)
			}
			if _, err := d.Token(); err != nil {
				return nil, fmt.Errorf("%w: the body is not JSON: %v", errConvert, err)
			}
			return n, nil
		case '[':
			n := &jsonNode{kind: 'a'}
			for d.More() {
				c, err := readJSONNode(d, depth+1)
				if err != nil {
					return nil, err
				}
				n.vals = append(n.vals, c)
			}
			if _, err := d.Token(); err != nil {
				return nil, fmt.Errorf("%w: the body is not JSON: %v", errConvert, err)
			}
			return n, nil
		}
	case string:
		return &jsonNode{kind: 's', s: v}, nil
	case json.Number:
		return &jsonNode{kind: 'n', s: v.String()}, nil
	case bool:
		return &jsonNode{kind: 'b', b: v}, nil
	case nil:
		return &jsonNode{kind: 'z'}, nil
	}
	return nil, fmt.Errorf("%w: the body is not JSON", errConvert)
}

// jsonToXMLOptions are json-to-xml's attributes, evaluated for one request.
type jsonToXMLOptions struct {
	parseDate      bool
	nsSeparator    string // "_" by default
	nsPrefix       string // "" = none
	attributeBlock string // "" = none
}

type xmlWriter struct {
	o   *jsonToXMLOptions
	buf bytes.Buffer
	// scopes of declared namespace prefixes, innermost last.
	ns [][]string
}

// jsonToXML converts a JSON body to XML.
func jsonToXML(body []byte, o *jsonToXMLOptions) ([]byte, error) {
	root, err := parseOrderedJSON(body)
	if err != nil {
		return nil, err
	}
	w := &xmlWriter{o: o}
	if root.kind == 'o' && len(root.keys) == 1 && root.vals[0].kind != 'a' && !w.special(root.keys[0]) {
		w.element(root.keys[0], root.vals[0])
	} else if root.kind == 'a' {
		// A top-level array: its items are <item> elements of <Document>.
		w.element("Document", &jsonNode{kind: 'o', keys: []string{"item"}, vals: []*jsonNode{root}})
	} else {
		w.element("Document", root)
	}
	return w.buf.Bytes(), nil
}

// special reports a property that is not an element (attributes, text,
// namespace declarations).
func (w *xmlWriter) special(k string) bool {
	return k == "#text" || strings.HasPrefix(k, "@") || (w.o.attributeBlock != "" && k == w.o.attributeBlock) ||
		(w.o.nsPrefix != "" && strings.HasPrefix(k, w.o.nsPrefix))
}

func (w *xmlWriter) declared(prefix string) bool {
	if prefix == "xml" {
		return true
	}
	for i := len(w.ns) - 1; i >= 0; i-- {
		for _, p := range w.ns[i] {
			if p == prefix {
				return true
			}
		}
	}
	return false
}

// qname maps a JSON property name to an XML name: a declared prefix joined
// by the namespace separator becomes prefix:local; the rest is encoded.
func (w *xmlWriter) qname(k string) string {
	for _, sep := range [2]string{w.o.nsSeparator, ":"} {
		if sep == "" {
			continue
		}
		if i := strings.Index(k, sep); i > 0 && i+len(sep) < len(k) && w.declared(k[:i]) {
			return encodeXMLName(k[:i]) + ":" + encodeXMLName(k[i+len(sep):])
		}
	}
	return encodeXMLName(k)
}

// nsDecl maps a namespace-prefix property ("xmlns", "xmlns:p" or "xmlns<sep>p")
// to its attribute name and the prefix it declares ("" for the default).
func (w *xmlWriter) nsDecl(k string) (attr, prefix string, ok bool) {
	rest := k[len(w.o.nsPrefix):]
	if rest == "" {
		return "xmlns", "", true
	}
	for _, sep := range []string{":", w.o.nsSeparator} {
		if sep != "" && strings.HasPrefix(rest, sep) && len(rest) > len(sep) {
			p := rest[len(sep):]
			return "xmlns:" + encodeXMLName(p), p, true
		}
	}
	return "", "", false
}

func (w *xmlWriter) element(name string, v *jsonNode) {
	if v.kind == 'a' {
		if len(v.vals) == 0 {
			w.open(name, nil, true)
			return
		}
		for _, it := range v.vals {
			w.element(name, it)
		}
		return
	}
	if v.kind != 'o' {
		w.open(name, v, false)
		return
	}
	// Namespace declarations first: they scope this element's own name.
	var decl []string
	var attrs [][2]string
	for i, k := range v.keys {
		if w.o.nsPrefix != "" && strings.HasPrefix(k, w.o.nsPrefix) {
			if a, p, ok := w.nsDecl(k); ok {
				attrs = append(attrs, [2]string{a, scalarText(v.vals[i], false)})
				if p != "" {
					decl = append(decl, p)
				}
			}
		}
	}
	w.ns = append(w.ns, decl)
	defer func() { w.ns = w.ns[:len(w.ns)-1] }()
	q := w.qname(name)
	var text []string
	hasChild := false
	for i, k := range v.keys {
		c := v.vals[i]
		switch {
		case w.o.nsPrefix != "" && strings.HasPrefix(k, w.o.nsPrefix):
			if _, _, ok := w.nsDecl(k); ok {
				continue
			}
			hasChild = true
		case w.o.attributeBlock != "" && k == w.o.attributeBlock && c.kind == 'o':
			for j, ak := range c.keys {
				attrs = append(attrs, [2]string{w.qname(ak), scalarText(c.vals[j], w.o.parseDate)})
			}
		case strings.HasPrefix(k, "@") && len(k) > 1 && c.kind != 'o' && c.kind != 'a':
			attrs = append(attrs, [2]string{w.qname(k[1:]), scalarText(c, w.o.parseDate)})
		case k == "#text" && c.kind != 'o' && c.kind != 'a':
			text = append(text, scalarText(c, w.o.parseDate))
		default:
			hasChild = true
		}
	}
	w.buf.WriteByte('<')
	w.buf.WriteString(q)
	for _, a := range attrs {
		w.attr(a[0], a[1])
	}
	if !hasChild && len(text) == 0 {
		w.buf.WriteString(" />")
		return
	}
	w.buf.WriteByte('>')
	for _, t := range text {
		escapeXMLText(&w.buf, t)
	}
	for i, k := range v.keys {
		if w.special(k) {
			if w.o.nsPrefix != "" && strings.HasPrefix(k, w.o.nsPrefix) {
				if _, _, ok := w.nsDecl(k); !ok {
					w.element(k, v.vals[i])
				}
			}
			continue
		}
		w.element(k, v.vals[i])
	}
	w.buf.WriteString("</")
	w.buf.WriteString(q)
	w.buf.WriteByte('>')
}

// open writes a scalar element (or an empty one for an empty array).
func (w *xmlWriter) open(name string, v *jsonNode, empty bool) {
	q := w.qname(name)
	w.buf.WriteByte('<')
	w.buf.WriteString(q)
	if empty {
		w.buf.WriteString(" />")
		return
	}
	if v.kind == 'z' {
		w.buf.WriteString(` xsi:nil="true" xmlns:xsi="` + xsiNS + `" />`)
		return
	}
	t := scalarText(v, w.o.parseDate)
	if t == "" {
		w.buf.WriteString(" />")
		return
	}
	w.buf.WriteByte('>')
	escapeXMLText(&w.buf, t)
	w.buf.WriteString("</")
	w.buf.WriteString(q)
	w.buf.WriteByte('>')
}

func (w *xmlWriter) attr(name, val string) {
	w.buf.WriteByte(' ')
	w.buf.WriteString(name)
	w.buf.WriteString(`="`)
	for _, r := range val {
		switch r {
		case '&':
			w.buf.WriteString("&amp;")
		case '<':
			w.buf.WriteString("&lt;")
		case '"':
			w.buf.WriteString("&quot;")
		case '\n':
			w.buf.WriteString("&#xA;")
		case '\r':
			w.buf.WriteString("&#xD;")
		case '\t':
			w.buf.WriteString("&#x9;")
		default:
			w.buf.WriteRune(r)
		}
	}
	w.buf.WriteByte('"')
}

func escapeXMLText(b *bytes.Buffer, s string) {
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '\r':
			b.WriteString("&#xD;")
		default:
			b.WriteRune(r)
		}
	}
}

// scalarText is the XML text of a JSON scalar, as .NET writes it.
func scalarText(v *jsonNode, parseDate bool) string {
	switch v.kind {
	case 's':
		if parseDate {
			if d, ok := roundTripDate(v.s); ok {
				return d
			}
		}
		return v.s
	case 'n':
		return v.s
	case 'b':
		if v.b {
			return "True"
		}
		return "False"
	}
	return ""
}

// roundTripDate re-renders an ISO 8601 date-time string the way a .NET
// gateway running in UTC does after parsing it as a DateTime (XmlConvert
// round-trip form): fraction without trailing zeros, "Z" kept, an explicit
// offset converted to UTC and written as +00:00.
func roundTripDate(s string) (string, bool) {
	if len(s) < 19 || s[4] != '-' || s[10] != 'T' {
		return "", false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		// Without a zone: a local (unspecified) time, written as is.
		lt, err2 := time.Parse("2006-01-02T15:04:05.999999999", s)
		if err2 != nil {
			return "", false
		}
		return lt.Format("2006-01-02T15:04:05.9999999"), true
	}
	if strings.HasSuffix(s, "Z") || strings.HasSuffix(s, "z") {
		return t.UTC().Format("2006-01-02T15:04:05.9999999Z"), true
	}
	return t.UTC().Format("2006-01-02T15:04:05.9999999") + "+00:00", true
}

// encodeXMLName encodes the characters of s that an XML name cannot hold
// (XmlConvert.EncodeName): each becomes _xHHHH_; "_x" itself is escaped when
// it would read as an escape.
func encodeXMLName(s string) string {
	if s == "" {
		return "_"
	}
	ok := true
	for i, r := range s {
		if !xmlNameRune(r, i == 0) || r == '_' && strings.HasPrefix(s[i:], "_x") {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		if xmlNameRune(r, i == 0) && !(r == '_' && isEscapeLike(s[i:])) {
			b.WriteRune(r)
			continue
		}
		if r == utf8.RuneError {
			r = unicode.ReplacementChar
		}
		if r > 0xFFFF {
			fmt.Fprintf(&b, "_x%08X_", r)
		} else {
			fmt.Fprintf(&b, "_x%04X_", r)
		}
	}
	return b.String()
}

func isEscapeLike(s string) bool {
	if len(s) < 7 || s[1] != 'x' || s[6] != '_' {
		return false
	}
	_, err := strconv.ParseUint(s[2:6], 16, 16)
	return err == nil
}

func xmlNameRune(r rune, first bool) bool {
	if r == '_' || unicode.IsLetter(r) {
		return true
	}
	if first {
		return false
	}
	return r == '-' || r == '.' || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Mc, r)
}
