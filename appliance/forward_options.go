package appliance

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/apimgw/apimgw/netstack"
	"github.com/apimgw/apimgw/netstack/http1"
	"github.com/apimgw/apimgw/policy"
)

// failOnStatus reports whether forward-request fail-on-error-status-code
// turns the backend's answer into an error: APIM runs on-error for status
// codes 400 to 599 inclusive when the attribute is true.
func (st *reqState) failOnStatus(status int) bool {
	return st.pc.Upstream.FailOnErrorStatus && status >= 400 && status <= 599
}

// runOnStatusError starts the on-error section for a backend answer that
// fail-on-error-status-code made an error. The rest of the backend section
// and the outbound section are skipped (the error is raised by
// forward-request, as in APIM); on-error sees the backend's status and
// headers in context.Response and context.LastError set. If on-error leaves
// the response alone, the backend's answer goes to the client as on-error
// left it.
func (st *reqState) runOnStatusError(status int) policy.Result {
	pc := st.pc
	st.err = "backend-error-status"
	pc.LastError = &policy.RuntimeError{Source: "forward-request", File: "(backend)", Section: policy.Backend,
		Reason: "BackendErrorStatusCode: the backend answered " + strconv.Itoa(status)}
	st.sec = policy.OnError
	return st.pl.Run(pc, policy.OnError)
}

// maxRedirects caps follow-redirects: 50, the default of .NET's HttpClient
// (MaxAutomaticRedirections), which APIM's gateway is built on; APIM does
// not document its own cap.
const maxRedirects = 50

// followRedirect handles a 3xx from the backend when forward-request
// follow-redirects="true": the request goes to the Location instead, with
// the rules of .NET's HttpClient (what APIM runs on):
//   - 301 and 302 turn POST into GET, 303 turns every method but HEAD into
//     GET; those drop the request body;
//   - 307 and 308 keep the method and body — unless the body was streamed
//     to the backend and cannot be sent again (then the 3xx goes to the
//     client, as it does without follow-redirects; buffer-request-body="true"
//     keeps it);
//   - https → http is not followed; Authorization is dropped when the host
//     changes; at most maxRedirects hops, then the last 3xx goes out.
//
// It returns true when the exchange was sent on.
func (h *Handler) followRedirect(x *netstack.Exchange, st *reqState, status int) bool {
	pc := st.pc
	if !pc.Upstream.FollowRedirects || st.redirects >= maxRedirects {
		return false
	}
	switch status {
	case 301, 302, 303, 307, 308:
	default:
		return false
	}
	loc, ok := pc.Response.Headers.Get("Location")
	if !ok || loc == "" {
		return false
	}
	cur := st.current
	if cur == nil {
		cur = st.lastForward()
	}
	if cur == nil {
		return false
	}
	next, err := cur.Parse(loc)
	if err != nil || (next.Scheme != "http" && next.Scheme != "https") || next.Host == "" || cur.Scheme == "https" && next.Scheme == "http" {
		return false
	}
	method := pc.Request.Method
	hasBody := x.Req.Framing != http1.NoBody || pc.Request.Buffered
	dropBody := false
	switch {
	case status == 303 && method != "HEAD", (status == 301 || status == 302) && method == "POST":
		method, dropBody = "GET", true
	case hasBody && !pc.Request.Buffered && !pc.Upstream.BufferRequestBody:
		return false // 307/308 with a body already streamed: cannot resend
	}
	b := st.backend(next.Scheme + "://" + next.Host)
	if b == nil || b.errMsg != "" {
		return false
	}
	b = st.viaProxy(b) // backend_proxy.go: a backend entity's proxy carries its redirects too
	st.redirects++
	st.current = next
	x.SetTarget([]byte(next.RequestURI()))
	if method != str(x.Req.Bytes(x.Req.Method)) {
		x.SetMethod([]byte(method))
	}
	sameHost := strings.EqualFold(next.Host, cur.Host)
	x.ReplaceHeaders(nil)
	for _, f := range pc.Request.Headers.List {
		switch {
		case strings.EqualFold(f.Name, "host"),
			!sameHost && strings.EqualFold(f.Name, "authorization"),
			dropBody && (strings.EqualFold(f.Name, "content-type") || strings.EqualFold(f.Name, "content-length") || strings.EqualFold(f.Name, "transfer-encoding")):
			continue
		}
		x.AppendReplaceHeader(f.Name, f.Value)
	}
	x.AppendReplaceHeader("Host", b.host)
	switch {
	case dropBody && hasBody:
		x.SetRequestBody(nil)
	case pc.Request.Buffered:
		x.SetRequestBody(pc.Request.Body)
	}
	b.forwardTo(x)
	return true
}

// lastForward is the URL the last forward went to (for resolving Location).
func (st *reqState) lastForward() *url.URL {
	u, err := url.Parse(strings.TrimSuffix(st.pc.Upstream.BaseURL, "/"))
	if err != nil {
		return nil
	}
	t := str(st.target)
	path, query, _ := strings.Cut(t, "?")
	u.Path, u.RawPath, u.RawQuery = "", "", query
	if p, err := url.PathUnescape(path); err == nil {
		u.Path = p
		u.RawPath = path
	}
	return u
}
