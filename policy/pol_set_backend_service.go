package policy

import (
	"net/url"
	"strings"
)

// set-backend-service changes where the request is forwarded: base-url (literal
// or expression) or backend-id (a backend entity of the snapshot, checked at
// compile time; Upstream.BackendID names it, and BaseURL is its URL — "" for
// a pool, whose member the appliance picks per request).
func init() {
	register("set-backend-service", inInbound|inBackend, []string{"base-url", "backend-id"}, compileSetBackendService)
}

type setBackendService struct {
	url prop
	id  string // backend-id; "" for base-url
}

// SetsBaseURL reports whether p has a set-backend-service with base-url:
// its backend is then a URL known only at run time, which the caller parses
// (and, for https, makes TLS settings for) when a request gets there.
func (p *Pipeline) SetsBaseURL() bool {
	for s := Section(0); s < numSections; s++ {
		for _, in := range p.sections[s] {
			if sb, ok := in.step.(*setBackendService); ok && sb.id == "" {
				return true
			}
		}
	}
	return false
}

func validBaseURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func compileSetBackendService(b *builder, n *Node) {
	b.noText(n)
	b.noChildren(n)
	m := b.meta(n)
	_, hasURL := n.Attr("base-url")
	_, hasID := n.Attr("backend-id")
	s := &setBackendService{}
	switch {
	case hasURL == hasID:
		b.errorf(n, ErrInvalid, "exactly one of base-url and backend-id is required")
		return
	case hasURL:
		s.url = b.attrProp(n, "base-url", true)
		if s.url.e == nil && !b.cp.opts.Offline && !validBaseURL(strings.TrimSpace(s.url.lit.s)) {
			a, _ := n.Attr("base-url")
			b.errorAt(n, a.ValuePos, ErrInvalid, "base-url %q is not an absolute http(s) URL", s.url.lit.s)
		}
		s.url.lit.s = strings.TrimSpace(s.url.lit.s)
	default:
		id := b.attrString(n, "backend-id", true, "")
		u, ok := b.cp.opts.Backends[id]
		if !ok && !b.cp.opts.Offline {
			a, _ := n.Attr("backend-id")
			b.errorAt(n, a.ValuePos, ErrInvalid, "backend %q is not defined", id)
		}
		s.url = prop{set: true, lit: StringValue(u)}
		s.id = id
	}
	b.emit(instr{op: opStep, step: s, meta: m})
}

func (s *setBackendService) run(c *Context) (flow, error) {
	u, err := s.url.str(c)
	if err != nil {
		return flowNext, err
	}
	if s.url.e != nil && !validBaseURL(u) {
		return flowNext, evalErr("base-url %q is not an absolute http(s) URL", u)
	}
	c.Upstream.BaseURL = u
	c.Upstream.BackendID = s.id
	return flowNext, nil
}
