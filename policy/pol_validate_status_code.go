package policy

import (
	"strconv"
)

// validate-status-code checks the response's status code against the
// operation's documented responses (wire.Operation.Responses, given to the
// pipeline with SetResponseExamples): a documented code passes; any other
// gets unspecified-status-code-action (required, ignore / prevent / detect,
// expressions allowed), or the action of a <status-code code action/> child
// naming it (an override has no effect on a documented code, as APIM
// documents). detect records the problem and goes on; prevent also stops:
// on-error runs with context.LastError.Source "validate-status-code" and
// Reason "Response not allowed" (APIM's validation error reference) with the
// details as Message, and the client gets 502 with APIM's public message
// ("The request could not be processed due to an internal error. Contact
// the API owner.") unless on-error changes it. errors-variable-name (no expressions) receives
// the problems found. An operation without documented responses documents no
// status code.
func init() {
	register("validate-status-code", inOutbound|inOnError, []string{"unspecified-status-code-action", "errors-variable-name"}, compileValidateStatusCode)
}

type validateStatusCode struct {
	unspecified prop
	overrides   map[int]prop
	errorsVar   string
}

func compileValidateStatusCode(b *builder, n *Node) {
	b.noText(n)
	m := b.meta(n)
	s := &validateStatusCode{
		unspecified: b.enumProp(n, "unspecified-status-code-action", true, "", validationActions...),
		errorsVar:   b.attrString(n, "errors-variable-name", false, ""),
		overrides:   map[int]prop{},
	}
	b.onlyChildren(n, "status-code")
	for _, c := range n.Children {
		if c.Name != "status-code" {
			continue
		}
		b.checkAttrs(c, "code", "action")
		b.noText(c)
		b.noChildren(c)
		code := int(b.attrInt(c, "code", true, 0, 100, 599))
		act := b.enumProp(c, "action", true, "", validationActions...)
		if _, dup := s.overrides[code]; dup && code != 0 {
			b.errorf(c, ErrInvalid, "status code %d has two <status-code> overrides", code)
		}
		s.overrides[code] = act
	}
	b.emit(instr{op: opStep, step: s, meta: m})
}

func (s *validateStatusCode) run(c *Context) (flow, error) {
	code := c.Response.StatusCode
	for i := range c.pipe.examples {
		if c.pipe.examples[i].StatusCode == code {
			return flowNext, setValidationErrors(c, s.errorsVar, nil)
		}
	}
	p := &s.unspecified
	if o, ok := s.overrides[code]; ok {
		p = &o
	}
	action, err := enumValue(c, p, "action", validationActions...)
	if err != nil {
		return flowNext, err
	}
	if action == "ignore" {
		return flowNext, setValidationErrors(c, s.errorsVar, nil)
	}
	details := "Response status code " + strconv.Itoa(code) + " is not allowed."
	errs := []validationError{{name: strconv.Itoa(code), typ: "StatusCode", rule: "Unspecified", details: details, action: action}}
	if err := setValidationErrors(c, s.errorsVar, errs); err != nil {
		return flowNext, err
	}
	traceValidation(c, "validate-status-code", errs)
	if action == "detect" {
		return flowNext, nil
	}
	return flowNext, &validationFailure{status: 502, reason: reasonResponseNotAllowed, message: details, public: internalErrorMessage}
}
