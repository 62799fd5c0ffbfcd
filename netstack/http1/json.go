package http1

import (
	"strconv"
	"unicode/utf8"
)

// The one JSON writer for the error bodies the gateway builds itself (the
// parser's rejections, the engine's 502/504, the APIM handler's and the policy
// engine's refusals): append-style, so a caller with a reused buffer pays no
// allocation, and correct for any input — a message may carry text from a
// backend URL or a policy document.

// AppendJSONString appends s as a JSON string, quotes included. It escapes
// '"', '\\' and every control character (\n, \r, \t by name, the others as
// \u00XX), writes U+2028 and U+2029 as escapes (JavaScript line terminators),
// and replaces each byte of invalid UTF-8 with U+FFFD, as encoding/json does.
// It allocates only when dst lacks capacity.
func AppendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0 // s[start:i] is pending, needs no escaping
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= ' ' && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigit[c>>4], hexDigit[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigit[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

const hexDigit = "0123456789abcdef"

// AppendErrorBody appends APIM's error body {"statusCode":N,"message":"msg"}
// with msg escaped by AppendJSONString.
func AppendErrorBody(dst []byte, status int, msg string) []byte {
	dst = append(dst, `{"statusCode":`...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, `,"message":`...)
	dst = AppendJSONString(dst, msg)
	return append(dst, '}')
}
