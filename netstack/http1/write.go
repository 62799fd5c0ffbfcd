package http1

import "strconv"

// The serializers append to dst and return the extended slice, like strconv's
// Append functions. A head is always written fresh from parsed parts, never
// forwarded as the bytes it arrived in.

// AppendRequestLine appends "METHOD TARGET HTTP/1.1\r\n".
func AppendRequestLine(dst, method, target []byte) []byte {
	dst = append(dst, method...)
	dst = append(dst, ' ')
	dst = append(dst, target...)
	return append(dst, " HTTP/1.1\r\n"...)
}

// AppendStatusLine appends "HTTP/1.1 STATUS REASON\r\n". An empty reason is
// replaced by the standard one.
func AppendStatusLine(dst []byte, status int, reason []byte) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	if len(reason) == 0 {
		dst = append(dst, StatusText(status)...)
	} else {
		dst = append(dst, reason...)
	}
	return append(dst, "\r\n"...)
}

// AppendHeader appends "name: value\r\n". The caller guarantees that name is a
// token and value holds no CR or LF (values taken from a parsed head do).
func AppendHeader(dst, name, value []byte) []byte {
	dst = append(dst, name...)
	dst = append(dst, ": "...)
	dst = append(dst, value...)
	return append(dst, "\r\n"...)
}

// AppendHeaderString is AppendHeader for string arguments.
func AppendHeaderString(dst []byte, name, value string) []byte {
	dst = append(dst, name...)
	dst = append(dst, ": "...)
	dst = append(dst, value...)
	return append(dst, "\r\n"...)
}

// AppendFraming appends the framing header for a body: Content-Length for
// Length (and "Content-Length: 0" for a request or response that has no body
// but may carry one), Transfer-Encoding: chunked for Chunked, nothing for
// CloseDelimited.
func AppendFraming(dst []byte, f Framing, contentLength int64, zeroLength bool) []byte {
	switch f {
	case Length:
		dst = append(dst, "Content-Length: "...)
		dst = strconv.AppendInt(dst, contentLength, 10)
		return append(dst, "\r\n"...)
	case Chunked:
		return append(dst, "Transfer-Encoding: chunked\r\n"...)
	case NoBody:
		if zeroLength {
			return append(dst, "Content-Length: 0\r\n"...)
		}
	}
	return dst
}

// AppendChunkStart appends a chunk-size line for a chunk of size bytes.
func AppendChunkStart(dst []byte, size int64) []byte {
	dst = strconv.AppendInt(dst, size, 16)
	return append(dst, "\r\n"...)
}

// LastChunk ends a chunked body (no trailers).
const LastChunk = "0\r\n\r\n"

// ValidHeaderValue reports whether v may be written as a header field value.
func ValidHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// ValidHeaderName reports whether n is a token.
func ValidHeaderName(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		if !isTokenChar(n[i]) {
			return false
		}
	}
	return true
}

// StatusText returns the standard reason phrase of a status code, or "Status".
func StatusText(code int) string {
	switch code {
	case 100:
		return "Continue"
	case 101:
		return "Switching Protocols"
	case 200:
		return "OK"
	case 201:
		return "Created"
	case 202:
		return "Accepted"
	case 204:
		return "No Content"
	case 206:
		return "Partial Content"
	case 301:
		return "Moved Permanently"
	case 302:
		return "Found"
	case 304:
		return "Not Modified"
	case 307:
		return "Temporary Redirect"
	case 308:
		return "Permanent Redirect"
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 408:
		return "Request Timeout"
	case 409:
		return "Conflict"
	case 411:
		return "Length Required"
	case 413:
		return "Content Too Large"
	case 414:
		return "URI Too Long"
	case 415:
		return "Unsupported Media Type"
	case 417:
		return "Expectation Failed"
	case 429:
		return "Too Many Requests"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 501:
		return "Not Implemented"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Unavailable"
	case 504:
		return "Gateway Timeout"
	case 505:
		return "HTTP Version Not Supported"
	}
	return "Status"
}

// AppendJSONError appends a complete response that rejects a message: the
// status, a short JSON body {"statusCode":N,"message":"..."} (AppendErrorBody)
// and, when close is set, "Connection: close".
func AppendJSONError(dst []byte, status int, msg string, close bool) []byte {
	var body [256]byte
	b := AppendErrorBody(body[:0], status, msg)
	dst = AppendStatusLine(dst, status, nil)
	dst = append(dst, "Content-Type: application/json\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(b)), 10)
	dst = append(dst, "\r\n"...)
	if close {
		dst = append(dst, "Connection: close\r\n"...)
	}
	dst = append(dst, "\r\n"...)
	return append(dst, b...)
}
