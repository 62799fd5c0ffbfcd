package policy

import "strings"

// PLACEHOLDER until branch expr's expression library lands: its
// lib_context.go defines ResponseValue and AsResponse with these signatures
// (and the IResponse type expressions read: StatusCode, Headers, Body.As<T>()).
// When both branches are merged, delete this file and the `o any` field this
// branch added to Value (value.go): expr's `o object` replaces it.

type sentResponse struct {
	StatusCode int
	Reason     string
	Headers    Headers
	Body       []byte
}

// ResponseValue wraps a response as the value send-request stores in its
// response variable. The slices are kept, not copied.
func ResponseValue(status int, reason string, headers []Header, body []byte) Value {
	return Value{k: kNull, o: &sentResponse{StatusCode: status, Reason: reason, Headers: Headers{List: headers}, Body: body}}
}

// AsResponse returns the response a variable holds.
func AsResponse(v Value) (status int, reason string, headers []Header, body []byte, isResponse bool) {
	r, ok := v.o.(*sentResponse)
	if !ok {
		return 0, "", nil, nil, false
	}
	return r.StatusCode, r.Reason, r.Headers.List, r.Body, true
}

// Jwt is a decoded JSON Web Token (PLACEHOLDER: branch expr's lib_jwt.go
// defines Jwt, ParseJwt and JwtValue; delete these with this file).
type Jwt struct {
	Raw string
}

// ParseJwt decodes a compact JWS (placeholder: keeps the raw text).
func ParseJwt(s string) (*Jwt, bool) { return &Jwt{Raw: s}, strings.Count(s, ".") == 2 }

// JwtValue wraps a Jwt as an expression value.
func JwtValue(j *Jwt) Value { return Value{k: kNull, o: j} }
