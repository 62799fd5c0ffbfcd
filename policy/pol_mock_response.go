package policy

// mock-response answers at once with status-code and content-type. APIM would
// fill the body from the API's response examples; snapshots carry none, so
// the body is empty.
func init() {
	register("mock-response", inInbound|inBackend|inOutbound|inOnError, []string{"status-code", "content-type"}, compileMockResponse)
}

type mockResponse struct {
	status      int
	contentType string
}

func compileMockResponse(b *builder, n *Node) {
	b.noText(n)
	b.noChildren(n)
	m := b.meta(n)
	s := &mockResponse{
		status:      int(b.attrInt(n, "status-code", false, 200, 100, 599)),
		contentType: b.attrString(n, "content-type", false, ""),
	}
	b.emit(instr{op: opStep, step: s, meta: m, flow: true})
}

func (s *mockResponse) run(c *Context) (flow, error) {
	c.Response.reset()
	c.Response.StatusCode = s.status
	if s.contentType != "" {
		c.Response.Headers.Set("Content-Type", s.contentType)
	}
	c.Response.BodySet = true
	return flowRespond, nil
}
