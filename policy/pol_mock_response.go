package policy

import "strings"

// mock-response answers at once with the operation's documented example, as
// APIM does: status-code (default 200) selects the documented response,
// content-type selects its representation (without it, the first one is
// used) and is the Content-Type sent; the body is that representation's
// example. Without a matching response, representation or example the body
// is empty. APIM generates a sample from the schema when there is no example;
// this gateway does not generate samples from schemas and sends the empty body then
// (docs/policies.md). Neither attribute takes an expression.
func init() {
	register("mock-response", inInbound|inOutbound|inOnError, []string{"status-code", "content-type"}, compileMockResponse)
}

// ResponseExample is one documented response representation of an operation
// (ARM's responses[].representations[] with the example chosen; a response
// documented without content is one entry with an empty ContentType): what
// mock-response answers with and validate-status-code checks against.
type ResponseExample struct {
	StatusCode  int
	ContentType string
	// Body is the example ("" when the representation has none).
	Body string
	// Headers are the response's documented headers (validate-headers);
	// every entry of one status code has the same.
	Headers []HeaderDef
	// SchemaID and TypeName name the representation's schema
	// (validate-content).
	SchemaID, TypeName string
}

// HeaderDef is a documented header: ARM's ParameterContract.
type HeaderDef struct {
	Name     string
	Type     string // string, integer, number, boolean; "" = any
	Required bool
	Values   []string // allowed values; none = any
}

// SetResponseExamples gives p the documented responses of its operation, in
// the order the operation lists them. Call it before p is used by any
// request (the appliance does it right after Link); p keeps ex.
func (p *Pipeline) SetResponseExamples(ex []ResponseExample) { p.examples = ex }

// UsesOperationDocs reports which of its operation's documentation p's
// policies read: the documented responses (SetResponseExamples:
// mock-response, validate-headers, validate-status-code and validate-content
// on a response) and the documented request (SetRequestParameters:
// validate-parameters, validate-content on the request). A caller linking
// thousands of operations gives a pipeline only what it reads.
func (p *Pipeline) UsesOperationDocs() (responses, request bool) {
	for s := Section(0); s < numSections; s++ {
		for _, in := range p.sections[s] {
			switch st := in.step.(type) {
			case *mockResponse, *validateHeaders, *validateStatusCode:
				responses = true
			case *validateParameters:
				request = true
			case *validateContent:
				if st.target == toRequest {
					request = true
				} else {
					responses = true
				}
			}
		}
	}
	return responses, request
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

// choose returns the example for s among the operation's.
func (s *mockResponse) choose(ex []ResponseExample) (contentType string, body []byte) {
	want := mediaTypeOnly(s.contentType)
	for i := range ex {
		e := &ex[i]
		if e.StatusCode != s.status {
			continue
		}
		if want == "" || mediaTypeOnly(e.ContentType) == want {
			return e.ContentType, []byte(e.Body)
		}
	}
	return "", nil
}

func mediaTypeOnly(ct string) string {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.ToLower(strings.TrimSpace(ct))
}

func (s *mockResponse) run(c *Context) (flow, error) {
	ct, body := s.choose(c.pipe.examples)
	if s.contentType != "" {
		ct = s.contentType
	}
	c.Response.reset()
	c.Response.StatusCode = s.status
	if ct != "" {
		c.Response.Headers.Set("Content-Type", ct)
	}
	c.Response.Body, c.Response.BodySet = body, true
	return flowRespond, nil
}
