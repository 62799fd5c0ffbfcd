package policy

// xml-to-json converts the request body (inbound) or the response body
// (outbound, on-error) from XML to JSON (convert_xml_json.go) and sets
// Content-Type: application/json. kind (required) is javascript-friendly or
// direct — both give the same shape here (docs/policies.md says why); apply
// (required) is always or content-type-xml; consider-accept-header (default
// true) converts only when the request's Accept names JSON;
// always-array-child-elements (default false) makes every child element an
// array. An empty body is left alone; a body that is not XML fails the step
// (context.LastError.Source "xml-to-json").
func init() {
	register("xml-to-json", inInbound|inOutbound|inOnError, []string{"kind", "apply", "consider-accept-header",
		"always-array-child-elements"}, compileXMLToJSON)
}

type xmlToJSONStep struct {
	conversion
	kind, always prop
}

func compileXMLToJSON(b *builder, n *Node) {
	b.noText(n)
	b.noChildren(n)
	m := b.meta(n)
	s := &xmlToJSONStep{
		conversion: conversion{target: b.target,
			apply:  b.enumProp(n, "apply", true, "", "always", "content-type-xml"),
			accept: b.attrProp(n, "consider-accept-header", false)},
		kind:   b.enumProp(n, "kind", true, "", "javascript-friendly", "direct"),
		always: b.attrProp(n, "always-array-child-elements", false),
	}
	if !s.accept.set {
		s.accept = prop{set: true, lit: BoolValue(true)}
	}
	if !s.always.set {
		s.always = prop{set: true, lit: BoolValue(false)}
	}
	b.readsBody(b.target)
	b.emit(instr{op: opStep, step: s, meta: m})
}

func (s *xmlToJSONStep) run(c *Context) (flow, error) {
	if _, err := enumValue(c, &s.kind, "kind", "javascript-friendly", "direct"); err != nil {
		return flowNext, err
	}
	ok, err := s.wanted(c, "content-type-xml", "json")
	if err != nil || !ok {
		return flowNext, err
	}
	body, _ := s.bodyHeaders(c)
	if len(body) == 0 {
		return flowNext, nil
	}
	always, err := s.always.boolean(c)
	if err != nil {
		return flowNext, err
	}
	out, err := xmlToJSON(body, always)
	if err != nil {
		return flowNext, ReasonError(conversionReason, err.Error(), ErrEval)
	}
	return flowNext, s.setBody(c, out, "application/json")
}
