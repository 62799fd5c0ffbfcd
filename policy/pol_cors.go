package policy

import (
	"strconv"
	"strings"
)

// cors answers CORS preflight requests (OPTIONS with Origin and
// Access-Control-Request-Method) itself, and adds Access-Control-Allow-Origin
// (and credentials, exposed headers) to the responses of allowed cross-origin
// requests: those headers are added when the outbound section starts. With
// terminate-unmatched-request (default true) a cross-origin request that does
// not match ends with an empty 200, as APIM documents.
func init() {
	register("cors", inInbound, []string{"allow-credentials", "terminate-unmatched-request"}, compileCors)
}

type cors struct {
	credentials bool
	terminate   bool
	anyOrigin   bool
	origins     []string
	anyMethod   bool
	methods     []string
	anyHeader   bool
	headers     []string
	expose      string
	maxAge      string
}

func compileCors(b *builder, n *Node) {
	b.noText(n)
	m := b.meta(n)
	s := &cors{credentials: b.attrBool(n, "allow-credentials", false), terminate: b.attrBool(n, "terminate-unmatched-request", true)}
	b.onlyChildren(n, "allowed-origins", "allowed-methods", "allowed-headers", "expose-headers")
	list := func(p *Node, item string) (all bool, out []string) {
		b.noText(p)
		b.onlyChildren(p, item)
		for _, ch := range p.Children {
			if ch.Name != item {
				continue
			}
			b.checkAttrs(ch)
			b.noChildren(ch)
			v := strings.TrimSpace(b.subst(ch, ch.TextPos, ch.Text))
			if v == "*" {
				all = true
			}
			out = append(out, v)
		}
		return
	}
	hasOrigins := false
	for _, ch := range n.Children {
		switch ch.Name {
		case "allowed-origins":
			b.checkAttrs(ch)
			s.anyOrigin, s.origins = list(ch, "origin")
			hasOrigins = true
		case "allowed-methods":
			b.checkAttrs(ch, "preflight-result-max-age")
			if age := b.attrInt(ch, "preflight-result-max-age", false, -1, 0, 1<<31); age >= 0 {
				s.maxAge = strconv.FormatInt(age, 10)
			}
			s.anyMethod, s.methods = list(ch, "method")
		case "allowed-headers":
			b.checkAttrs(ch)
			s.anyHeader, s.headers = list(ch, "header")
		case "expose-headers":
			b.checkAttrs(ch)
			_, hs := list(ch, "header")
			s.expose = strings.Join(hs, ",")
		}
	}
	if !hasOrigins || len(s.origins) == 0 {
		b.errorf(n, ErrInvalid, "<allowed-origins> with at least one <origin> is required")
	}
	if s.credentials && s.anyOrigin {
		b.errorf(n, ErrInvalid, "allow-credentials=\"true\" cannot be combined with the origin *")
	}
	if len(s.methods) == 0 {
		s.methods = []string{"GET", "POST"} // APIM's default
	}
	b.emit(instr{op: opStep, step: s, meta: m, flow: true})
}

func (s *cors) originAllowed(o string) bool {
	if s.anyOrigin {
		return true
	}
	for _, a := range s.origins {
		if strings.EqualFold(a, o) {
			return true
		}
	}
	return false
}

func (s *cors) methodAllowed(m string) bool {
	if s.anyMethod {
		return true
	}
	for _, a := range s.methods {
		if strings.EqualFold(a, m) {
			return true
		}
	}
	return false
}

func (s *cors) headersAllowed(list string) bool {
	if s.anyHeader {
		return true
	}
	for _, h := range strings.Split(list, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		ok := false
		for _, a := range s.headers {
			if strings.EqualFold(a, h) {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func (s *cors) run(c *Context) (flow, error) {
	origin, ok := c.Request.Headers.Get("Origin")
	if !ok {
		return flowNext, nil
	}
	reqMethod, preflight := c.Request.Headers.Get("Access-Control-Request-Method")
	preflight = preflight && c.Request.Method == "OPTIONS"
	allowOrigin := origin
	if s.anyOrigin && !s.credentials {
		allowOrigin = "*"
	}
	if preflight {
		reqHeaders, _ := c.Request.Headers.Get("Access-Control-Request-Headers")
		if !s.originAllowed(origin) || !s.methodAllowed(reqMethod) || !s.headersAllowed(reqHeaders) {
			if !s.terminate {
				return flowNext, nil
			}
			s.empty(c)
			return flowRespond, nil
		}
		s.empty(c)
		h := &c.Response.Headers
		h.Set("Access-Control-Allow-Origin", allowOrigin)
		if s.credentials {
			h.Set("Access-Control-Allow-Credentials", "true")
		}
		h.Set("Access-Control-Allow-Methods", reqMethod)
		if reqHeaders != "" {
			h.Set("Access-Control-Allow-Headers", reqHeaders)
		}
		if s.maxAge != "" {
			h.Set("Access-Control-Max-Age", s.maxAge)
		}
		if allowOrigin != "*" {
			h.Set("Vary", "Origin")
		}
		return flowRespond, nil
	}
	if !s.originAllowed(origin) {
		if !s.terminate {
			return flowNext, nil
		}
		s.empty(c)
		return flowRespond, nil
	}
	c.respHeaders.Set("Access-Control-Allow-Origin", allowOrigin)
	if s.credentials {
		c.respHeaders.Set("Access-Control-Allow-Credentials", "true")
	}
	if s.expose != "" {
		c.respHeaders.Set("Access-Control-Expose-Headers", s.expose)
	}
	if allowOrigin != "*" {
		c.respHeaders.Set("Vary", "Origin")
	}
	return flowNext, nil
}

func (s *cors) empty(c *Context) {
	c.Response.reset()
	c.Response.StatusCode, c.Response.Reason = 200, "OK"
	c.Response.BodySet = true
}
