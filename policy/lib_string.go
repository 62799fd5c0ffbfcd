package policy

import (
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// This file is System.String, StringBuilder, Regex and .NET composite
// formatting (string.Format, interpolation holes with :format).

type stringComparison uint8 // bit 1: ignore case

func (s stringComparison) typeName() string { return "StringComparison" }
func (s stringComparison) String() string {
	if s&1 != 0 {
		return "OrdinalIgnoreCase"
	}
	return "Ordinal"
}

type splitOptions uint8 // 1 RemoveEmptyEntries, 2 TrimEntries

func (s splitOptions) typeName() string { return "StringSplitOptions" }
func (s splitOptions) String() string   { return "None" }

func ignoreCase(v Value) bool {
	s, ok := v.o.(stringComparison)
	return v.k == kObject && ok && s&1 != 0
}

func stringEquals(a, b string, cmp Value) bool {
	if ignoreCase(cmp) {
		return strings.EqualFold(a, b)
	}
	return a == b
}

func strArg(name string, v Value) (string, error) {
	switch v.k {
	case kString:
		return v.s, nil
	case kNull:
		return "", &thrown{typ: "ArgumentNullException", msg: "Value cannot be null. (Parameter '" + name + "')"}
	}
	return "", evalErr("%s: expected a string, found %s", name, runtimeType(v))
}

func intArg(name string, v Value) (int, error) {
	if v.k != kInt {
		return 0, evalErr("%s: expected an int, found %s", name, runtimeType(v))
	}
	return int(v.i), nil
}

func indexOf(s, sub string, fold bool) int {
	if fold {
		return strings.Index(strings.ToLower(s), strings.ToLower(sub))
	}
	return strings.Index(s, sub)
}

// splitValue implements String.Split(separators…, [count], [options]).
func splitValue(s string, a []Value) ([]string, error) {
	var seps []string
	opts := splitOptions(0)
	count := -1
	for _, x := range a {
		switch {
		case x.k == kString:
			seps = append(seps, x.s)
		case x.k == kStrings:
			seps = append(seps, x.a...)
		case x.k == kInt:
			count = int(x.i)
		case x.k == kObject:
			if o, ok := x.o.(splitOptions); ok {
				opts = o
				continue
			}
			if sq, ok := x.o.(*seq); ok {
				for _, it := range sq.items {
					seps = append(seps, it.String())
				}
				continue
			}
			return nil, evalErr("Split: unexpected %s argument", runtimeType(x))
		case x.k == kNull:
		default:
			return nil, evalErr("Split: unexpected %s argument", runtimeType(x))
		}
	}
	var out []string
	if len(seps) == 0 {
		out = strings.FieldsFunc(s, unicode.IsSpace)
		if opts&1 == 0 {
			out = splitAnyFunc(s, unicode.IsSpace)
		}
	} else {
		out = splitAny(s, seps)
	}
	if opts&2 != 0 {
		for i := range out {
			out[i] = strings.TrimSpace(out[i])
		}
	}
	if opts&1 != 0 {
		kept := out[:0]
		for _, x := range out {
			if x != "" {
				kept = append(kept, x)
			}
		}
		out = kept
	}
	if count >= 0 && len(out) > count {
		if count == 0 {
			return []string{}, nil
		}
		// Rejoin the tail (approximately, with the first separator).
		sep := " "
		if len(seps) > 0 {
			sep = seps[0]
		}
		out = append(out[:count-1], strings.Join(out[count-1:], sep))
	}
	return out, nil
}

func splitAnyFunc(s string, f func(rune) bool) []string {
	var out []string
	start := 0
	for i, r := range s {
		if f(r) {
			out = append(out, s[start:i])
			start = i + len(string(r))
		}
	}
	return append(out, s[start:])
}

// splitAny splits s at every occurrence of any separator, keeping empty
// entries, like C#'s String.Split(params string[]).
func splitAny(s string, seps []string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); {
		matched := 0
		for _, sep := range seps {
			if sep != "" && strings.HasPrefix(s[i:], sep) {
				matched = len(sep)
				break
			}
		}
		if matched > 0 {
			out = append(out, s[start:i])
			i += matched
			start = i
			continue
		}
		i++
	}
	return append(out, s[start:])
}

func trimSet(a []Value) string {
	var b strings.Builder
	for _, x := range a {
		switch x.k {
		case kString:
			b.WriteString(x.s)
		case kStrings:
			for _, s := range x.a {
				b.WriteString(s)
			}
		}
	}
	return b.String()
}

// formatComposite implements string.Format("{0} {1:N2} {2,5}", args…).
func formatComposite(c *Context, f string, args []Value) (string, error) {
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		ch := f[i]
		if ch == '{' {
			if i+1 < len(f) && f[i+1] == '{' {
				b.WriteByte('{')
				i++
				continue
			}
			end := strings.IndexByte(f[i:], '}')
			if end < 0 {
				return "", &thrown{typ: "FormatException", msg: "Input string was not in a correct format."}
			}
			spec := f[i+1 : i+end]
			i += end
			idxS, fmtS, _ := strings.Cut(spec, ":")
			align := 0
			if is, as, ok := strings.Cut(idxS, ","); ok {
				idxS = is
				n, err := strconv.Atoi(strings.TrimSpace(as))
				if err != nil || n > 1<<16 || n < -(1<<16) {
					return "", &thrown{typ: "FormatException", msg: "Input string was not in a correct format."}
				}
				align = n
			}
			n, err := strconv.Atoi(strings.TrimSpace(idxS))
			if err != nil || n < 0 {
				return "", &thrown{typ: "FormatException", msg: "Input string was not in a correct format."}
			}
			if n >= len(args) {
				return "", &thrown{typ: "FormatException", msg: "Index (zero based) must be greater than or equal to zero and less than the size of the argument list."}
			}
			s := args[n].String()
			if fmtS != "" {
				if s, err = formatValue(args[n], fmtS); err != nil {
					return "", err
				}
			}
			if err := c.charge(len(s) + abs(align)); err != nil {
				return "", err
			}
			b.WriteString(pad(s, align))
			continue
		}
		if ch == '}' {
			if i+1 < len(f) && f[i+1] == '}' {
				i++
			}
			b.WriteByte('}')
			continue
		}
		b.WriteByte(ch)
	}
	return b.String(), nil
}

func abs(i int) int {
	if i < 0 {
		return -i
	}
	return i
}

// formatValue is ToString(format) for numbers, dates, time spans and Guids.
func formatValue(v Value, f string) (string, error) {
	if jv, ok := jsonPrimitive(v); ok {
		v = jv
	}
	switch v.k {
	case kInt, kDouble:
		return formatNumber(v, f)
	case kString, kNull, kBool:
		return v.String(), nil
	}
	switch o := v.o.(type) {
	case dateTime:
		return o.format(f), nil
	case tSpan:
		return o.format(f), nil
	case guidValue:
		return o.format(f), nil
	}
	return v.String(), nil
}

func formatNumber(v Value, f string) (string, error) {
	if f == "" {
		return v.String(), nil
	}
	spec := f[0]
	prec := -1
	if len(f) > 1 {
		if n, err := strconv.Atoi(f[1:]); err == nil {
			prec = n
		} else {
			spec = 0
		}
	}
	if prec > 100 {
		return "", &thrown{typ: "FormatException", msg: "Format precision " + f[1:] + " is too large (at most 100)."}
	}
	switch spec {
	case 'D', 'd':
		if v.k != kInt {
			return "", &thrown{typ: "FormatException", msg: "Format specifier was invalid."}
		}
		s := strconv.FormatInt(abs64(v.i), 10)
		for len(s) < prec {
			s = "0" + s
		}
		if v.i < 0 {
			s = "-" + s
		}
		return s, nil
	case 'X', 'x':
		if v.k != kInt {
			return "", &thrown{typ: "FormatException", msg: "Format specifier was invalid."}
		}
		s := strconv.FormatUint(uint64(v.i), 16)
		if spec == 'X' {
			s = strings.ToUpper(s)
		}
		for len(s) < prec {
			s = "0" + s
		}
		return s, nil
	case 'F', 'f', 'N', 'n':
		if prec < 0 {
			prec = 2
		}
		s := strconv.FormatFloat(v.float(), 'f', prec, 64)
		if spec == 'N' || spec == 'n' {
			s = groupThousands(s)
		}
		return s, nil
	case 'G', 'g', 'R', 'r':
		return v.String(), nil
	case 'P', 'p':
		if prec < 0 {
			prec = 2
		}
		return groupThousands(strconv.FormatFloat(v.float()*100, 'f', prec, 64)) + " %", nil
	case 'E', 'e':
		if prec < 0 {
			prec = 6
		}
		s := strconv.FormatFloat(v.float(), byte(spec), prec, 64)
		// .NET pads the exponent to three digits.
		if i := strings.IndexAny(s, "eE"); i >= 0 && len(s)-i-2 < 3 {
			s = s[:i+2] + strings.Repeat("0", 3-(len(s)-i-2)) + s[i+2:]
		}
		return s, nil
	}
	// Custom numeric format: 0, #, . and literal text.
	if strings.ContainsAny(f, "0#") && len(f) <= 100 {
		intPart, fracPart, _ := strings.Cut(f, ".")
		minFrac := strings.Count(fracPart, "0")
		maxFrac := minFrac + strings.Count(fracPart, "#")
		s := strconv.FormatFloat(v.float(), 'f', maxFrac, 64)
		if maxFrac > minFrac {
			ip, fp, _ := strings.Cut(s, ".")
			for len(fp) > minFrac && strings.HasSuffix(fp, "0") {
				fp = fp[:len(fp)-1]
			}
			s = ip
			if fp != "" {
				s += "." + fp
			}
		}
		minInt := strings.Count(intPart, "0")
		ip, rest, _ := strings.Cut(strings.TrimPrefix(s, "-"), ".")
		for len(ip) < minInt {
			ip = "0" + ip
		}
		if minInt == 0 && ip == "0" {
			ip = ""
		}
		if strings.Contains(intPart, ",") {
			ip = groupThousands(ip)
		}
		out := ip
		if rest != "" {
			out += "." + rest
		}
		if strings.HasPrefix(s, "-") {
			out = "-" + out
		}
		return out, nil
	}
	return "", &thrown{typ: "FormatException", msg: "Format specifier '" + f + "' is not supported"}
}

func abs64(i int64) int64 {
	if i < 0 {
		return -i
	}
	return i
}

func groupThousands(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	ip, fp, hasFrac := strings.Cut(s, ".")
	var b strings.Builder
	for i, ch := range ip {
		if i > 0 && (len(ip)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(ch)
	}
	out := b.String()
	if hasFrac {
		out += "." + fp
	}
	if neg {
		out = "-" + out
	}
	return out
}

// stringBuilder is System.Text.StringBuilder.
type stringBuilder struct{ b strings.Builder }

func (*stringBuilder) typeName() string { return "StringBuilder" }
func (s *stringBuilder) String() string { return s.b.String() }

// regexValue is System.Text.RegularExpressions.Regex (RE2 semantics).
type regexValue struct{ re *regexp.Regexp }

func (*regexValue) typeName() string { return "Regex" }
func (r *regexValue) String() string { return r.re.String() }

type matchValue struct {
	re  *regexp.Regexp
	s   string
	loc []int
}

func (*matchValue) typeName() string { return "Match" }
func (m *matchValue) String() string { return m.group(0) }

func (m *matchValue) group(i int) string {
	if m.loc == nil || 2*i+1 >= len(m.loc) || m.loc[2*i] < 0 {
		return ""
	}
	return m.s[m.loc[2*i]:m.loc[2*i+1]]
}

type groupsValue struct{ m *matchValue }

func (groupsValue) typeName() string { return "GroupCollection" }
func (groupsValue) String() string   { return "System.Text.RegularExpressions.GroupCollection" }

type groupValue struct {
	m *matchValue
	i int
}

func (groupValue) typeName() string { return "Group" }
func (g groupValue) String() string { return g.m.group(g.i) }

type regexOptions uint8 // 1 IgnoreCase, 2 Multiline, 4 Singleline

func (regexOptions) typeName() string { return "RegexOptions" }
func (regexOptions) String() string   { return "RegexOptions" }

// regexCache keeps compiled patterns; pipelines evaluate concurrently.
var regexCache struct {
	sync.Mutex
	m map[string]*regexp.Regexp
}

// compileRegex translates a .NET pattern to RE2. Constructs RE2 lacks
// (lookaround, backreferences, atomic groups) fail with a clear message.
func compileRegex(pattern string, opts regexOptions) (*regexp.Regexp, error) {
	p := pattern
	flags := ""
	if opts&1 != 0 {
		flags += "i"
	}
	if opts&2 != 0 {
		flags += "m"
	}
	if opts&4 != 0 {
		flags += "s"
	}
	if flags != "" {
		p = "(?" + flags + ")" + p
	}
	regexCache.Lock()
	re, ok := regexCache.m[p]
	regexCache.Unlock()
	if ok {
		return re, nil
	}
	if msg := unsupportedRegex(pattern); msg != "" {
		return nil, evalErr("regular expression %q: %s is not supported (patterns use RE2 semantics)", pattern, msg)
	}
	re, err := regexp.Compile(strings.ReplaceAll(p, "(?<", "(?P<"))
	if err != nil {
		return nil, evalErr("regular expression %q: %v", pattern, err)
	}
	regexCache.Lock()
	if regexCache.m == nil {
		regexCache.m = map[string]*regexp.Regexp{}
	}
	if len(regexCache.m) < 256 {
		regexCache.m[p] = re
	}
	regexCache.Unlock()
	return re, nil
}

func unsupportedRegex(p string) string {
	for _, s := range []struct{ tok, what string }{{"(?=", "lookahead (?=)"}, {"(?!", "negative lookahead (?!)"}, {"(?<=", "lookbehind (?<=)"},
		{"(?<!", "negative lookbehind (?<!)"}, {"(?>", "atomic group (?>)"}, {`\k<`, "named backreference"}} {
		if strings.Contains(p, s.tok) {
			return s.what
		}
	}
	for i := 0; i+1 < len(p); i++ {
		if p[i] == '\\' {
			if p[i+1] >= '1' && p[i+1] <= '9' {
				return "backreference \\" + string(p[i+1])
			}
			i++
		}
	}
	return ""
}

func regexArgs(a []Value, from int) regexOptions {
	var o regexOptions
	for _, x := range a[from:] {
		if r, ok := x.o.(regexOptions); ok && x.k == kObject {
			o |= r
		}
	}
	return o
}

// dotnetReplacement converts $1/${name}/$0 to Go's ${1} form.
func dotnetReplacement(r string) string {
	var b strings.Builder
	for i := 0; i < len(r); i++ {
		if r[i] == '$' && i+1 < len(r) {
			switch {
			case r[i+1] == '$':
				b.WriteString("$$")
				i++
				continue
			case r[i+1] >= '0' && r[i+1] <= '9':
				j := i + 1
				for j < len(r) && r[j] >= '0' && r[j] <= '9' {
					j++
				}
				b.WriteString("${" + r[i+1:j] + "}")
				i = j - 1
				continue
			}
		}
		b.WriteByte(r[i])
	}
	return b.String()
}

func init() {
	s := regType("string")
	s.p("Length", tyInt, func(c *Context, v Value) (Value, error) { return IntValue(int64(len(v.s))), nil })
	s.index = func(c *Context, v, k Value) (Value, error) {
		if k.k != kInt {
			return Value{}, evalErr("index is %s, not int", runtimeType(k))
		}
		if k.i < 0 || k.i >= int64(len(v.s)) {
			return Value{}, evalErr("index %d is outside the string of length %d", k.i, len(v.s))
		}
		return str(v.s[k.i : k.i+1]), nil
	}
	s.indexT = tyString
	sm := func(name string, min, max int, t typ, fn func(c *Context, s string, a []Value) (Value, error), params ...string) *method {
		return s.m(name, min, max, t, func(c *Context, v Value, a []Value, _ string) (Value, error) {
			if v.k != kString {
				return Value{}, evalErr("%s is not defined on %s", name, runtimeType(v))
			}
			return fn(c, v.s, a)
		}, params...)
	}
	strArgs := func(args []typ, _ string) string {
		if len(args) > 0 && primitive(args[0]) && args[0] != tyString {
			return "expected string, found " + string(args[0])
		}
		return ""
	}
	sm("Contains", 1, 2, tyBool, func(c *Context, s string, a []Value) (Value, error) {
		sub, err := strArg("value", a[0])
		if err != nil {
			return Value{}, err
		}
		return BoolValue(indexOf(s, sub, len(a) == 2 && ignoreCase(a[1])) >= 0), nil
	}).check = strArgs
	sm("StartsWith", 1, 2, tyBool, func(c *Context, s string, a []Value) (Value, error) {
		p, err := strArg("value", a[0])
		if err != nil {
			return Value{}, err
		}
		if len(a) == 2 && ignoreCase(a[1]) {
			return BoolValue(len(s) >= len(p) && strings.EqualFold(s[:len(p)], p)), nil
		}
		return BoolValue(strings.HasPrefix(s, p)), nil
	}).check = strArgs
	sm("EndsWith", 1, 2, tyBool, func(c *Context, s string, a []Value) (Value, error) {
		p, err := strArg("value", a[0])
		if err != nil {
			return Value{}, err
		}
		if len(a) == 2 && ignoreCase(a[1]) {
			return BoolValue(len(s) >= len(p) && strings.EqualFold(s[len(s)-len(p):], p)), nil
		}
		return BoolValue(strings.HasSuffix(s, p)), nil
	}).check = strArgs
	idx := func(last bool) func(c *Context, s string, a []Value) (Value, error) {
		return func(c *Context, s string, a []Value) (Value, error) {
			sub, err := strArg("value", a[0])
			if err != nil {
				return Value{}, err
			}
			start, fold := 0, false
			for _, x := range a[1:] {
				if x.k == kInt {
					start = int(x.i)
				} else {
					fold = ignoreCase(x)
				}
			}
			if start < 0 || start > len(s) {
				return Value{}, evalErr("IndexOf: start index %d is outside the string", start)
			}
			if last {
				h := s
				if fold {
					h, sub = strings.ToLower(s), strings.ToLower(sub)
				}
				return IntValue(int64(strings.LastIndex(h, sub))), nil
			}
			i := indexOf(s[start:], sub, fold)
			if i >= 0 {
				i += start
			}
			return IntValue(int64(i)), nil
		}
	}
	sm("IndexOf", 1, 3, tyInt, idx(false))
	sm("LastIndexOf", 1, 3, tyInt, idx(true))
	sm("IndexOfAny", 1, 1, tyInt, func(c *Context, s string, a []Value) (Value, error) {
		return IntValue(int64(strings.IndexAny(s, trimSet(a)))), nil
	})
	sm("Split", 0, -1, tyStrings, func(c *Context, s string, a []Value) (Value, error) {
		out, err := splitValue(s, a)
		if err != nil {
			return Value{}, err
		}
		return Value{k: kStrings, a: out}, c.charge(len(s) + 16*len(out))
	})
	sm("Substring", 1, 2, tyString, func(c *Context, s string, a []Value) (Value, error) {
		start, err := intArg("startIndex", a[0])
		if err != nil {
			return Value{}, err
		}
		end := len(s)
		if len(a) == 2 {
			n, err := intArg("length", a[1])
			if err != nil {
				return Value{}, err
			}
			end = start + n
		}
		if start < 0 || start > len(s) || end < start || end > len(s) {
			return Value{}, &thrown{typ: "ArgumentOutOfRangeException", msg: "Substring(" + strconv.Itoa(start) + ") is outside the string of length " + strconv.Itoa(len(s))}
		}
		return str(s[start:end]), nil
	}).check = func(args []typ, _ string) string {
		for _, t := range args {
			if primitive(t) && t != tyInt {
				return "expected int, found " + string(t)
			}
		}
		return ""
	}
	sm("Replace", 2, 3, tyString, func(c *Context, s string, a []Value) (Value, error) {
		old, err := strArg("oldValue", a[0])
		if err != nil {
			return Value{}, err
		}
		if old == "" {
			return Value{}, &thrown{typ: "ArgumentException", msg: "String cannot be of zero length. (Parameter 'oldValue')"}
		}
		nw := a[1].String()
		if n := strings.Count(s, old); n > 0 {
			// The new string, whole.
			if err := c.charge(len(s) + n*(len(nw)-len(old))); err != nil {
				return Value{}, err
			}
		}
		var out string
		if len(a) == 3 && ignoreCase(a[2]) {
			re := regexp.MustCompile("(?i)" + regexp.QuoteMeta(old))
			out = re.ReplaceAllLiteralString(s, nw)
		} else {
			out = strings.ReplaceAll(s, old, nw)
		}
		return str(out), nil
	})
	// A case change is a new string the size of s (charged: bodies go
	// through it, e.g. Body.As<string>().ToUpperInvariant()).
	lower := func(c *Context, s string, a []Value) (Value, error) { return str(strings.ToLower(s)), c.charge(len(s)) }
	upper := func(c *Context, s string, a []Value) (Value, error) { return str(strings.ToUpper(s)), c.charge(len(s)) }
	sm("ToLower", 0, 1, tyString, lower)
	sm("ToLowerInvariant", 0, 0, tyString, lower)
	sm("ToUpper", 0, 1, tyString, upper)
	sm("ToUpperInvariant", 0, 0, tyString, upper)
	trim := func(kind int) func(c *Context, s string, a []Value) (Value, error) {
		return func(c *Context, s string, a []Value) (Value, error) {
			set := trimSet(a)
			switch {
			case set == "" && kind == 0:
				return str(strings.TrimSpace(s)), nil
			case set == "" && kind == 1:
				return str(strings.TrimLeftFunc(s, unicode.IsSpace)), nil
			case set == "":
				return str(strings.TrimRightFunc(s, unicode.IsSpace)), nil
			case kind == 0:
				return str(strings.Trim(s, set)), nil
			case kind == 1:
				return str(strings.TrimLeft(s, set)), nil
			}
			return str(strings.TrimRight(s, set)), nil
		}
	}
	sm("Trim", 0, -1, tyString, trim(0))
	sm("TrimStart", 0, -1, tyString, trim(1))
	sm("TrimEnd", 0, -1, tyString, trim(2))
	padder := func(left bool) func(c *Context, s string, a []Value) (Value, error) {
		return func(c *Context, s string, a []Value) (Value, error) {
			n, err := intArg("totalWidth", a[0])
			if err != nil {
				return Value{}, err
			}
			ch := " "
			if len(a) == 2 {
				ch = a[1].String()
				if ch == "" {
					return Value{}, evalErr("PadLeft/PadRight: the padding character is empty")
				}
				_, size := utf8.DecodeRuneInString(ch)
				ch = ch[:size]
			}
			if n > 1<<20 {
				return Value{}, ErrBudget
			}
			if k := n - utf8.RuneCountInString(s); k > 0 {
				if left {
					s = strings.Repeat(ch, k) + s
				} else {
					s += strings.Repeat(ch, k)
				}
			}
			return str(s), c.charge(len(s))
		}
	}
	sm("PadLeft", 1, 2, tyString, padder(true))
	sm("PadRight", 1, 2, tyString, padder(false))
	sm("Insert", 2, 2, tyString, func(c *Context, s string, a []Value) (Value, error) {
		i, err := intArg("startIndex", a[0])
		if err != nil || i < 0 || i > len(s) {
			return Value{}, evalErr("Insert: index outside the string")
		}
		return str(s[:i] + a[1].String() + s[i:]), nil
	})
	sm("Remove", 1, 2, tyString, func(c *Context, s string, a []Value) (Value, error) {
		i, err := intArg("startIndex", a[0])
		if err != nil || i < 0 || i > len(s) {
			return Value{}, evalErr("Remove: index outside the string")
		}
		end := len(s)
		if len(a) == 2 {
			end = i + int(a[1].i)
		}
		if end > len(s) || end < i {
			return Value{}, evalErr("Remove: count outside the string")
		}
		return str(s[:i] + s[end:]), nil
	})
	sm("ToCharArray", 0, 0, "List", func(c *Context, s string, a []Value) (Value, error) {
		items, _ := enumerate(c, str(s))
		return seqValue(items), nil
	})
	sm("CompareTo", 1, 1, tyInt, func(c *Context, s string, a []Value) (Value, error) {
		return IntValue(int64(strings.Compare(s, a[0].String()))), nil
	})
	sm("Normalize", 0, 0, tyString, func(c *Context, s string, a []Value) (Value, error) { return str(s), nil })

	sc := regType("StringComparison")
	for name, v := range map[string]stringComparison{"Ordinal": 0, "OrdinalIgnoreCase": 1, "InvariantCulture": 0, "InvariantCultureIgnoreCase": 1, "CurrentCulture": 0, "CurrentCultureIgnoreCase": 1} {
		val := objValue(v)
		sc.sp(name, "StringComparison", func(c *Context) (Value, error) { return val, nil })
	}
	so := regType("StringSplitOptions")
	for name, v := range map[string]splitOptions{"None": 0, "RemoveEmptyEntries": 1, "TrimEntries": 2} {
		val := objValue(v)
		so.sp(name, "StringSplitOptions", func(c *Context) (Value, error) { return val, nil })
	}

	st := regType("string")
	st.sp("Empty", tyString, func(c *Context) (Value, error) { return str(""), nil })
	st.sm("IsNullOrEmpty", 1, 1, tyBool, func(c *Context, a []Value, _ string) (Value, error) {
		return BoolValue(a[0].k == kNull || a[0].k == kString && a[0].s == ""), nil
	})
	st.sm("IsNullOrWhiteSpace", 1, 1, tyBool, func(c *Context, a []Value, _ string) (Value, error) {
		return BoolValue(a[0].k == kNull || a[0].k == kString && strings.TrimSpace(a[0].s) == ""), nil
	})
	st.sm("Format", 1, -1, tyString, func(c *Context, a []Value, _ string) (Value, error) {
		f, err := strArg("format", a[0])
		if err != nil {
			return Value{}, err
		}
		args := a[1:]
		if len(args) == 1 && args[0].k == kObject {
			if sq, ok := args[0].o.(*seq); ok {
				args = sq.items
			}
		}
		s, err := formatComposite(c, f, args)
		return str(s), err
	})
	st.sm("Join", 2, -1, tyString, func(c *Context, a []Value, _ string) (Value, error) {
		sep := a[0].String()
		parts := a[1:]
		if len(parts) == 1 && parts[0].k != kString {
			items, err := enumerate(c, parts[0])
			if err != nil {
				return Value{}, err
			}
			parts = items
		}
		ss := make([]string, len(parts))
		size := len(sep) * len(parts)
		for i, p := range parts {
			if err := chargeString(c, p); err != nil {
				return Value{}, err
			}
			ss[i] = p.String()
			size += len(ss[i])
		}
		if err := c.charge(size); err != nil {
			return Value{}, err
		}
		return str(strings.Join(ss, sep)), nil
	})
	st.sm("Concat", 1, -1, tyString, func(c *Context, a []Value, _ string) (Value, error) {
		parts := a
		if len(a) == 1 && a[0].k != kString {
			items, err := enumerate(c, a[0])
			if err != nil {
				return Value{}, err
			}
			parts = items
		}
		var b strings.Builder
		for _, p := range parts {
			if err := chargeString(c, p); err != nil {
				return Value{}, err
			}
			s := p.String()
			if err := c.charge(len(s)); err != nil {
				return Value{}, err
			}
			b.WriteString(s)
		}
		return str(b.String()), nil
	})
	st.sm("Equals", 2, 3, tyBool, func(c *Context, a []Value, _ string) (Value, error) {
		if a[0].k == kNull || a[1].k == kNull {
			return BoolValue(a[0].k == a[1].k), nil
		}
		cmp := Value{}
		if len(a) == 3 {
			cmp = a[2]
		}
		return BoolValue(stringEquals(a[0].String(), a[1].String(), cmp)), nil
	})
	st.sm("Compare", 2, 3, tyInt, func(c *Context, a []Value, _ string) (Value, error) {
		x, y := a[0].String(), a[1].String()
		if len(a) == 3 && (ignoreCase(a[2]) || a[2].k == kBool && a[2].b) {
			x, y = strings.ToLower(x), strings.ToLower(y)
		}
		return IntValue(int64(strings.Compare(x, y))), nil
	})
	st.ctor = &method{min: 2, max: 2, t: tyString, fn: func(c *Context, _ Value, a []Value, _ string) (Value, error) {
		n, err := intArg("count", a[1])
		if err != nil {
			return Value{}, err
		}
		if err := c.charge(n); err != nil {
			return Value{}, err
		}
		return str(strings.Repeat(a[0].String(), n)), nil
	}}

	sb := regType("StringBuilder")
	sb.ctor = &method{min: 0, max: 1, t: "StringBuilder", fn: func(c *Context, _ Value, a []Value, _ string) (Value, error) {
		b := &stringBuilder{}
		if len(a) == 1 && a[0].k == kString {
			b.b.WriteString(a[0].s)
		}
		return objValue(b), nil
	}}
	sbm := func(name string, min, max int, fn func(c *Context, b *stringBuilder, a []Value) error) {
		sb.m(name, min, max, "StringBuilder", func(c *Context, v Value, a []Value, _ string) (Value, error) {
			b := v.o.(*stringBuilder)
			if err := fn(c, b, a); err != nil {
				return Value{}, err
			}
			return v, c.charge(0)
		})
	}
	sbm("Append", 1, 1, func(c *Context, b *stringBuilder, a []Value) error {
		if err := chargeString(c, a[0]); err != nil {
			return err
		}
		s := a[0].String()
		b.b.WriteString(s)
		return c.charge(len(s))
	})
	sbm("AppendLine", 0, 1, func(c *Context, b *stringBuilder, a []Value) error {
		if len(a) == 1 {
			b.b.WriteString(a[0].String())
		}
		b.b.WriteString("\n")
		return c.charge(b.b.Len())
	})
	sbm("AppendFormat", 1, -1, func(c *Context, b *stringBuilder, a []Value) error {
		s, err := formatComposite(c, a[0].String(), a[1:])
		if err != nil {
			return err
		}
		b.b.WriteString(s)
		return nil
	})
	sbm("Clear", 0, 0, func(c *Context, b *stringBuilder, a []Value) error { b.b.Reset(); return nil })
	sbm("Replace", 2, 2, func(c *Context, b *stringBuilder, a []Value) error {
		s := strings.ReplaceAll(b.b.String(), a[0].String(), a[1].String())
		b.b.Reset()
		b.b.WriteString(s)
		return c.charge(len(s))
	})
	sbm("Insert", 2, 2, func(c *Context, b *stringBuilder, a []Value) error {
		s := b.b.String()
		i := int(a[0].i)
		if a[0].k != kInt || i < 0 || i > len(s) {
			return evalErr("StringBuilder.Insert: index outside the text")
		}
		b.b.Reset()
		b.b.WriteString(s[:i] + a[1].String() + s[i:])
		return c.charge(b.b.Len())
	})
	sb.p("Length", tyInt, func(c *Context, v Value) (Value, error) { return IntValue(int64(v.o.(*stringBuilder).b.Len())), nil })

	ro := regType("RegexOptions")
	for name, v := range map[string]regexOptions{"None": 0, "IgnoreCase": 1, "Multiline": 2, "Singleline": 4, "Compiled": 0, "CultureInvariant": 0, "ExplicitCapture": 0} {
		val := objValue(v)
		ro.sp(name, "RegexOptions", func(c *Context) (Value, error) { return val, nil })
	}
	rx := regType("Regex")
	getRe := func(a []Value, at int) (*regexp.Regexp, error) {
		p, err := strArg("pattern", a[at])
		if err != nil {
			return nil, err
		}
		return compileRegex(p, regexArgs(a, at+1))
	}
	rx.ctor = &method{min: 1, max: 2, t: "Regex", fn: func(c *Context, _ Value, a []Value, _ string) (Value, error) {
		re, err := getRe(a, 0)
		if err != nil {
			return Value{}, err
		}
		return objValue(&regexValue{re: re}), nil
	}}
	match := func(re *regexp.Regexp, s string) Value {
		return objValue(&matchValue{re: re, s: s, loc: re.FindStringSubmatchIndex(s)})
	}
	matches := func(re *regexp.Regexp, s string) Value {
		var out []Value
		for _, loc := range re.FindAllStringSubmatchIndex(s, -1) {
			out = append(out, objValue(&matchValue{re: re, s: s, loc: loc}))
		}
		return seqValue(out)
	}
	rx.sm("IsMatch", 2, 3, tyBool, func(c *Context, a []Value, _ string) (Value, error) {
		re, err := getRe(a, 1)
		if err != nil {
			return Value{}, err
		}
		s, err := strArg("input", a[0])
		return BoolValue(err == nil && re.MatchString(s)), err
	})
	rx.sm("Match", 2, 3, "Match", func(c *Context, a []Value, _ string) (Value, error) {
		re, err := getRe(a, 1)
		if err != nil {
			return Value{}, err
		}
		s, err := strArg("input", a[0])
		if err != nil {
			return Value{}, err
		}
		return match(re, s), nil
	})
	rx.sm("Matches", 2, 3, "List", func(c *Context, a []Value, _ string) (Value, error) {
		re, err := getRe(a, 1)
		if err != nil {
			return Value{}, err
		}
		s, err := strArg("input", a[0])
		if err != nil {
			return Value{}, err
		}
		return matches(re, s), nil
	})
	rx.sm("Replace", 3, 4, tyString, func(c *Context, a []Value, _ string) (Value, error) {
		re, err := getRe(a, 1)
		if err != nil {
			return Value{}, err
		}
		s, err := strArg("input", a[0])
		if err != nil {
			return Value{}, err
		}
		repl := a[2].String()
		est := len(s) + len(re.FindAllStringIndex(s, -1))*len(repl)
		if strings.Contains(repl, "$") {
			est += len(re.FindAllStringIndex(s, -1)) * len(s)
		}
		if err := c.charge(est); err != nil {
			return Value{}, err
		}
		out := re.ReplaceAllString(s, dotnetReplacement(repl))
		return str(out), nil
	})
	rx.sm("Split", 2, 3, tyStrings, func(c *Context, a []Value, _ string) (Value, error) {
		re, err := getRe(a, 1)
		if err != nil {
			return Value{}, err
		}
		return Value{k: kStrings, a: re.Split(a[0].String(), -1)}, nil
	})
	// Literal patterns are checked when the document compiles.
	literalPattern := func(at int) func(args []*node) (int, string) {
		return func(args []*node) (int, string) {
			if at >= len(args) || args[at].k != nLit || args[at].litValue().k != kString {
				return 0, ""
			}
			p := args[at].litValue().s
			if msg := unsupportedRegex(p); msg != "" {
				return at, "regular expression " + strconv.Quote(p) + ": " + msg + " is not supported (patterns use RE2 semantics)"
			}
			if _, err := regexp.Compile(strings.ReplaceAll(p, "(?<", "(?P<")); err != nil {
				return at, "regular expression " + strconv.Quote(p) + ": " + err.Error()
			}
			return 0, ""
		}
	}
	for _, name := range []string{"IsMatch", "Match", "Matches", "Replace", "Split"} {
		rx.smethods[name].checkArgs = literalPattern(1)
	}
	rx.ctor.checkArgs = literalPattern(0)
	rx.sm("Escape", 1, 1, tyString, func(c *Context, a []Value, _ string) (Value, error) {
		return str(regexp.QuoteMeta(a[0].String())), nil
	})
	rx.m("IsMatch", 1, 1, tyBool, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		return BoolValue(v.o.(*regexValue).re.MatchString(a[0].String())), nil
	})
	rx.m("Match", 1, 1, "Match", func(c *Context, v Value, a []Value, _ string) (Value, error) {
		return match(v.o.(*regexValue).re, a[0].String()), nil
	})
	rx.m("Matches", 1, 1, "List", func(c *Context, v Value, a []Value, _ string) (Value, error) {
		return matches(v.o.(*regexValue).re, a[0].String()), nil
	})
	rx.m("Replace", 2, 2, tyString, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		return str(v.o.(*regexValue).re.ReplaceAllString(a[0].String(), dotnetReplacement(a[1].String()))), nil
	})
	m := regType("Match", "Group")
	m.p("Groups", "GroupCollection", func(c *Context, v Value) (Value, error) { return objValue(groupsValue{m: v.o.(*matchValue)}), nil })
	m.m("NextMatch", 0, 0, "Match", func(c *Context, v Value, a []Value, _ string) (Value, error) {
		mv := v.o.(*matchValue)
		if mv.loc == nil {
			return v, nil
		}
		end := mv.loc[1]
		if end == mv.loc[0] {
			end++
		}
		if end > len(mv.s) {
			return objValue(&matchValue{re: mv.re, s: mv.s}), nil
		}
		loc := mv.re.FindStringSubmatchIndex(mv.s[end:])
		for i := range loc {
			if loc[i] >= 0 {
				loc[i] += end
			}
		}
		return objValue(&matchValue{re: mv.re, s: mv.s, loc: loc}), nil
	})
	g := regType("Group")
	gm := func(v Value) (*matchValue, int) {
		switch o := v.o.(type) {
		case *matchValue:
			return o, 0
		case groupValue:
			return o.m, o.i
		}
		return nil, 0
	}
	g.p("Success", tyBool, func(c *Context, v Value) (Value, error) {
		mv, i := gm(v)
		return BoolValue(mv.loc != nil && 2*i < len(mv.loc) && mv.loc[2*i] >= 0), nil
	})
	g.props["Value"] = &member{t: tyString, get: func(c *Context, v Value) (Value, error) {
		mv, i := gm(v)
		return str(mv.group(i)), nil
	}}
	g.p("Index", tyInt, func(c *Context, v Value) (Value, error) {
		mv, i := gm(v)
		if mv.loc == nil || mv.loc[2*i] < 0 {
			return IntValue(0), nil
		}
		return IntValue(int64(mv.loc[2*i])), nil
	})
	g.p("Length", tyInt, func(c *Context, v Value) (Value, error) {
		mv, i := gm(v)
		return IntValue(int64(len(mv.group(i)))), nil
	})
	gc := regType("GroupCollection")
	gc.index = func(c *Context, v, k Value) (Value, error) {
		mv := v.o.(groupsValue).m
		i := -1
		switch k.k {
		case kInt:
			i = int(k.i)
		case kString:
			i = mv.re.SubexpIndex(k.s)
		}
		if i < 0 || i > mv.re.NumSubexp() {
			return objValue(groupValue{m: &matchValue{re: mv.re, s: mv.s}, i: 0}), nil
		}
		return objValue(groupValue{m: mv, i: i}), nil
	}
	gc.indexT = "Group"
	gc.p("Count", tyInt, func(c *Context, v Value) (Value, error) {
		return IntValue(int64(v.o.(groupsValue).m.re.NumSubexp() + 1)), nil
	})
}
