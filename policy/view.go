package policy

import (
	"crypto/tls"
	"net/netip"
	"strings"
	"time"
)

// Header is one header field as it appears on the wire.
type Header struct {
	Name, Value string
}

// Headers is an ordered list of header fields with case-insensitive names. The
// zero value is empty and ready; Reset keeps the backing array for reuse, so a
// pooled Context adds headers without allocating once warmed up.
type Headers struct {
	List []Header
}

// Reset empties the list, keeping its capacity.
func (h *Headers) Reset() { h.List = h.List[:0] }

// Get returns the first value of name.
func (h *Headers) Get(name string) (string, bool) {
	for i := range h.List {
		if strings.EqualFold(h.List[i].Name, name) {
			return h.List[i].Value, true
		}
	}
	return "", false
}

// Joined returns every value of name joined by ",", as APIM's
// Headers.GetValueOrDefault does. It allocates only when name repeats.
func (h *Headers) Joined(name string) (string, bool) {
	out, n := "", 0
	for i := range h.List {
		if strings.EqualFold(h.List[i].Name, name) {
			if n == 0 {
				out = h.List[i].Value
			} else {
				out += "," + h.List[i].Value
			}
			n++
		}
	}
	return out, n > 0
}

// Has reports whether name is present.
func (h *Headers) Has(name string) bool { _, ok := h.Get(name); return ok }

// Add appends a field.
func (h *Headers) Add(name, value string) { h.List = append(h.List, Header{name, value}) }

// Set replaces every field called name by one with value (kept at the place of
// the first one).
func (h *Headers) Set(name, value string) {
	for i := range h.List {
		if strings.EqualFold(h.List[i].Name, name) {
			h.List[i].Value = value
			h.delFrom(name, i+1)
			return
		}
	}
	h.Add(name, value)
}

// Del removes every field called name.
func (h *Headers) Del(name string) { h.delFrom(name, 0) }

func (h *Headers) delFrom(name string, from int) {
	out := h.List[:from]
	for i := from; i < len(h.List); i++ {
		if !strings.EqualFold(h.List[i].Name, name) {
			out = append(out, h.List[i])
		}
	}
	clear(h.List[len(out):])
	h.List = out
}

// Param is one query or URL-template parameter, decoded.
type Param struct {
	Name, Value string
}

// Params is an ordered list of parameters with case-sensitive names (query
// strings are case-sensitive in APIM).
type Params struct {
	List []Param
}

// Reset empties the list, keeping its capacity.
func (p *Params) Reset() { p.List = p.List[:0] }

// Get returns the first value of name.
func (p *Params) Get(name string) (string, bool) {
	for i := range p.List {
		if p.List[i].Name == name {
			return p.List[i].Value, true
		}
	}
	return "", false
}

// Add appends a parameter.
func (p *Params) Add(name, value string) { p.List = append(p.List, Param{name, value}) }

// Set replaces every parameter called name by one with value.
func (p *Params) Set(name, value string) {
	p.Del(name)
	p.Add(name, value)
}

// Del removes every parameter called name.
func (p *Params) Del(name string) {
	out := p.List[:0]
	for _, q := range p.List {
		if q.Name != name {
			out = append(out, q)
		}
	}
	clear(p.List[len(out):])
	p.List = out
}

// Request is the pipeline's view of the client request. The appliance fills it
// from its HTTP parser before Run(Inbound) and reads it back before forwarding:
// policies may change Method, Path, Query, Headers and Body.
//
// Lifetime: the strings and slices placed here must stay valid and unchanged
// until the request is finished (Context.Finish), because policies keep
// references to them (in variables, in the response, in counter keys only as
// map-key copies). Body slices set by policies are shared with the compiled
// pipeline: treat them as read-only.
type Request struct {
	Method string
	// Path is the path relative to the API: what follows the API's path suffix,
	// starting with "/". The backend URL is Upstream.BaseURL + Path + "?" + Query.
	// context.Request.Url.Path returns it.
	Path  string
	Query Params // decoded query parameters, in order
	// MatchedParameters are the operation's URL template parameters.
	MatchedParameters Params
	Headers           Headers
	ClientIP          netip.Addr
	// Body is the request body when the appliance buffered it (Buffered true).
	Body     []byte
	Buffered bool
}

// Response is the response being built or returned: by the backend (the
// appliance fills it after forwarding), by return-response, mock-response, or a
// policy's refusal (429, 403, 401).
type Response struct {
	StatusCode int
	Reason     string
	Headers    Headers
	Body       []byte
	// BodySet is true when a policy replaced the body (set-body, return-response):
	// the appliance must send Body instead of streaming the backend's body.
	BodySet bool
	// BodyBuffered is true when the appliance read the backend's body into
	// Body (the pipeline reads it, Pipeline.ReadsResponseBody): the appliance
	// must send Body, since the backend's body is consumed.
	BodyBuffered bool
}

func (r *Response) reset() {
	r.StatusCode, r.Reason, r.Body, r.BodySet, r.BodyBuffered = 0, "", nil, false, false
	r.Headers.Reset()
}

// Identity is who is calling what, as routing and the subscription check found
// it. Empty strings mean "none" (an anonymous call has no subscription).
type Identity struct {
	SubscriptionID   string
	SubscriptionKey  string
	SubscriptionName string
	ProductName      string
	APIName          string
	APIPath          string
	OperationName    string
	OperationMethod  string
}

// Upstream is where and how to forward: set-backend-service and
// forward-request change it; the appliance reads it when Run returns Forward.
type Upstream struct {
	// BaseURL is the service URL (the API's, or set-backend-service's).
	BaseURL string
	// BackendID is the backend entity set-backend-service backend-id chose
	// ("" for a URL); the appliance resolves it (a pool picks a member) and
	// sets BaseURL to the member's URL.
	BackendID string
	// Timeout of the whole backend exchange (forward-request timeout; APIM's
	// default is 300 s).
	Timeout           time.Duration
	FollowRedirects   bool
	BufferRequestBody bool
	BufferResponse    bool
	FailOnErrorStatus bool
	// ClientCert is the client certificate authentication-certificate
	// chose for an https backend (nil: none).
	ClientCert        *tls.Certificate
	forwardConfigured bool
}

// Tracer receives the output of the trace policy. Implementations must be safe
// for the caller's concurrency (one Context is used by one goroutine at a time).
// The strings and the metadata slice are valid only during the call (they may
// view the request's buffers or the compiled policy): copy what is kept.
type Tracer interface {
	Trace(source, severity, message string, metadata []Header)
}

// ParseQuery appends the parameters of a raw query string (without "?") to
// dst. Names and values without escapes are substrings of raw (no copy), so
// the caller's lifetime rule for raw applies to them; escaped ones are
// decoded into new strings. A malformed escape is kept as written.
func ParseQuery(raw string, dst *Params) {
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		dst.Add(unescapeQuery(k), unescapeQuery(v))
	}
}

func unescapeQuery(s string) string {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b = append(b, ' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// AppendQuery appends the query parameters, percent-encoded, without "?".
func AppendQuery(dst []byte, q *Params) []byte {
	for i, p := range q.List {
		if i > 0 {
			dst = append(dst, '&')
		}
		dst = appendEscaped(dst, p.Name)
		dst = append(dst, '=')
		dst = appendEscaped(dst, p.Value)
	}
	return dst
}

func appendEscaped(dst []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', hex[c>>4], hex[c&15])
	}
	return dst
}

// AppendBackendURL appends the URL to forward to: Upstream.BaseURL (without a
// trailing "/") + Request.Path + "?" + the encoded query (if any). It does not
// allocate when dst has room.
func (c *Context) AppendBackendURL(dst []byte) []byte {
	base := strings.TrimSuffix(c.Upstream.BaseURL, "/")
	dst = append(dst, base...)
	if c.Request.Path != "" && c.Request.Path[0] != '/' {
		dst = append(dst, '/')
	}
	dst = append(dst, c.Request.Path...)
	if len(c.Request.Query.List) > 0 {
		dst = append(dst, '?')
		dst = AppendQuery(dst, &c.Request.Query)
	}
	return dst
}
