package policy

import (
	"strings"

	"github.com/apimgw/apimgw/netstack/http1"
)

// check-header refuses the request with failed-check-httpcode and APIM's JSON
// error body unless the header is present and (when <value>s are listed) one
// of its values is among them.
func init() {
	register("check-header", inInbound, []string{"name", "failed-check-httpcode", "failed-check-error-message", "ignore-case"}, compileCheckHeader)
}

type checkHeader struct {
	name       string
	values     []string
	ignoreCase bool
	code       int
	reason     string
	body       []byte
}

func compileCheckHeader(b *builder, n *Node) {
	b.noText(n)
	m := b.meta(n)
	s := &checkHeader{
		name:       b.attrString(n, "name", true, ""),
		code:       int(b.attrInt(n, "failed-check-httpcode", true, 401, 100, 599)),
		ignoreCase: b.attrBool(n, "ignore-case", false),
	}
	msg := b.attrString(n, "failed-check-error-message", true, "")
	s.body = http1.AppendErrorBody(nil, s.code, msg)
	b.onlyChildren(n, "value")
	for _, v := range n.Children {
		if v.Name == "value" {
			b.checkAttrs(v)
			b.noChildren(v)
			p := b.textProp(v)
			if p.e != nil {
				b.errorAt(v, v.TextPos, ErrUnsupported, "check-header values must be literals")
			}
			s.values = append(s.values, p.lit.s)
		}
	}
	b.emit(instr{op: opStep, step: s, meta: m, flow: true})
}

func (s *checkHeader) run(c *Context) (flow, error) {
	if s.ok(c) {
		return flowNext, nil
	}
	c.Response.reset()
	c.Response.StatusCode = s.code
	c.Response.Headers.Set("Content-Type", "application/json")
	c.Response.Body, c.Response.BodySet = s.body, true
	return flowRespond, nil
}

func (s *checkHeader) ok(c *Context) bool {
	found := false
	for _, h := range c.Request.Headers.List {
		if !strings.EqualFold(h.Name, s.name) {
			continue
		}
		found = true
		if len(s.values) == 0 {
			return true
		}
		for _, want := range s.values {
			if h.Value == want || s.ignoreCase && strings.EqualFold(h.Value, want) {
				return true
			}
		}
	}
	return found && len(s.values) == 0
}
