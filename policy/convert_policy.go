package policy

import (
	"strings"
)

// What json-to-xml and xml-to-json share: the enumerated attributes that
// accept expressions, the content-type and Accept checks, and where the
// converted body goes.

// enumProp compiles an attribute that takes one of values or an expression;
// a literal outside values is a compile error, an expression is checked when
// it runs.
func (b *builder) enumProp(n *Node, name string, required bool, def string, values ...string) prop {
	p := b.attrProp(n, name, required)
	if !p.set {
		return prop{set: true, lit: str(def)}
	}
	if p.e == nil && !p.bad {
		s := strings.TrimSpace(p.lit.String())
		for _, v := range values {
			if strings.EqualFold(s, v) {
				return prop{set: true, lit: str(v)}
			}
		}
		a, _ := n.Attr(name)
		b.errorAt(n, a.ValuePos, ErrInvalid, "attribute %q: %q is not one of %s", name, s, strings.Join(values, ", "))
	}
	return p
}

// enumValue evaluates an enumProp for one request.
func enumValue(c *Context, p *prop, name string, values ...string) (string, error) {
	s, err := p.str(c)
	if err != nil {
		return "", err
	}
	s = strings.TrimSpace(s)
	for _, v := range values {
		if strings.EqualFold(s, v) {
			return v, nil
		}
	}
	return "", evalErr("attribute %q: %q is not one of %s", name, s, strings.Join(values, ", "))
}

// conversion is what a json-to-xml or xml-to-json step converts: the body and
// headers of its target.
type conversion struct {
	target target
	apply  prop // always | content-type-json / content-type-xml
	accept prop // consider-accept-header
}

// bodyHeaders returns the body and headers the step works on.
func (cv *conversion) bodyHeaders(c *Context) ([]byte, *Headers) {
	if cv.target == toRequest {
		return c.Request.Body, &c.Request.Headers
	}
	return c.Response.Body, &c.Response.Headers
}

func (cv *conversion) setBody(c *Context, body []byte, contentType string) error {
	// The converted body, charged for the rest of the request (the tree the
	// conversion built is garbage once it returns).
	if err := c.chargeBody(len(body)); err != nil {
		return err
	}
	if cv.target == toRequest {
		c.Request.Body, c.Request.Buffered = body, true
		c.Request.Headers.Set("Content-Type", contentType)
		return nil
	}
	c.Response.Body, c.Response.BodySet = body, true
	c.Response.Headers.Set("Content-Type", contentType)
	return nil
}

// wanted decides whether to convert: apply's content-type condition on the
// target's Content-Type and, with consider-accept-header, a request Accept
// header that names the output format (a media type whose subtype is, or
// ends in +, want; */* does not count).
func (cv *conversion) wanted(c *Context, applyName, want string) (bool, error) {
	mode, err := enumValue(c, &cv.apply, "apply", "always", applyName)
	if err != nil {
		return false, err
	}
	_, h := cv.bodyHeaders(c)
	from := "json"
	if want == "json" {
		from = "xml"
	}
	if mode == applyName {
		ct, _ := h.Get("Content-Type")
		if !mediaTypeIs(ct, from) {
			return false, nil
		}
	}
	consider, err := cv.accept.boolean(c)
	if err != nil {
		return false, err
	}
	if consider {
		acc, _ := c.Request.Headers.Joined("Accept")
		ok := false
		for _, r := range strings.Split(acc, ",") {
			if mediaTypeIs(r, want) {
				ok = true
			}
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

// mediaTypeIs reports whether media type mt (parameters allowed) has subtype
// kind or a +kind suffix: application/json, text/xml, application/soap+xml.
func mediaTypeIs(mt, kind string) bool {
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = mt[:i]
	}
	mt = strings.ToLower(strings.TrimSpace(mt))
	slash := strings.IndexByte(mt, '/')
	if slash < 0 {
		return false
	}
	sub := mt[slash+1:]
	return sub == kind || strings.HasSuffix(sub, "+"+kind)
}
