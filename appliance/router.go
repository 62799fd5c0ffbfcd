package appliance

import (
	"strings"

	"github.com/apimgw/apimgw/netstack"
	"github.com/apimgw/apimgw/policy"
	"github.com/apimgw/apimgw/wire/urltemplate"
)

// route finds the API whose path is the longest prefix of path (at a segment
// boundary) and returns the rest of the path.
func (c *Compiled) route(path string) (*apiRoute, string) {
	p := path
	// Cut to at most maxDepth segments, then shorten segment by segment.
	depth := 0
	for i := 1; i < len(p); i++ {
		if p[i] == '/' {
			depth++
			if depth >= c.maxDepth {
				p = p[:i]
				break
			}
		}
	}
	for {
		if a, ok := c.apis[p]; ok {
			return a, path[len(p):]
		}
		if p == "" {
			return nil, ""
		}
		i := strings.LastIndexByte(p, '/')
		if i < 0 {
			i = 0
		}
		p = p[:i]
	}
}

// serves reports whether the API's protocols allow a request that came over
// TLS (tls) or plain HTTP. APIM answers a request on a scheme the API does
// not list as it answers an unknown API: 404 "Resource not found".
func (a *apiRoute) serves(tls bool) bool {
	if tls {
		return a.https
	}
	return a.http
}

// secure tells whether a request counts as https for the API's protocols:
// it came over TLS, or, with SetForwardedProto(true), its X-Forwarded-Proto
// says so.
func (h *Handler) secure(x *netstack.Exchange) bool {
	if !h.forwardedProto.Load() {
		return x.TLS
	}
	req := x.Req
	for _, f := range req.Headers {
		if strings.EqualFold(str(req.Bytes(f.Name)), "X-Forwarded-Proto") {
			v := str(req.Bytes(f.Value))
			if i := strings.IndexByte(v, ','); i >= 0 {
				v = v[:i] // the first proxy's view: the client's scheme
			}
			return strings.EqualFold(strings.TrimSpace(v), "https")
		}
	}
	return x.TLS
}

// match finds the operation for method, the API-relative path rel and the raw
// query, and fills params with its template parameters. m is scratch space
// for the offsets (the connection's): the values put into params are
// substrings of rel and query, so nothing is allocated once params has room.
func (a *apiRoute) match(method, rel, query string, m *urltemplate.Match, params *policy.Params) *opRoute {
	params.Reset()
	for _, op := range a.ops {
		if op.method != "*" && op.method != method {
			continue
		}
		if op.tmpl.Match(rel, query, m) {
			for i, name := range op.tmpl.Params() {
				params.Add(name, m.Value(op.tmpl, i, rel, query))
			}
			return op
		}
	}
	return nil
}
