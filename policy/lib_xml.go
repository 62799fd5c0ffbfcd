package policy

import (
	"encoding/xml"
	"errors"
	"io"
	"strings"
)

// This file is the XML model of expressions: LINQ to XML (XDocument,
// XElement, XAttribute, XName, XNamespace), XmlDocument with the XPath subset
// SOAP documents use (/a/b, //b, [n], @attr, text()), and a forward-only
// XmlReader. Names compare as .NET does: "x" is the name x in no namespace.

type xKind uint8

const (
	xDocumentK xKind = iota
	xElementK
	xTextK
)

type xNode struct {
	kind     xKind
	name     xml.Name
	attrs    []xml.Attr
	children []*xNode
	text     string
	parent   *xNode
}

func (n *xNode) typeName() string {
	switch n.kind {
	case xDocumentK:
		return "XDocument"
	case xElementK:
		return "XElement"
	}
	return "XText"
}

func (n *xNode) String() string {
	var b strings.Builder
	n.write(&b, nil)
	return b.String()
}

type xName struct{ ns, local string }

func (xName) typeName() string { return "XName" }
func (x xName) String() string {
	if x.ns == "" {
		return x.local
	}
	return "{" + x.ns + "}" + x.local
}
func (x xName) equal(o object) bool { y, ok := o.(xName); return ok && x == y }

type xNamespace string

func (xNamespace) typeName() string { return "XNamespace" }
func (x xNamespace) String() string { return string(x) }

type xAttr struct {
	a      xml.Attr
	parent *xNode
}

func (*xAttr) typeName() string { return "XAttribute" }
func (a *xAttr) String() string { return a.a.Name.Local + `="` + a.a.Value + `"` }

func nameOf(v Value) xName {
	if n, ok := v.o.(xName); ok && v.k == kObject {
		return n
	}
	s := v.String()
	if strings.HasPrefix(s, "{") {
		if i := strings.IndexByte(s, '}'); i > 0 {
			return xName{ns: s[1:i], local: s[i+1:]}
		}
	}
	return xName{local: s}
}

func (n *xNode) matches(x xName) bool {
	return n.kind == xElementK && n.name.Local == x.local && n.name.Space == x.ns
}

func (n *xNode) root() *xNode {
	for _, ch := range n.children {
		if ch.kind == xElementK {
			return ch
		}
	}
	return nil
}

func (n *xNode) value() string {
	if n.kind == xTextK {
		return n.text
	}
	var b strings.Builder
	for _, ch := range n.children {
		b.WriteString(ch.value())
	}
	return b.String()
}

func (n *xNode) descendants(x *xName, out []*xNode) []*xNode {
	for _, ch := range n.children {
		if ch.kind == xElementK {
			if x == nil || ch.matches(*x) {
				out = append(out, ch)
			}
			out = ch.descendants(x, out)
		}
	}
	return out
}

func (n *xNode) write(b *strings.Builder, scope map[string]string) {
	switch n.kind {
	case xTextK:
		_ = xml.EscapeText(&escWriter{b}, []byte(n.text))
	case xDocumentK:
		for _, ch := range n.children {
			ch.write(b, scope)
		}
	case xElementK:
		name := n.qname(n.name)
		b.WriteString("<" + name)
		for _, a := range n.attrs {
			b.WriteString(" " + n.qname(a.Name) + `="`)
			_ = xml.EscapeText(&escWriter{b}, []byte(a.Value))
			b.WriteString(`"`)
		}
		if len(n.children) == 0 {
			b.WriteString(" />")
			return
		}
		b.WriteString(">")
		for _, ch := range n.children {
			ch.write(b, scope)
		}
		b.WriteString("</" + name + ">")
	}
}

// qname renders a name with the prefix declared for its namespace.
func (n *xNode) qname(x xml.Name) string {
	if x.Space == "" || x.Space == "xmlns" {
		if x.Space == "xmlns" {
			return "xmlns:" + x.Local
		}
		return x.Local
	}
	for p := n; p != nil; p = p.parent {
		for _, a := range p.attrs {
			if a.Name.Space == "xmlns" && a.Value == x.Space {
				return a.Name.Local + ":" + x.Local
			}
			if a.Name.Space == "" && a.Name.Local == "xmlns" && a.Value == x.Space {
				return x.Local
			}
		}
	}
	return x.Local
}

type escWriter struct{ b *strings.Builder }

func (w *escWriter) Write(p []byte) (int, error) { return w.b.Write(p) }

// parseXML parses a document into the tree.
func parseXML(c *Context, s string) (*xNode, error) {
	if err := c.charge(len(s) * 4); err != nil {
		return nil, err
	}
	d := xml.NewDecoder(strings.NewReader(s))
	doc := &xNode{kind: xDocumentK}
	cur := doc
	depth := 0
	for {
		t, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, &thrown{typ: "XmlException", msg: err.Error()}
		}
		switch x := t.(type) {
		case xml.StartElement:
			depth++
			if depth > 256 {
				return nil, &thrown{typ: "XmlException", msg: "XML nested too deeply"}
			}
			el := &xNode{kind: xElementK, name: x.Name, attrs: append([]xml.Attr(nil), x.Attr...), parent: cur}
			cur.children = append(cur.children, el)
			cur = el
		case xml.EndElement:
			depth--
			cur = cur.parent
		case xml.CharData:
			if cur.kind == xDocumentK {
				continue
			}
			cur.children = append(cur.children, &xNode{kind: xTextK, text: string(x), parent: cur})
		}
	}
	if doc.root() == nil {
		return nil, &thrown{typ: "XmlException", msg: "Root element is missing."}
	}
	return doc, nil
}

func xnode(v Value) *xNode { return v.o.(*xNode) }

func elementList(items []*xNode) Value {
	out := make([]Value, len(items))
	for i, n := range items {
		out[i] = objValue(n)
	}
	return seqValue(out)
}

// xmlDocument is System.Xml.XmlDocument; its nodes are xmlNode views.
type xmlDocument struct{ doc *xNode }

func (*xmlDocument) typeName() string { return "XmlDocument" }
func (d *xmlDocument) String() string { return "System.Xml.XmlDocument" }

type xmlNode struct{ n *xNode }

func (xmlNode) typeName() string { return "XmlNode" }
func (x xmlNode) String() string { return "System.Xml.XmlElement" }

// xpath evaluates the XPath subset over n.
func xpath(n *xNode, path string) ([]*xNode, []string, error) {
	p := strings.TrimSpace(path)
	cur := []*xNode{n}
	if strings.HasPrefix(p, "/") {
		for cur[0].parent != nil {
			cur[0] = cur[0].parent
		}
	}
	var texts []string
	for p != "" {
		deep := false
		switch {
		case strings.HasPrefix(p, "//"):
			deep, p = true, p[2:]
		case strings.HasPrefix(p, "/"):
			p = p[1:]
		}
		end := strings.IndexByte(p, '/')
		if end < 0 {
			end = len(p)
		}
		step := p[:end]
		p = p[end:]
		index := 0
		if i := strings.IndexByte(step, '['); i >= 0 && strings.HasSuffix(step, "]") {
			var k int
			for _, ch := range step[i+1 : len(step)-1] {
				if ch < '0' || ch > '9' {
					return nil, nil, evalErr("XPath %q: predicates other than [n] are not supported", path)
				}
				k = k*10 + int(ch-'0')
			}
			index, step = k, step[:i]
		}
		if strings.HasPrefix(step, "@") {
			for _, e := range cur {
				for _, a := range e.attrs {
					if a.Name.Local == step[1:] {
						texts = append(texts, a.Value)
					}
				}
			}
			return nil, texts, nil
		}
		if step == "text()" {
			for _, e := range cur {
				texts = append(texts, e.value())
			}
			return nil, texts, nil
		}
		if step == "." {
			continue
		}
		local := step
		if i := strings.IndexByte(step, ':'); i >= 0 {
			local = step[i+1:]
		}
		var next []*xNode
		for _, e := range cur {
			var cands []*xNode
			if deep {
				cands = e.descendants(nil, nil)
			} else {
				for _, ch := range e.children {
					if ch.kind == xElementK {
						cands = append(cands, ch)
					}
				}
			}
			k := 0
			for _, ch := range cands {
				if step == "*" || ch.name.Local == local && (strings.Contains(step, ":") || ch.name.Space == "" || deep || true) {
					k++
					if index == 0 || k == index {
						next = append(next, ch)
					}
				}
			}
		}
		cur = next
		if len(cur) == 0 {
			return nil, nil, nil
		}
	}
	return cur, nil, nil
}

func init() {
	xd := regType("XDocument", "XContainerBase")
	xe := regType("XElement", "XContainerBase")
	regType("XNode")
	xc := regType("XContainerBase")
	for _, ti := range []*typeInfo{xd, xe} {
		name := ti.name
		ti.sm("Parse", 1, 2, typ(name), func(c *Context, a []Value, _ string) (Value, error) {
			s, err := strArg("text", a[0])
			if err != nil {
				return Value{}, err
			}
			d, err := parseXML(c, s)
			if err != nil {
				return Value{}, err
			}
			if name == "XElement" {
				r := d.root()
				r.parent = nil
				return objValue(r), nil
			}
			return objValue(d), nil
		})
	}
	xd.p("Root", "XElement", func(c *Context, v Value) (Value, error) {
		r := xnode(v).root()
		if r == nil {
			return Value{}, nil
		}
		return objValue(r), nil
	})
	xc.m("Descendants", 0, 1, "List", func(c *Context, v Value, a []Value, _ string) (Value, error) {
		var x *xName
		if len(a) == 1 {
			n := nameOf(a[0])
			x = &n
		}
		return elementList(xnode(v).descendants(x, nil)), nil
	})
	xc.m("Elements", 0, 1, "List", func(c *Context, v Value, a []Value, _ string) (Value, error) {
		var out []*xNode
		for _, ch := range xnode(v).children {
			if ch.kind == xElementK && (len(a) == 0 || ch.matches(nameOf(a[0]))) {
				out = append(out, ch)
			}
		}
		return elementList(out), nil
	})
	xc.m("Element", 1, 1, "XElement", func(c *Context, v Value, a []Value, _ string) (Value, error) {
		x := nameOf(a[0])
		for _, ch := range xnode(v).children {
			if ch.matches(x) {
				return objValue(ch), nil
			}
		}
		return Value{}, nil
	})
	xc.m("Nodes", 0, 0, "List", func(c *Context, v Value, a []Value, _ string) (Value, error) {
		return elementList(xnode(v).children), nil
	})
	xc.p("FirstNode", "XNode", func(c *Context, v Value) (Value, error) {
		if ch := xnode(v).children; len(ch) > 0 {
			return objValue(ch[0]), nil
		}
		return Value{}, nil
	})
	xe.p("Name", "XName", func(c *Context, v Value) (Value, error) {
		n := xnode(v).name
		return objValue(xName{ns: n.Space, local: n.Local}), nil
	})
	xe.props["Value"] = &member{t: tyString, get: func(c *Context, v Value) (Value, error) {
		return str(xnode(v).value()), nil
	}, set: func(c *Context, v, x Value) error {
		n := xnode(v)
		n.children = []*xNode{{kind: xTextK, text: x.String(), parent: n}}
		return nil
	}}
	xe.p("HasElements", tyBool, func(c *Context, v Value) (Value, error) {
		for _, ch := range xnode(v).children {
			if ch.kind == xElementK {
				return BoolValue(true), nil
			}
		}
		return BoolValue(false), nil
	})
	xe.p("IsEmpty", tyBool, func(c *Context, v Value) (Value, error) { return BoolValue(len(xnode(v).children) == 0), nil })
	xe.p("Parent", "XElement", func(c *Context, v Value) (Value, error) {
		p := xnode(v).parent
		if p == nil || p.kind != xElementK {
			return Value{}, nil
		}
		return objValue(p), nil
	})
	xe.m("Attribute", 1, 1, "XAttribute", func(c *Context, v Value, a []Value, _ string) (Value, error) {
		x := nameOf(a[0])
		n := xnode(v)
		for _, at := range n.attrs {
			if at.Name.Local == x.local && at.Name.Space == x.ns {
				return objValue(&xAttr{a: at, parent: n}), nil
			}
		}
		return Value{}, nil
	})
	xe.m("Attributes", 0, 0, "List", func(c *Context, v Value, a []Value, _ string) (Value, error) {
		n := xnode(v)
		out := make([]Value, len(n.attrs))
		for i, at := range n.attrs {
			out[i] = objValue(&xAttr{a: at, parent: n})
		}
		return seqValue(out), nil
	})
	xe.m("SetAttributeValue", 2, 2, tyVoid, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		n := xnode(v)
		x := nameOf(a[0])
		for i, at := range n.attrs {
			if at.Name.Local == x.local && at.Name.Space == x.ns {
				if a[1].k == kNull {
					n.attrs = append(n.attrs[:i], n.attrs[i+1:]...)
				} else {
					n.attrs[i].Value = a[1].String()
				}
				return Value{}, nil
			}
		}
		if a[1].k != kNull {
			n.attrs = append(n.attrs, xml.Attr{Name: xml.Name{Space: x.ns, Local: x.local}, Value: a[1].String()})
		}
		return Value{}, nil
	})
	xe.m("Remove", 0, 0, tyVoid, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		n := xnode(v)
		if p := n.parent; p != nil {
			for i, ch := range p.children {
				if ch == n {
					p.children = append(p.children[:i], p.children[i+1:]...)
					break
				}
			}
			n.parent = nil
		}
		return Value{}, nil
	})
	xe.ctor = &method{min: 1, max: -1, t: "XElement", fn: func(c *Context, _ Value, a []Value, _ string) (Value, error) {
		x := nameOf(a[0])
		n := &xNode{kind: xElementK, name: xml.Name{Space: x.ns, Local: x.local}}
		for _, ch := range a[1:] {
			switch o := ch.o.(type) {
			case *xNode:
				if ch.k == kObject {
					o.parent = n
					n.children = append(n.children, o)
					continue
				}
			case *xAttr:
				n.attrs = append(n.attrs, o.a)
				continue
			}
			if ch.k != kNull {
				n.children = append(n.children, &xNode{kind: xTextK, text: ch.String(), parent: n})
			}
		}
		return objValue(n), nil
	}}
	xa := regType("XAttribute")
	xa.p("Name", "XName", func(c *Context, v Value) (Value, error) {
		n := v.o.(*xAttr).a.Name
		return objValue(xName{ns: n.Space, local: n.Local}), nil
	})
	xa.props["Value"] = &member{t: tyString, get: func(c *Context, v Value) (Value, error) { return str(v.o.(*xAttr).a.Value), nil }}
	xa.ctor = &method{min: 2, max: 2, t: "XAttribute", fn: func(c *Context, _ Value, a []Value, _ string) (Value, error) {
		x := nameOf(a[0])
		return objValue(&xAttr{a: xml.Attr{Name: xml.Name{Space: x.ns, Local: x.local}, Value: a[1].String()}}), nil
	}}
	xn := regType("XName")
	xn.p("LocalName", tyString, func(c *Context, v Value) (Value, error) { return str(v.o.(xName).local), nil })
	xn.p("NamespaceName", tyString, func(c *Context, v Value) (Value, error) { return str(v.o.(xName).ns), nil })
	xn.p("Namespace", "XNamespace", func(c *Context, v Value) (Value, error) { return objValue(xNamespace(v.o.(xName).ns)), nil })
	xn.sm("Get", 1, 2, "XName", func(c *Context, a []Value, _ string) (Value, error) {
		if len(a) == 2 {
			return objValue(xName{local: a[0].String(), ns: a[1].String()}), nil
		}
		return objValue(nameOf(a[0])), nil
	})
	xns := regType("XNamespace")
	xns.sm("Get", 1, 1, "XNamespace", func(c *Context, a []Value, _ string) (Value, error) { return objValue(xNamespace(a[0].String())), nil })
	xns.sp("None", "XNamespace", func(c *Context) (Value, error) { return objValue(xNamespace("")), nil })
	xns.p("NamespaceName", tyString, func(c *Context, v Value) (Value, error) { return str(string(v.o.(xNamespace))), nil })
	xns.m("GetName", 1, 1, "XName", func(c *Context, v Value, a []Value, _ string) (Value, error) {
		return objValue(xName{ns: string(v.o.(xNamespace)), local: a[0].String()}), nil
	})

	xmld := regType("XmlDocument")
	xmld.ctor = &method{min: 0, max: 0, t: "XmlDocument", fn: func(c *Context, _ Value, a []Value, _ string) (Value, error) {
		return objValue(&xmlDocument{}), nil
	}}
	xmld.m("LoadXml", 1, 1, tyVoid, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		s, err := strArg("xml", a[0])
		if err != nil {
			return Value{}, err
		}
		d, err := parseXML(c, s)
		if err != nil {
			return Value{}, err
		}
		v.o.(*xmlDocument).doc = d
		return Value{}, nil
	})
	docRoot := func(v Value) (*xNode, error) {
		d := v.o.(*xmlDocument)
		if d.doc == nil {
			return nil, nullRef("XmlDocument (nothing loaded)")
		}
		return d.doc, nil
	}
	xmld.p("DocumentElement", "XmlNode", func(c *Context, v Value) (Value, error) {
		d, err := docRoot(v)
		if err != nil {
			return Value{}, err
		}
		return objValue(xmlNode{n: d.root()}), nil
	})
	xmld.p("OuterXml", tyString, func(c *Context, v Value) (Value, error) {
		d, err := docRoot(v)
		if err != nil {
			return Value{}, err
		}
		return str(d.String()), nil
	})
	xnd := regType("XmlNode")
	sel := func(single bool) func(c *Context, v Value, a []Value, _ string) (Value, error) {
		return func(c *Context, v Value, a []Value, _ string) (Value, error) {
			var n *xNode
			switch o := v.o.(type) {
			case xmlNode:
				n = o.n
			case *xmlDocument:
				if o.doc == nil {
					return Value{}, nullRef("XmlDocument (nothing loaded)")
				}
				n = o.doc
			}
			nodes, texts, err := xpath(n, a[0].String())
			if err != nil {
				return Value{}, err
			}
			if texts != nil {
				return Value{}, evalErr("XPath %q selects text or attributes: select the element and read InnerText", a[0].String())
			}
			if single {
				if len(nodes) == 0 {
					return Value{}, nil
				}
				return objValue(xmlNode{n: nodes[0]}), nil
			}
			out := make([]Value, len(nodes))
			for i, x := range nodes {
				out[i] = objValue(xmlNode{n: x})
			}
			return seqValue(out), nil
		}
	}
	for _, ti := range []*typeInfo{xnd, xmld} {
		ti.m("SelectSingleNode", 1, 2, "XmlNode", sel(true))
		ti.m("SelectNodes", 1, 2, "List", sel(false))
		ti.m("GetElementsByTagName", 1, 1, "List", func(c *Context, v Value, a []Value, _ string) (Value, error) {
			var n *xNode
			switch o := v.o.(type) {
			case xmlNode:
				n = o.n
			case *xmlDocument:
				n = o.doc
			}
			var out []Value
			for _, e := range n.descendants(nil, nil) {
				if e.name.Local == a[0].String() || e.qname(e.name) == a[0].String() {
					out = append(out, objValue(xmlNode{n: e}))
				}
			}
			return seqValue(out), nil
		})
	}
	xnd.p("InnerText", tyString, func(c *Context, v Value) (Value, error) { return str(v.o.(xmlNode).n.value()), nil })
	xnd.p("InnerXml", tyString, func(c *Context, v Value) (Value, error) {
		var b strings.Builder
		for _, ch := range v.o.(xmlNode).n.children {
			ch.write(&b, nil)
		}
		return str(b.String()), nil
	})
	xnd.p("OuterXml", tyString, func(c *Context, v Value) (Value, error) { return str(v.o.(xmlNode).n.String()), nil })
	xnd.p("LocalName", tyString, func(c *Context, v Value) (Value, error) { return str(v.o.(xmlNode).n.name.Local), nil })
	xnd.p("Name", tyString, func(c *Context, v Value) (Value, error) {
		n := v.o.(xmlNode).n
		return str(n.qname(n.name)), nil
	})
	xnd.props["Value"] = &member{t: tyString, get: func(c *Context, v Value) (Value, error) { return Value{}, nil }}

	// XmlReader over a parsed token list (XmlReader.Create(new StringReader(s))).
	regType("StringReader").ctor = &method{min: 1, max: 1, t: "StringReader", fn: func(c *Context, _ Value, a []Value, _ string) (Value, error) {
		s, err := strArg("s", a[0])
		if err != nil {
			return Value{}, err
		}
		return objValue(stringReader(s)), nil
	}}
	xr := regType("XmlReader")
	xr.sm("Create", 1, 2, "XmlReader", func(c *Context, a []Value, _ string) (Value, error) {
		s, ok := a[0].o.(stringReader)
		if !ok || a[0].k != kObject {
			return Value{}, evalErr("XmlReader.Create takes a StringReader")
		}
		if err := c.charge(len(s) * 4); err != nil {
			return Value{}, err
		}
		r := &xmlReader{}
		d := xml.NewDecoder(strings.NewReader(string(s)))
		for {
			t, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				return Value{}, &thrown{typ: "XmlException", msg: err.Error()}
			}
			r.toks = append(r.toks, xml.CopyToken(t))
		}
		r.pos = -1
		return objValue(r), nil
	})
	xr.m("Read", 0, 0, tyBool, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		r := v.o.(*xmlReader)
		r.pos++
		return BoolValue(r.pos < len(r.toks)), nil
	})
	xr.m("MoveToContent", 0, 0, tyString, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		r := v.o.(*xmlReader)
		if r.pos < 0 {
			r.pos = 0
		}
		for r.pos < len(r.toks) {
			if _, ok := r.toks[r.pos].(xml.StartElement); ok {
				break
			}
			r.pos++
		}
		return str("Element"), nil
	})
	xr.m("ReadToFollowing", 1, 1, tyBool, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		r := v.o.(*xmlReader)
		for r.pos++; r.pos < len(r.toks); r.pos++ {
			if s, ok := r.toks[r.pos].(xml.StartElement); ok && r.qname(s.Name) == a[0].String() {
				return BoolValue(true), nil
			}
		}
		return BoolValue(false), nil
	})
	xr.m("ReadElementContentAsString", 0, 0, tyString, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		n, err := v.o.(*xmlReader).readNode()
		if err != nil {
			return Value{}, err
		}
		return str(n.value()), nil
	})
	xr.m("Dispose", 0, 0, tyVoid, func(c *Context, v Value, a []Value, _ string) (Value, error) { return Value{}, nil })
	xr.p("EOF", tyBool, func(c *Context, v Value) (Value, error) {
		r := v.o.(*xmlReader)
		return BoolValue(r.pos >= len(r.toks)), nil
	})
	xr.p("Name", tyString, func(c *Context, v Value) (Value, error) {
		r := v.o.(*xmlReader)
		if r.pos < 0 || r.pos >= len(r.toks) {
			return str(""), nil
		}
		switch t := r.toks[r.pos].(type) {
		case xml.StartElement:
			return str(r.qname(t.Name)), nil
		case xml.EndElement:
			return str(r.qname(t.Name)), nil
		}
		return str(""), nil
	})
	xr.p("LocalName", tyString, func(c *Context, v Value) (Value, error) {
		r := v.o.(*xmlReader)
		if r.pos >= 0 && r.pos < len(r.toks) {
			if t, ok := r.toks[r.pos].(xml.StartElement); ok {
				return str(t.Name.Local), nil
			}
		}
		return str(""), nil
	})
	xr.props["Value"] = &member{t: tyString, get: func(c *Context, v Value) (Value, error) {
		r := v.o.(*xmlReader)
		if r.pos >= 0 && r.pos < len(r.toks) {
			if t, ok := r.toks[r.pos].(xml.CharData); ok {
				return str(string(t)), nil
			}
		}
		return str(""), nil
	}}
	types["XNode"].sm("ReadFrom", 1, 1, "XNode", func(c *Context, a []Value, _ string) (Value, error) {
		r, ok := a[0].o.(*xmlReader)
		if !ok || a[0].k != kObject {
			return Value{}, evalErr("XNode.ReadFrom takes an XmlReader")
		}
		n, err := r.readNode()
		if err != nil {
			return Value{}, err
		}
		return objValue(n), nil
	})
}

type stringReader string

func (stringReader) typeName() string { return "StringReader" }
func (stringReader) String() string   { return "System.IO.StringReader" }

type xmlReader struct {
	toks []xml.Token
	pos  int
	ns   map[string]string
}

func (*xmlReader) typeName() string { return "XmlReader" }
func (*xmlReader) String() string   { return "System.Xml.XmlReader" }

// qname is the prefixed name the reader reports: the prefix declared for the
// namespace in the document (the decoder resolved prefixes away).
func (r *xmlReader) qname(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	for _, t := range r.toks {
		if s, ok := t.(xml.StartElement); ok {
			for _, a := range s.Attr {
				if a.Name.Space == "xmlns" && a.Value == n.Space {
					return a.Name.Local + ":" + n.Local
				}
			}
		}
	}
	return n.Local
}

// readNode reads the element at the current position into a tree and moves
// past it (XNode.ReadFrom).
func (r *xmlReader) readNode() (*xNode, error) {
	if r.pos < 0 || r.pos >= len(r.toks) {
		return nil, errors.New("XmlReader is not positioned on an element")
	}
	s, ok := r.toks[r.pos].(xml.StartElement)
	if !ok {
		return nil, evalErr("the XmlReader is not positioned on an element")
	}
	root := &xNode{kind: xElementK, name: s.Name, attrs: s.Attr}
	cur := root
	for r.pos++; r.pos < len(r.toks); r.pos++ {
		switch t := r.toks[r.pos].(type) {
		case xml.StartElement:
			el := &xNode{kind: xElementK, name: t.Name, attrs: t.Attr, parent: cur}
			cur.children = append(cur.children, el)
			cur = el
		case xml.EndElement:
			if cur == root {
				r.pos++
				return root, nil
			}
			cur = cur.parent
		case xml.CharData:
			cur.children = append(cur.children, &xNode{kind: xTextK, text: string(t), parent: cur})
		}
	}
	return root, nil
}
