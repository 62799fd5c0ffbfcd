package policy

import "time"

// forward-request sends the request to the backend: the pipeline returns
// Forward with c.Upstream set (timeout, redirects, buffering), the caller
// forwards and fills c.Response, then resumes the backend section.
func init() {
	register("forward-request", inBackend, []string{"timeout", "follow-redirects", "buffer-request-body", "buffer-response", "fail-on-error-status-code"}, compileForwardRequest)
}

const defaultForwardTimeout = 300 * time.Second

type forwardRequest struct {
	timeout           time.Duration
	followRedirects   bool
	bufferRequestBody bool
	bufferResponse    bool
	failOnErrorStatus bool
}

func compileForwardRequest(b *builder, n *Node) {
	b.noText(n)
	b.noChildren(n)
	m := b.meta(n)
	s := &forwardRequest{
		timeout:           time.Duration(b.attrInt(n, "timeout", false, 300, 0, 240*3600)) * time.Second,
		followRedirects:   b.attrBool(n, "follow-redirects", false),
		bufferRequestBody: b.attrBool(n, "buffer-request-body", false),
		bufferResponse:    b.attrBool(n, "buffer-response", true),
		failOnErrorStatus: b.attrBool(n, "fail-on-error-status-code", false),
	}
	refuseForwardOption(b, n, "buffer-request-body", s.bufferRequestBody, false, "the gateway streams the request body to the backend and cannot resend it on retry yet")
	b.emit(instr{op: opStep, step: s, meta: m, flow: true})
}

// refuseForwardOption reports an option set to a value the gateway does not
// implement: the document is refused rather than the option silently ignored.
func refuseForwardOption(b *builder, n *Node, name string, got, def bool, why string) {
	if got == def {
		return
	}
	a, _ := n.Attr(name)
	b.errorAt(n, a.ValuePos, ErrUnsupported, "attribute %q=\"%t\" is not implemented: %s", name, got, why)
}

func (s *forwardRequest) run(c *Context) (flow, error) {
	u := &c.Upstream
	u.Timeout = s.timeout
	u.FollowRedirects = s.followRedirects
	u.BufferRequestBody = s.bufferRequestBody
	u.BufferResponse = s.bufferResponse
	u.FailOnErrorStatus = s.failOnErrorStatus
	return flowForward, nil
}
