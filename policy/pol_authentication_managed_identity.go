package policy

import (
	"strings"
	"time"
)

// authentication-managed-identity gets an access token for resource from the
// managed-identity token endpoint of the host (Azure IMDS, Azure Arc's
// HIMDS, App Service's IDENTITY_ENDPOINT; the appliance's token source, set
// in env.conf) and authenticates the backend request with it:
// "Authorization: Bearer <token>". With output-token-variable-name the
// token goes into that variable (a string) instead, and the header is left
// alone (APIM's "set header manually" example relies on this).
//
// Attributes (APIM's): resource (required, expressions allowed), client-id
// (a user-assigned identity; literal), output-token-variable-name (literal),
// ignore-error (default false: a token that cannot be had fails the policy
// into on-error; true: the pipeline goes on without it). Inbound, and as a
// child of send-request (the token then authenticates that call).
//
// The pipeline does no I/O: a token missing from the State's cache, or due
// for refresh, is asked for with Outcome Call (HTTPCall.Token); the caller
// fetches it off the event loop and answers with Context.TokenDone. Tokens
// are cached until shortly before they expire (tokenRefresh); when a
// refresh fails, the token held is used until it expires, and the next
// attempt waits tokenRetry.
func init() {
	register("authentication-managed-identity", inInbound, []string{"resource", "client-id", "output-token-variable-name", "ignore-error"}, compileAuthMI)
}

// TokenRequest asks the caller's managed-identity token source for an
// access token (HTTPCall.Token).
type TokenRequest struct {
	Resource string
	ClientID string // "" for the system-assigned identity
}

// Token is a managed-identity access token and when it expires.
type Token struct {
	AccessToken string
	ExpiresOn   time.Time
}

// TokenDone gives the pending token request's outcome to the pipeline (err
// set if no token could be had). Call Resume next.
func (c *Context) TokenDone(t Token, err error) {
	c.calls.done, c.calls.token, c.calls.err = true, t, err
}

// tokenTimeout bounds one token request (IMDS answers in milliseconds; an
// unreachable endpoint must not hold requests for send-request's minute).
const tokenTimeout = 20 * time.Second

// phaseToken marks c.calls as a token request (callState.phase).
const phaseToken = 10

type miSpec struct {
	resource    prop
	clientID    string
	varName     string
	ignoreError bool
}

type authMI struct{ mi *miSpec }

func compileAuthMI(b *builder, n *Node) {
	b.noText(n)
	b.noChildren(n)
	m := b.meta(n)
	b.emit(instr{op: opStep, step: &authMI{mi: compileMISpec(b, n)}, meta: m, flow: true})
}

// compileMISpec reads the attributes (also for the send-request child, whose
// attributes the registry did not check).
func compileMISpec(b *builder, n *Node) *miSpec {
	return &miSpec{
		resource:    b.attrProp(n, "resource", true),
		clientID:    b.attrString(n, "client-id", false, ""),
		varName:     b.attrString(n, "output-token-variable-name", false, ""),
		ignoreError: b.attrBool(n, "ignore-error", false),
	}
}

func (s *authMI) run(c *Context) (flow, error) {
	tok, wait, err := s.mi.acquire(c)
	if wait {
		return flowCall, nil
	}
	if err != nil {
		return flowNext, err
	}
	if tok == "" {
		return flowNext, nil // ignore-error and no token
	}
	if s.mi.varName != "" {
		c.SetVariable(s.mi.varName, str(tok))
		return flowNext, nil
	}
	c.Request.Headers.Set("Authorization", "Bearer "+tok)
	return flowNext, nil
}

// acquire returns the token: from the cache, or from the token request
// this step made (wait true: return flowCall; the step runs again on
// Resume). "" with a nil error means ignore-error let a failure pass.
func (m *miSpec) acquire(c *Context) (tok string, wait bool, err error) {
	resource, err := m.resource.str(c)
	if err != nil {
		return "", false, err
	}
	resource = strings.TrimSpace(resource)
	if resource == "" {
		return "", false, evalErr("authentication-managed-identity: resource is empty")
	}
	tc, now := &c.pipe.state.tokens, c.pipe.state.now()
	key := m.clientID + "\x00" + resource
	if c.calls.done && c.calls.phase == phaseToken {
		cs := c.calls
		c.calls = callState{}
		if cs.err == nil && cs.token.AccessToken != "" {
			tc.put(key, cs.token, now)
			return cs.token.AccessToken, false, nil
		}
		detail := "the token endpoint gave no token"
		if cs.err != nil {
			detail = cs.err.Error()
		}
		if held, ok := tc.failed(key, now); ok {
			return held, false, nil // the last good token, until it expires
		}
		if m.ignoreError {
			return "", false, nil
		}
		return "", false, &miError{msg: "Unable to obtain a managed identity access token for resource '" + resource + "': " + detail}
	}
	if held, fetch := tc.lookup(key, now); !fetch {
		return held, false, nil
	}
	c.calls = callState{call: &HTTPCall{Policy: "authentication-managed-identity", Timeout: tokenTimeout,
		Token: &TokenRequest{Resource: resource, ClientID: m.clientID}}, phase: phaseToken}
	return "", true, nil
}

// miError fails the pipeline with Source authentication-managed-identity
// (also when the policy is a child of send-request). APIM documents no
// LastError.Reason for this failure, so Reason is empty.
type miError struct{ msg string }

func (e *miError) Error() string        { return e.msg }
func (e *miError) Unwrap() error        { return ErrCall }
func (e *miError) policySource() string { return "authentication-managed-identity" }
