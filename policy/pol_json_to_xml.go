package policy

// json-to-xml converts the request body (inbound) or the response body
// (outbound, on-error) from JSON to XML (convert_json_xml.go) and sets
// Content-Type: application/xml. apply (required) is always or
// content-type-json; consider-accept-header (default true) converts only when
// the request's Accept names XML; parse-date (default true, no expressions)
// re-renders ISO 8601 date-times as .NET does; namespace-separator (default
// "_"), namespace-prefix and attribute-block-name as APIM documents them. An
// empty body is left alone; a body that is not JSON fails the step
// (context.LastError.Source "json-to-xml").
func init() {
	register("json-to-xml", inInbound|inOutbound|inOnError, []string{"apply", "consider-accept-header", "parse-date",
		"namespace-separator", "namespace-prefix", "attribute-block-name"}, compileJSONToXML)
}

type jsonToXMLStep struct {
	conversion
	parseDate                 bool
	separator, prefix, attrBk prop
}

func compileJSONToXML(b *builder, n *Node) {
	b.noText(n)
	b.noChildren(n)
	m := b.meta(n)
	s := &jsonToXMLStep{
		conversion: conversion{target: b.target,
			apply:  b.enumProp(n, "apply", true, "", "always", "content-type-json"),
			accept: b.attrProp(n, "consider-accept-header", false)},
		parseDate: b.attrBool(n, "parse-date", true),
		separator: b.attrProp(n, "namespace-separator", false),
		prefix:    b.attrProp(n, "namespace-prefix", false),
		attrBk:    b.attrProp(n, "attribute-block-name", false),
	}
	if !s.accept.set {
		s.accept = prop{set: true, lit: BoolValue(true)}
	}
	if !s.separator.set {
		s.separator = prop{set: true, lit: str("_")}
	}
	if !s.prefix.set {
		s.prefix = prop{set: true, lit: str("")}
	}
	if !s.attrBk.set {
		s.attrBk = prop{set: true, lit: str("")}
	}
	b.readsBody(b.target)
	b.emit(instr{op: opStep, step: s, meta: m})
}

func (s *jsonToXMLStep) run(c *Context) (flow, error) {
	ok, err := s.wanted(c, "content-type-json", "xml")
	if err != nil || !ok {
		return flowNext, err
	}
	body, _ := s.bodyHeaders(c)
	if len(body) == 0 {
		return flowNext, nil
	}
	o := jsonToXMLOptions{parseDate: s.parseDate}
	if o.nsSeparator, err = s.separator.str(c); err != nil {
		return flowNext, err
	}
	if o.nsPrefix, err = s.prefix.str(c); err != nil {
		return flowNext, err
	}
	if o.attributeBlock, err = s.attrBk.str(c); err != nil {
		return flowNext, err
	}
	out, err := jsonToXML(body, &o)
	if err != nil {
		return flowNext, ReasonError(conversionReason, err.Error(), ErrEval)
	}
	return flowNext, s.setBody(c, out, "application/xml")
}

// conversionReason is context.LastError.Reason for a body json-to-xml or
// xml-to-json cannot parse. APIM does not document one; this name is ours
// (docs/policies.md).
const conversionReason = "BodyConversionFailure"
