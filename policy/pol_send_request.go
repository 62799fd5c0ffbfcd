package policy

import (
	"crypto/tls"
	"errors"
	"strings"
	"time"
)

// send-request makes an HTTP request and stores the response in a variable
// (an IResponse); send-one-way-request makes one and does not wait. The
// pipeline does no I/O: it returns Outcome Call with the request (HTTPCall),
// the caller makes it off the event loop, gives the outcome back with
// Context.CallDone and resumes; the step then stores the response.
//
// Attributes (APIM's): mode new|copy (default new; copy starts from the
// current request's method, URL, headers and — outside outbound — body),
// response-variable-name (required for send-request), timeout in seconds
// (default 60, expressions allowed), ignore-error (send-request; default
// false: a failed call fails the policy, into on-error; true: the variable is
// null). Children: set-url, set-method, set-header, set-body,
// authentication-managed-identity (its token authenticates the call: one
// more Call outcome, a token request, when the token is not cached) and
// authentication-certificate (HTTPCall.ClientCert); proxy is refused.
func init() {
	register("send-request", inAll, []string{"mode", "response-variable-name", "timeout", "ignore-error"}, compileSendRequest)
	register("send-one-way-request", inAll, []string{"mode", "timeout"}, compileSendOneWay)
}

// HTTPCall is an HTTP request a policy needs made (Outcome Call).
type HTTPCall struct {
	Method  string
	URL     string // absolute http:// or https:// URL
	Headers []Header
	Body    []byte
	Timeout time.Duration
	// OneWay: do not wait for the response (send-one-way-request).
	OneWay bool
	// Policy is the element that asked ("send-request"), for traces.
	Policy string
	// Token, when set, makes this no HTTP request to URL: it asks the
	// caller's managed-identity token source for a token
	// (authentication-managed-identity); answer with Context.TokenDone.
	Token *TokenRequest
	// ClientCert is the client certificate to present over https
	// (authentication-certificate inside send-request); nil for none.
	ClientCert *tls.Certificate
	// Cache, when set, makes this no HTTP request: it asks the external
	// cache for a key (pol_cache_external.go); answer with Context.CacheDone.
	Cache *CacheLookup
}

// CallResponse is the answer to an HTTPCall.
type CallResponse struct {
	StatusCode int
	Reason     string
	Headers    []Header
	Body       []byte
}

// ErrCall is wrapped by the error a failed call gives send-request.
var ErrCall = errors.New("policy: send-request failed")

// CallDone gives the pending HTTPCall's outcome to the pipeline (resp nil and
// err set if the call failed; both nil for a one-way call). Call Resume next.
func (c *Context) CallDone(resp *CallResponse, err error) {
	c.calls.done, c.calls.resp, c.calls.err = true, resp, err
}

type callState struct {
	call  *HTTPCall
	done  bool
	resp  *CallResponse
	token Token // for a token request (HTTPCall.Token)
	err   error
	phase uint8  // a step that makes several calls (validate-jwt: configuration, then keys)
	note  string // what the step keeps between them
	// cacheVal and cacheFound answer a CacheLookup (pol_cache_external.go).
	cacheVal   []byte
	cacheFound bool
}

const defaultSendTimeout = 60 * time.Second

type sendRequest struct {
	oneWay      bool
	copyMode    bool
	varName     prop
	timeout     prop
	ignoreError bool
	url         prop
	method      string
	headers     []*setHeader
	body        *prop
	outbound    bool      // mode copy in outbound does not take the request body
	mi          *miSpec   // an authentication-managed-identity child
	cert        *certSpec // an authentication-certificate child
}

// phaseSend marks c.calls as the send-request call itself (after a token request).
const phaseSend = 11

func compileSendRequest(b *builder, n *Node) { compileSend(b, n, false) }
func compileSendOneWay(b *builder, n *Node)  { compileSend(b, n, true) }

func compileSend(b *builder, n *Node, oneWay bool) {
	b.noText(n)
	m := b.meta(n)
	s := &sendRequest{oneWay: oneWay, outbound: b.sec == Outbound}
	s.copyMode = b.attrEnum(n, "mode", "new", "new", "copy") == "copy"
	if !oneWay {
		s.varName = b.attrProp(n, "response-variable-name", true)
		s.ignoreError = b.attrBool(n, "ignore-error", false)
	}
	s.timeout = b.attrProp(n, "timeout", false)
	hasURL, hasMethod := false, false
	for _, ch := range n.Children {
		switch ch.Name {
		case "set-url":
			b.checkAttrs(ch)
			b.noChildren(ch)
			s.url, hasURL = b.textProp(ch), true
		case "set-method":
			b.checkAttrs(ch)
			b.noChildren(ch)
			s.method, hasMethod = strings.ToUpper(strings.TrimSpace(b.subst(ch, ch.TextPos, ch.Text))), true
			if s.method == "" || strings.HasPrefix(s.method, "@") {
				b.errorf(ch, ErrInvalid, "<set-method> needs a literal method (APIM allows no expression here)")
			}
		case "set-header":
			b.checkAttrs(ch, "name", "exists-action", "id")
			name, action, values := compileNamedValues(b, ch)
			s.headers = append(s.headers, &setHeader{name: name, action: action, values: values})
		case "set-body":
			b.checkAttrs(ch)
			var p prop
			if len(ch.Children) > 0 {
				p = b.compileValue(ch, ch.TextPos, ch.Inner(b.doc))
			} else {
				p = b.textProp(ch)
			}
			s.body = &p
		case "authentication-managed-identity":
			b.checkAttrs(ch, "resource", "client-id", "output-token-variable-name", "ignore-error", "id")
			b.noChildren(ch)
			s.mi = compileMISpec(b, ch)
			if s.mi.varName != "" {
				b.errorf(ch, ErrInvalid, "output-token-variable-name is not allowed here: inside <%s> the token authenticates the call", n.Name)
			}
		case "authentication-certificate":
			b.checkAttrs(ch, "thumbprint", "certificate-id", "body", "password", "id")
			b.noChildren(ch)
			s.cert = compileCertSpec(b, ch)
		case "proxy":
			b.errorf(ch, ErrUnsupported, "<%s> inside <%s> is not supported by this gateway", ch.Name, n.Name)
		default:
			if isAPIMPolicyName(ch.Name) {
				b.unsupportedPolicy(ch)
				continue
			}
			b.errorf(ch, ErrUnsupported, "<%s> is not allowed inside <%s> (expected set-url, set-method, set-header, set-body)", ch.Name, n.Name)
		}
	}
	if !s.copyMode && !hasURL {
		b.errorf(n, ErrInvalid, "<set-url> is required (mode=\"new\")")
	}
	if !s.copyMode && !hasMethod {
		s.method = "GET" // APIM documents it as required; its gateway defaults to GET
	}
	if s.copyMode && !s.outbound {
		b.reads |= readsRequest
	}
	if b.sec != Inbound {
		// A call after the backend answered holds the response while it is
		// made off the loop (and backend sections may forward first).
		b.reads |= readsResponse
	}
	b.emit(instr{op: opStep, step: s, meta: m, flow: true})
}

func (s *sendRequest) run(c *Context) (flow, error) {
	if c.calls.done && c.calls.phase == phaseSend {
		return s.finish(c)
	}
	bearer := ""
	if s.mi != nil {
		_, b, wait, err := s.mi.acquire(c)
		if wait {
			return flowCall, nil // the token first; then this runs again
		}
		if err != nil {
			return flowNext, err
		}
		bearer = b
	}
	call := &HTTPCall{Method: s.method, OneWay: s.oneWay, Timeout: defaultSendTimeout, Policy: "send-request"}
	if s.oneWay {
		call.Policy = "send-one-way-request"
	}
	if s.copyMode {
		call.Method = c.Request.Method
		call.URL = string(c.AppendBackendURL(nil))
		call.Headers = append([]Header(nil), c.Request.Headers.List...)
		if !s.outbound {
			call.Body = c.Request.Body
		}
		if s.method != "" {
			call.Method = s.method
		}
	}
	if s.url.set {
		u, err := s.url.str(c)
		if err != nil {
			return flowNext, err
		}
		call.URL = strings.TrimSpace(u)
	}
	if !strings.HasPrefix(call.URL, "http://") && !strings.HasPrefix(call.URL, "https://") {
		return flowNext, evalErr("%s: URL %q is not an absolute http or https URL", call.Policy, call.URL)
	}
	if s.timeout.set {
		n, err := s.timeout.integer(c)
		if err != nil {
			return flowNext, err
		}
		if n <= 0 || n > 240*3600 {
			return flowNext, evalErr("%s: timeout %d is not a number of seconds in [1, 864000]", call.Policy, n)
		}
		call.Timeout = time.Duration(n) * time.Second
	}
	h := Headers{List: call.Headers}
	for _, sh := range s.headers {
		if _, err := sh.apply(c, &h); err != nil {
			return flowNext, err
		}
	}
	if bearer != "" {
		h.Set("Authorization", bearer)
	}
	call.Headers = h.List
	if s.cert != nil {
		cert, err := s.cert.resolve(c)
		if err != nil {
			return flowNext, err
		}
		call.ClientCert = cert
	}
	if s.body != nil {
		v, err := s.body.str(c)
		if err != nil {
			return flowNext, err
		}
		call.Body = []byte(v)
	}
	c.calls = callState{call: call, phase: phaseSend}
	return flowCall, nil
}

// finish takes the call's outcome (the step runs a second time, on Resume).
func (s *sendRequest) finish(c *Context) (flow, error) {
	st := c.calls
	c.calls = callState{}
	if s.oneWay {
		return flowNext, nil
	}
	name, err := s.varName.str(c)
	if err != nil {
		return flowNext, err
	}
	if st.err != nil || st.resp == nil {
		if s.ignoreError {
			c.SetVariable(name, Value{})
			return flowNext, nil
		}
		reason := "no response"
		if st.err != nil {
			reason = st.err.Error()
		}
		return flowNext, &callError{reason: reason}
	}
	// The call's response body is kept for the rest of the request.
	if err := c.chargeBody(len(st.resp.Body)); err != nil {
		return flowNext, err
	}
	c.SetVariable(name, ResponseValue(st.resp.StatusCode, st.resp.Reason, st.resp.Headers, st.resp.Body))
	return flowNext, nil
}

type callError struct{ reason string }

func (e *callError) Error() string { return e.reason }
func (e *callError) Unwrap() error { return ErrCall }
