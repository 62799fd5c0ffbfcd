package urltemplate

import "strings"

// Span is where one matched parameter's value lies: path[Start:End] for a path
// parameter, query[Start:End] for a query parameter (the strings given to
// Match). Values are as the request has them (still percent-encoded).
type Span struct{ Start, End int32 }

// Match receives what Template.Match found. It is a plain value with a fixed
// array, so a caller can keep one per connection and reuse it: matching never
// allocates.
type Match struct {
	// Spans[i] is the value of Params()[i].
	Spans [MaxParams]Span
	// Rest is where the wildcard's remaining path starts in path (the
	// template's wildcard matched path[Rest:]); -1 without a wildcard.
	Rest int32
}

// Value returns parameter i's value from the strings the match was made on.
func (m *Match) Value(t *Template, i int, path, query string) string {
	s := m.Spans[i]
	if t.IsQuery(i) {
		return query[s.Start:s.End]
	}
	return path[s.Start:s.End]
}

// Match reports whether a request matches the template and, if so, fills m.
// path is the part of the request path the template is relative to (after
// the API's path suffix: "" and "/" are the API's root), without the query;
// query is the raw query string without "?". Literal segments compare
// case-insensitively, as APIM does; a trailing "/" of the request is ignored;
// a {param} takes at least one character and never a "/"; in a segment with
// text around parameters, each parameter takes the shortest value that lets
// the rest of the segment match; the wildcard takes the rest (also nothing).
// Every query part of the template must be present in query.
func (t *Template) Match(path, query string, m *Match) bool {
	m.Rest = -1
	pos := 0
	if strings.HasPrefix(path, "/") {
		pos = 1
	}
	for _, seg := range t.segs {
		if seg.kind == kWildcard {
			m.Rest = int32(pos)
			if pos > len(path) {
				m.Rest = int32(len(path))
			}
			if t.wildParam >= 0 {
				m.Spans[t.wildParam] = Span{m.Rest, int32(len(path))}
			}
			return t.matchQuery(query, m)
		}
		if pos >= len(path) {
			return false
		}
		end := strings.IndexByte(path[pos:], '/')
		if end < 0 {
			end = len(path)
		} else {
			end += pos
		}
		if !matchPieces(seg.pieces, path[pos:end], pos, m) {
			return false
		}
		pos = end + 1
	}
	// Nothing may be left but a trailing slash (which the last segment's
	// cut already stepped over).
	if pos < len(path) {
		return false
	}
	return t.matchQuery(query, m)
}

// matchPieces matches one segment's pieces against seg, which starts at off
// in the path. The parser guarantees that no two parameters touch.
func matchPieces(ps []piece, seg string, off int, m *Match) bool {
	for len(ps) > 0 {
		p := ps[0]
		if p.param < 0 {
			if len(seg) < len(p.lit) || !strings.EqualFold(seg[:len(p.lit)], p.lit) {
				return false
			}
			seg, off, ps = seg[len(p.lit):], off+len(p.lit), ps[1:]
			continue
		}
		if len(ps) == 1 {
			if seg == "" {
				return false
			}
			m.Spans[p.param] = Span{int32(off), int32(off + len(seg))}
			return true
		}
		next := ps[1].lit
		if len(ps) == 2 {
			// The last literal ends the segment: no search needed.
			if len(seg) <= len(next) || !strings.EqualFold(seg[len(seg)-len(next):], next) {
				return false
			}
			m.Spans[p.param] = Span{int32(off), int32(off + len(seg) - len(next))}
			return true
		}
		for k := 1; k+len(next) <= len(seg); k++ {
			if strings.EqualFold(seg[k:k+len(next)], next) && matchPieces(ps[1:], seg[k:], off+k, m) {
				m.Spans[p.param] = Span{int32(off), int32(off + k)}
				return true
			}
		}
		return false
	}
	return seg == ""
}

// matchQuery checks the template's query parts against the raw query.
func (t *Template) matchQuery(query string, m *Match) bool {
	for _, q := range t.query {
		start, end, ok := findQuery(query, q.name)
		if !ok {
			return false
		}
		if q.param < 0 {
			if query[start:end] != q.lit {
				return false
			}
			continue
		}
		m.Spans[q.param] = Span{int32(start), int32(end)}
	}
	return true
}

// findQuery finds the first name=value pair called name and returns where its
// value lies ("name" alone counts, with an empty value).
func findQuery(query, name string) (int, int, bool) {
	for i := 0; i < len(query); {
		j := strings.IndexByte(query[i:], '&')
		if j < 0 {
			j = len(query)
		} else {
			j += i
		}
		pair := query[i:j]
		if len(pair) >= len(name) && pair[:len(name)] == name {
			if len(pair) == len(name) {
				return j, j, true
			}
			if pair[len(name)] == '=' {
				return i + len(name) + 1, j, true
			}
		}
		i = j + 1
	}
	return 0, 0, false
}

// Compare orders templates by how specific they are: it is negative when a
// is more specific than b (a router tries it first), positive when b is, and
// 0 when neither is. Segments are compared left to right: a literal beats
// text around parameters (more literal text first), which beats a whole
// parameter, which beats the wildcard; a template that stops where the other
// goes on into a wildcard is the more specific; then more query parts win.
func Compare(a, b *Template) int {
	n := min(len(a.segs), len(b.segs))
	for i := 0; i < n; i++ {
		sa, sb := &a.segs[i], &b.segs[i]
		if sa.kind != sb.kind {
			return int(sa.kind) - int(sb.kind)
		}
		if sa.kind == kCompound && sa.lits != sb.lits {
			return sb.lits - sa.lits
		}
	}
	switch {
	case len(a.segs) > n:
		if a.segs[n].kind == kWildcard {
			return 1
		}
		return -1
	case len(b.segs) > n:
		if b.segs[n].kind == kWildcard {
			return -1
		}
		return 1
	}
	return len(b.query) - len(a.query)
}
