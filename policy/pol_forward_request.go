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
	b.emit(instr{op: opStep, step: s, meta: m, flow: true})
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
