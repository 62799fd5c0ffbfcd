package policy

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

// XML → JSON conversion as APIM's xml-to-json produces it (docs/policies.md,
// "json-to-xml and xml-to-json"):
//
//   - the XML declaration's version, encoding and standalone become top-level
//     properties, followed by the root element;
//   - an element with neither attributes nor child elements is its text (a
//     string; null when empty); otherwise an object with "@name" for each
//     attribute (namespace declarations included), "#text" for its text and
//     one property per child element name, in document order;
//   - siblings of the same name become one array (always-array-child-elements
//     makes every child element an array);
//   - the ":" of a prefixed name is written as "$" (soap:Envelope →
//     soap$Envelope); all values are strings; comments, processing
//     instructions and whitespace-only text are dropped.

type convNode struct {
	name     string
	attrs    [][2]string
	children []*convNode
	text     []string
}

// parseXMLTree reads a whole XML document with prefixes as written.
func parseXMLTree(body []byte) (decl [][2]string, root *convNode, err error) {
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	var stack []*convNode
	for {
		t, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%w: the body is not XML: %v", errConvert, err)
		}
		switch v := t.(type) {
		case xml.ProcInst:
			if v.Target == "xml" && root == nil && len(stack) == 0 {
				decl = parseDecl(string(v.Inst))
			}
		case xml.StartElement:
			if len(stack) > maxConvertDepth {
				return nil, nil, fmt.Errorf("%w: XML nested deeper than %d", errConvert, maxConvertDepth)
			}
			n := &convNode{name: rawName(v.Name)}
			for _, a := range v.Attr {
				n.attrs = append(n.attrs, [2]string{rawName(a.Name), a.Value})
			}
			if len(stack) == 0 {
				if root != nil {
					return nil, nil, fmt.Errorf("%w: the body is not XML: more than one root element", errConvert)
				}
				root = n
			} else {
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			if len(stack) == 0 || stack[len(stack)-1].name != rawName(v.Name) {
				return nil, nil, fmt.Errorf("%w: the body is not XML: unexpected </%s>", errConvert, rawName(v.Name))
			}
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				if len(bytes.TrimSpace(v)) > 0 {
					return nil, nil, fmt.Errorf("%w: the body is not XML: text outside the root element", errConvert)
				}
				continue
			}
			if len(bytes.TrimSpace(v)) > 0 {
				p := stack[len(stack)-1]
				p.text = append(p.text, string(v))
			}
		}
	}
	if root == nil {
		return nil, nil, fmt.Errorf("%w: the body is not XML: no root element", errConvert)
	}
	if len(stack) > 0 {
		return nil, nil, fmt.Errorf("%w: the body is not XML: <%s> is not closed", errConvert, stack[len(stack)-1].name)
	}
	return decl, root, nil
}

func rawName(n xml.Name) string {
	if n.Space != "" {
		return n.Space + ":" + n.Local
	}
	return n.Local
}

// parseDecl reads the pseudo-attributes of <?xml …?>.
func parseDecl(s string) [][2]string {
	var out [][2]string
	for _, k := range []string{"version", "encoding", "standalone"} {
		i := strings.Index(s, k)
		if i < 0 {
			continue
		}
		r := strings.TrimLeft(s[i+len(k):], " \t\r\n")
		if !strings.HasPrefix(r, "=") {
			continue
		}
		r = strings.TrimLeft(r[1:], " \t\r\n")
		if r == "" || r[0] != '"' && r[0] != '\'' {
			continue
		}
		if j := strings.IndexByte(r[1:], r[0]); j >= 0 {
			out = append(out, [2]string{k, r[1 : 1+j]})
		}
	}
	return out
}

// xmlToJSON converts an XML body to JSON.
func xmlToJSON(body []byte, alwaysArray bool) ([]byte, error) {
	decl, root, err := parseXMLTree(body)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteByte('{')
	for _, kv := range decl {
		writeJSONString(&b, kv[0])
		b.WriteByte(':')
		writeJSONString(&b, kv[1])
		b.WriteByte(',')
	}
	writeJSONString(&b, jsonName(root.name))
	b.WriteByte(':')
	writeXMLValue(&b, root, alwaysArray)
	b.WriteByte('}')
	return []byte(b.String()), nil
}

func jsonName(s string) string { return strings.ReplaceAll(s, ":", "$") }

func writeXMLValue(b *strings.Builder, n *convNode, alwaysArray bool) {
	if len(n.attrs) == 0 && len(n.children) == 0 {
		switch len(n.text) {
		case 0:
			b.WriteString("null")
		case 1:
			writeJSONString(b, n.text[0])
		default:
			writeJSONString(b, strings.Join(n.text, ""))
		}
		return
	}
	b.WriteByte('{')
	first := true
	sep := func() {
		if !first {
			b.WriteByte(',')
		}
		first = false
	}
	for _, a := range n.attrs {
		sep()
		writeJSONString(b, "@"+jsonName(a[0]))
		b.WriteByte(':')
		writeJSONString(b, a[1])
	}
	switch len(n.text) {
	case 0:
	case 1:
		sep()
		writeJSONString(b, "#text")
		b.WriteByte(':')
		writeJSONString(b, n.text[0])
	default:
		sep()
		writeJSONString(b, "#text")
		b.WriteString(":[")
		for i, t := range n.text {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(b, t)
		}
		b.WriteByte(']')
	}
	// Siblings of one name form one group, placed where the first one is.
	var order []string
	groups := make(map[string][]*convNode, len(n.children))
	for _, c := range n.children {
		if _, seen := groups[c.name]; !seen {
			order = append(order, c.name)
		}
		groups[c.name] = append(groups[c.name], c)
	}
	for _, name := range order {
		group := groups[name]
		c := group[0]
		sep()
		writeJSONString(b, jsonName(c.name))
		b.WriteByte(':')
		if len(group) == 1 && !alwaysArray {
			writeXMLValue(b, c, alwaysArray)
			continue
		}
		b.WriteByte('[')
		for j, g := range group {
			if j > 0 {
				b.WriteByte(',')
			}
			writeXMLValue(b, g, alwaysArray)
		}
		b.WriteByte(']')
	}
	b.WriteByte('}')
}
