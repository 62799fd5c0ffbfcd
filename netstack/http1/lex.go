package http1

// tokenTable marks the tchar bytes of RFC 9110 §5.6.2.
var tokenTable = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return
}()

func isTokenChar(c byte) bool { return tokenTable[c] }

// EqualFold reports whether b equals the lower-case ASCII string s, ignoring
// ASCII case in b. It does not allocate.
func EqualFold(b []byte, s string) bool { return equalFold(b, s) }

func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// eachListElem calls fn with every non-empty element of a comma-separated list,
// optional whitespace trimmed, until fn returns false.
func eachListElem(v []byte, fn func([]byte) bool) {
	for len(v) > 0 {
		i := 0
		for i < len(v) && v[i] != ',' {
			i++
		}
		elem := trimOWS(v[:i])
		if len(elem) > 0 && !fn(elem) {
			return
		}
		if i == len(v) {
			return
		}
		v = v[i+1:]
	}
}

// eachToken is eachListElem for lists of tokens (Connection).
func eachToken(v []byte, fn func([]byte) bool) { eachListElem(v, fn) }

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// parseDecimal parses 1*DIGIT into a non-negative int64; at most 18 digits, so
// it cannot overflow.
func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
