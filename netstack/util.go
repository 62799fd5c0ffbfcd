package netstack

import (
	"unsafe"

	"github.com/apimgw/apimgw/netstack/http1"
	"github.com/panjf2000/gnet/v2"
)

// bytesOf views a string's bytes without copying; the result must not be modified.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// foldEq reports whether b equals the lower-case ASCII string s, ignoring case in b.
func foldEq(b []byte, s string) bool { return http1.EqualFold(b, s) }

// foldEqFold reports whether b and s are equal ignoring ASCII case on both sides.
func foldEqFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c, d := b[i], s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}

// discardRead drops the first n bytes read from c. gnet's Discard drops
// everything buffered when n <= 0, so a handler that consumed nothing (a
// response head split after its status line, a chunk-size line not yet
// complete) must not call it: the bytes are needed on the next read.
func discardRead(c gnet.Conn, n int) {
	if n > 0 {
		c.Discard(n)
	}
}
