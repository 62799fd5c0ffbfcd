package urltemplate

import (
	"fmt"
	"sort"
	"strings"
)

// MaxParams is the most parameters (path and query) one template may have;
// Match keeps their offsets in a fixed array so that matching never allocates.
const MaxParams = 16

// Template is a parsed URL template. It is immutable and safe for concurrent
// use.
//
// Syntax (APIM's, as its portal and REST API take it):
//   - the template starts with "/"; segments are separated by "/"; a trailing
//     "/" is ignored; empty segments ("//") are refused;
//   - a segment is literal text, a parameter "{name}", or text and parameters
//     mixed ("{name}.json", "v{version}", "{a}-{b}"); two parameters must be
//     separated by text ("{a}{b}" is ambiguous and refused);
//   - "{*name}" as the whole last segment matches the rest of the path (any
//     number of segments, also none) and names it; "*" as the whole last
//     segment is APIM's wildcard operation ("/*"): the same, unnamed. Neither
//     may stand anywhere but last;
//   - a query part "?a={a}&format=json" lists query parameters the request
//     must carry: "{a}" takes any value, literal text must be equal;
//   - a parameter name is non-empty and holds none of / ? # & = { } * or
//     spaces; a name appears once.
type Template struct {
	raw    string
	segs   []segment
	query  []queryPart
	names  []string // every parameter, path ones first, in template order
	inPath int      // names[:inPath] are path parameters
	// wildcard: the last segment takes the rest of the path.
	wildcard bool
	// wildParam is the index in names of a named wildcard ({*rest}), or -1.
	wildParam int
}

type kind uint8

// Segment kinds, most specific first (Compare relies on the order).
const (
	kLiteral kind = iota
	kCompound
	kParam
	kWildcard
)

type segment struct {
	kind   kind
	pieces []piece
	lits   int // literal bytes in the segment
}

// piece is literal text (param < 0) or a parameter (the index in names).
type piece struct {
	lit   string
	param int
}

type queryPart struct {
	name  string
	lit   string // the value it must have, when param < 0
	param int
}

// Parse parses an APIM URL template. Errors wrap ErrInvalid and say what is
// wrong and where.
func Parse(s string) (*Template, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w %q: %s", ErrInvalid, s, fmt.Sprintf(format, args...))
	}
	if !strings.HasPrefix(s, "/") {
		return nil, bad("does not start with /")
	}
	if i := strings.IndexByte(s, '#'); i >= 0 {
		return nil, bad("a fragment (#) at offset %d cannot be matched: browsers do not send it", i)
	}
	t := &Template{raw: s, wildParam: -1}
	path, query, hasQuery := strings.Cut(s, "?")
	seen := map[string]bool{}
	addName := func(name string, off int) (int, error) {
		if err := checkName(name); err != nil {
			return 0, bad("parameter {%s} at offset %d: %v", name, off, err)
		}
		if seen[name] {
			return 0, bad("parameter {%s} appears twice", name)
		}
		if len(t.names) == MaxParams {
			return 0, bad("more than %d parameters", MaxParams)
		}
		seen[name] = true
		t.names = append(t.names, name)
		return len(t.names) - 1, nil
	}

	rest := strings.TrimSuffix(path[1:], "/")
	off := 1
	for rest != "" {
		raw, after, more := strings.Cut(rest, "/")
		if t.wildcard {
			return nil, bad("the wildcard segment must be the last one (APIM, like .NET's UriTemplate, allows it only at the end)")
		}
		if raw == "" {
			return nil, bad("empty path segment at offset %d", off)
		}
		seg, err := t.parseSegment(raw, off, addName, bad)
		if err != nil {
			return nil, err
		}
		t.segs = append(t.segs, seg)
		off += len(raw) + 1
		rest = after
		if !more {
			break
		}
	}
	t.inPath = len(t.names)

	if hasQuery {
		if query == "" {
			return nil, bad("empty query part after ?")
		}
		qoff := len(path) + 1
		for _, part := range strings.Split(query, "&") {
			name, val, ok := strings.Cut(part, "=")
			switch {
			case part == "":
				return nil, bad("empty query parameter at offset %d", qoff)
			case !ok || name == "":
				return nil, bad("query part %q at offset %d is not name=value or name={param}", part, qoff)
			case strings.ContainsAny(name, "{}"):
				return nil, bad("query parameter name %q at offset %d cannot be a template parameter", name, qoff)
			}
			q := queryPart{name: name, param: -1}
			if strings.HasPrefix(val, "{") && strings.HasSuffix(val, "}") && strings.Count(val, "{") == 1 {
				if strings.HasPrefix(val, "{*") {
					return nil, bad("a wildcard {%s} cannot be a query value", val[1:len(val)-1])
				}
				i, err := addName(val[1:len(val)-1], qoff+len(name)+1)
				if err != nil {
					return nil, err
				}
				q.param = i
			} else if strings.ContainsAny(val, "{}") {
				return nil, bad("query value %q at offset %d mixes text and a parameter, which APIM does not match", val, qoff+len(name)+1)
			} else {
				q.lit = val
			}
			t.query = append(t.query, q)
			qoff += len(part) + 1
		}
	}
	return t, nil
}

func (t *Template) parseSegment(raw string, off int, addName func(string, int) (int, error), bad func(string, ...any) error) (segment, error) {
	if raw == "*" {
		t.wildcard = true
		return segment{kind: kWildcard}, nil
	}
	if strings.HasPrefix(raw, "{*") && strings.HasSuffix(raw, "}") && strings.Count(raw, "{") == 1 {
		i, err := addName(raw[2:len(raw)-1], off)
		if err != nil {
			return segment{}, err
		}
		t.wildcard, t.wildParam = true, i
		return segment{kind: kWildcard, pieces: []piece{{param: i}}}, nil
	}
	var seg segment
	for i := 0; i < len(raw); {
		switch raw[i] {
		case '}':
			return seg, bad("unmatched } at offset %d", off+i)
		case '{':
			end := strings.IndexByte(raw[i+1:], '}')
			if end < 0 {
				return seg, bad("unclosed { at offset %d", off+i)
			}
			name := raw[i+1 : i+1+end]
			if strings.HasPrefix(name, "*") {
				return seg, bad("wildcard {%s} at offset %d must be a whole segment, and the last one", name, off+i)
			}
			if n := len(seg.pieces); n > 0 && seg.pieces[n-1].param >= 0 {
				return seg, bad("parameters {%s} and {%s} touch at offset %d: nothing tells where one ends", t.names[seg.pieces[n-1].param], name, off+i)
			}
			idx, err := addName(name, off+i)
			if err != nil {
				return seg, err
			}
			seg.pieces = append(seg.pieces, piece{param: idx})
			i += end + 2
		default:
			j := strings.IndexAny(raw[i:], "{}")
			if j < 0 {
				j = len(raw) - i
			}
			if strings.Contains(raw[i:i+j], "*") && raw != "*" {
				// APIM has no glob inside segments; a literal "*" would never
				// be what the author meant.
				return seg, bad("* at offset %d: only a whole last segment \"*\" is a wildcard", off+i+strings.IndexByte(raw[i:i+j], '*'))
			}
			seg.pieces = append(seg.pieces, piece{lit: raw[i : i+j], param: -1})
			seg.lits += j
			i += j
		}
	}
	switch {
	case len(seg.pieces) == 1 && seg.pieces[0].param < 0:
		seg.kind = kLiteral
	case len(seg.pieces) == 1:
		seg.kind = kParam
	default:
		seg.kind = kCompound
	}
	return seg, nil
}

func checkName(name string) error {
	if name == "" {
		return fmt.Errorf("empty name")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c == 0x7f || strings.IndexByte("/?#&={}*", c) >= 0 {
			return fmt.Errorf("name holds %q", c)
		}
	}
	return nil
}

// String returns the template as it was parsed.
func (t *Template) String() string { return t.raw }

// Params returns the names of the template's parameters, path ones first, in
// template order (the unnamed wildcard "*" is not one). The slice must not be
// changed.
func (t *Template) Params() []string { return t.names }

// IsQuery reports whether parameter i (an index into Params) is a query
// parameter.
func (t *Template) IsQuery(i int) bool { return i >= t.inPath }

// Wildcard reports whether the template ends with a wildcard ("/*" or
// "{*rest}") and so matches any remaining path.
func (t *Template) Wildcard() bool { return t.wildcard }

// Shape is the template reduced to what matching sees: literals lower-cased,
// parameter names dropped. Two templates with the same Shape match the same
// requests.
func (t *Template) Shape() string {
	var b strings.Builder
	for _, s := range t.segs {
		b.WriteByte('/')
		if s.kind == kWildcard {
			b.WriteByte('*')
			continue
		}
		for _, p := range s.pieces {
			if p.param >= 0 {
				b.WriteString("{}")
			} else {
				b.WriteString(strings.ToLower(p.lit))
			}
		}
	}
	if len(t.segs) == 0 {
		b.WriteByte('/')
	}
	qs := make([]string, 0, len(t.query))
	for _, q := range t.query {
		v := q.lit
		if q.param >= 0 {
			v = "{}"
		}
		qs = append(qs, q.name+"="+v)
	}
	sort.Strings(qs)
	for i, q := range qs {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(q)
	}
	return b.String()
}
