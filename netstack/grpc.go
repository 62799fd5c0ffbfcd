package netstack

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/apimgw/apimgw/netstack/http1"
	"github.com/apimgw/apimgw/netstack/http2"
)

// gRPC clients and the gateway's own answers. A gRPC client (an HTTP/2
// request whose content-type is application/grpc or application/grpc+…)
// that the gateway answers itself — Respond, RespondError, an upstream
// failure, a policy's return-response — gets a gRPC "trailers-only"
// response: HTTP 200, content-type application/grpc, grpc-status and
// grpc-message in one HEADERS frame that ends the stream (gRPC over HTTP/2,
// "Responses"). The HTTP status maps to a gRPC code by gRPC's HTTP-to-gRPC
// table (grpc/grpc doc/http-grpc-status-mapping.md; Azure documents no
// mapping of its own), the one a gRPC client applies itself to an HTTP
// error, so the code is what it would have derived and the message now
// reaches it. An answer that is already gRPC (its content-type is
// application/grpc…) goes out as it is. HTTP/1.1 clients and other
// requests are not touched.

// grpcCodeForHTTP is gRPC's HTTP-to-gRPC status mapping.
func grpcCodeForHTTP(status int) int {
	switch status {
	case 400:
		return 13 // INTERNAL
	case 401:
		return 16 // UNAUTHENTICATED
	case 403:
		return 7 // PERMISSION_DENIED
	case 404:
		return 12 // UNIMPLEMENTED
	case 429, 502, 503, 504:
		return 14 // UNAVAILABLE
	}
	return 2 // UNKNOWN
}

// isGRPCContentType reports whether v is application/grpc or
// application/grpc+format (or with parameters), ASCII case-insensitively.
func isGRPCContentType(v string) bool {
	const p = "application/grpc"
	if len(v) < len(p) || !strings.EqualFold(v[:len(p)], p) {
		return false
	}
	return len(v) == len(p) || v[len(p)] == '+' || v[len(p)] == ';'
}

// isGRPCRequest reports whether an HTTP/2 request is a gRPC call.
func isGRPCRequest(req *http2.Request) bool {
	for _, f := range req.Fields {
		if f.Name == "content-type" {
			return isGRPCContentType(f.Value)
		}
	}
	return false
}

// maxGRPCMessage bounds the grpc-message text taken from an answer's body.
const maxGRPCMessage = 1024

// grpcMessage is the text of the gateway's answer for grpc-message: the
// "message" of a JSON body (APIM's {"statusCode":N,"message":"…"} and the
// engine's errors), else a short UTF-8 text body, else the reason phrase.
func grpcMessage(status int, reason string, headers []Field, body []byte) string {
	ctype := ""
	for _, f := range headers {
		if strings.EqualFold(f.Name, "content-type") {
			ctype = strings.ToLower(f.Value)
		}
	}
	if len(body) > 0 && strings.Contains(ctype, "json") {
		var m struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(body, &m) == nil && m.Message != "" {
			return cutUTF8(m.Message, maxGRPCMessage)
		}
	}
	if len(body) > 0 && (ctype == "" || strings.HasPrefix(ctype, "text/")) && utf8.Valid(body) {
		if s := strings.TrimSpace(cutUTF8(string(body), maxGRPCMessage)); s != "" {
			return s
		}
	}
	if reason != "" {
		return reason
	}
	return http1.StatusText(status)
}

// cutUTF8 cuts s to at most n bytes without splitting a character.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// appendGRPCMessage appends msg percent-encoded as grpc-message requires:
// bytes outside 0x20-0x7E, and '%', as %XX.
func appendGRPCMessage(dst []byte, msg string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(msg); i++ {
		c := msg[i]
		if c < 0x20 || c > 0x7E || c == '%' {
			dst = append(dst, '%', hex[c>>4], hex[c&15])
			continue
		}
		dst = append(dst, c)
	}
	return dst
}

// writeGRPCAnswer sends the handler's own answer (x.resp*) to a gRPC client
// as a trailers-only gRPC response and reports true; it reports false (and
// writes nothing) when the exchange is not a gRPC call on an HTTP/2 stream
// or the answer is already gRPC.
func (cc *clientConn) writeGRPCAnswer() bool {
	st, ok := cc.c.(*h2stream)
	if !ok || !st.grpc {
		return false
	}
	x := &cc.x
	for _, f := range x.respHeaders {
		if strings.EqualFold(f.Name, "content-type") && isGRPCContentType(f.Value) {
			// A gRPC answer of the handler's own (a policy's return-response
			// with grpc-status): sent as it is, its status recorded. With a
			// body (messages), its status fields become trailers after the
			// body (h2stream.grpcOwn), and a missing grpc-status is 0: a gRPC
			// client takes no status from the head of a response with
			// messages and fails one that ends without trailers.
			if len(x.respBody) > 0 {
				st.grpcOwn = true
				x.grpcCode, x.grpcSet = 0, true
			}
			for _, g := range x.respHeaders {
				if strings.EqualFold(g.Name, "grpc-status") {
					x.grpcCode, x.grpcSet = parseGRPCStatus(g.Value)
				}
			}
			return false
		}
	}
	code := grpcCodeForHTTP(x.respStatus)
	w := cc.lp.wbuf[:0]
	w = append(w, "HTTP/1.1 200 OK\r\ncontent-type: application/grpc\r\ngrpc-status: "...)
	w = strconv.AppendInt(w, int64(code), 10)
	w = append(w, "\r\ngrpc-message: "...)
	w = appendGRPCMessage(w, grpcMessage(x.respStatus, x.respReason, x.respHeaders, x.respBody))
	w = append(w, "\r\n"...)
	for _, f := range x.respHeaders {
		switch n := bytesOf(f.Name); {
		case http1.IsHopByHopName(n), http1.EqualFold(n, "content-type"), http1.EqualFold(n, "content-length"),
			http1.EqualFold(n, "grpc-status"), http1.EqualFold(n, "grpc-message"), http1.EqualFold(n, "grpc-status-details-bin"):
			continue
		}
		w = http1.AppendHeaderString(w, f.Name, f.Value)
	}
	w = append(w, "Content-Length: 0\r\n"...)
	w = cc.appendConnection(w)
	w = append(w, "\r\n"...)
	// Status keeps the answer's HTTP status (what reports count); the client
	// got 200 and the code.
	x.Status = x.respStatus
	x.grpcCode, x.grpcSet = code, true
	x.BytesOut += int64(len(w))
	cc.respStarted = true
	st.grpcEnd = true
	cc.c.Write(w)
	cc.lp.wbuf = w[:0]
	return true
}

// isGRPCStatusField reports whether name is one of the fields that carry a
// gRPC call's status (sent as trailers when the response has messages).
func isGRPCStatusField(name []byte) bool {
	return http1.EqualFold(name, "grpc-status") || http1.EqualFold(name, "grpc-message") || http1.EqualFold(name, "grpc-status-details-bin")
}

// parseGRPCStatus reads a grpc-status value (a decimal of at most three
// digits).
func parseGRPCStatus(v string) (int, bool) {
	v = strings.TrimSpace(v)
	if len(v) == 0 || len(v) > 3 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
		n = n*10 + int(v[i]-'0')
	}
	return n, true
}

// GRPCStatus reports the gRPC status code a gRPC client got, final in Done:
// the code the gateway's own answer was mapped to (Status then keeps that
// answer's HTTP status, the client got 200), the grpc-status of a gRPC
// answer the handler made itself, or the grpc-status of the upstream's
// trailers (RespTrailers). ok is false for other exchanges, and for a gRPC
// call that ended without a status (cut off, or trailers the client could
// not take).
func (x *Exchange) GRPCStatus() (code int, ok bool) {
	if x.grpcSet {
		return x.grpcCode, true
	}
	for _, f := range x.RespTrailers {
		if strings.EqualFold(f.Name, "grpc-status") {
			return parseGRPCStatus(f.Value)
		}
	}
	return 0, false
}
