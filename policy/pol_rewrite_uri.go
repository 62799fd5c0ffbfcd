package policy

import (
	"net/url"
	"strings"
)

// rewrite-uri replaces the request path (relative to the backend base URL) and
// query with template, whose {name} placeholders take the operation's matched
// URL parameters (or, failing those, query parameters). With
// copy-unmatched-params (default true) query parameters the template does not
// use are kept.
func init() {
	register("rewrite-uri", inInbound|inBackend, []string{"template", "copy-unmatched-params"}, compileRewriteURI)
}

type rewriteURI struct {
	template prop
	copy     bool
}

func compileRewriteURI(b *builder, n *Node) {
	b.noText(n)
	b.noChildren(n)
	m := b.meta(n)
	s := &rewriteURI{template: b.attrProp(n, "template", true), copy: b.attrBool(n, "copy-unmatched-params", true)}
	if s.template.set && !s.template.bad && s.template.e == nil {
		if t := strings.TrimSpace(s.template.lit.s); t == "" || strings.Count(t, "{") != strings.Count(t, "}") {
			a, _ := n.Attr("template")
			b.errorAt(n, a.ValuePos, ErrInvalid, "template %q is empty or has unbalanced braces", t)
		}
	}
	b.emit(instr{op: opStep, step: s, meta: m})
}

func (s *rewriteURI) run(c *Context) (flow, error) {
	t, err := s.template.str(c)
	if err != nil {
		return flowNext, err
	}
	t = strings.TrimSpace(t)
	used := map[string]bool{}
	expand := func(part string, escape func(string) string) string {
		var out strings.Builder
		for {
			i := strings.IndexByte(part, '{')
			if i < 0 {
				break
			}
			j := strings.IndexByte(part[i:], '}')
			if j < 0 {
				break
			}
			name := part[i+1 : i+j]
			out.WriteString(part[:i])
			v, ok := c.Request.MatchedParameters.Get(name)
			if !ok {
				v, _ = c.Request.Query.Get(name)
			}
			used[name] = true
			out.WriteString(escape(v))
			part = part[i+j+1:]
		}
		out.WriteString(part)
		return out.String()
	}
	path, rawQuery, _ := strings.Cut(t, "?")
	path = expand(path, url.PathEscape)
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	var q Params
	if rawQuery != "" {
		for _, kv := range strings.Split(rawQuery, "&") {
			if kv == "" {
				continue
			}
			k, v, _ := strings.Cut(kv, "=")
			k, v = expand(k, func(s string) string { return s }), expand(v, func(s string) string { return s })
			if uk, err := url.QueryUnescape(k); err == nil {
				k = uk
			}
			if uv, err := url.QueryUnescape(v); err == nil {
				v = uv
			}
			used[k] = true
			q.Add(k, v)
		}
	}
	if s.copy {
		for _, p := range c.Request.Query.List {
			if !used[p.Name] {
				q.Add(p.Name, p.Value)
			}
		}
	}
	c.Request.Path = path
	c.Request.Query.Reset()
	c.Request.Query.List = append(c.Request.Query.List, q.List...)
	return flowNext, nil
}
