package policy

import (
	"strconv"
	"strings"
)

// validate-headers checks the response headers against the headers the
// operation documents for the response's status code (ARM
// responses[].headers, carried in the snapshot): a documented header must be
// present when required, of its type (integer, number, boolean) and one of its
// values when it lists them — specified-header-action applies to those
// problems; a header the response has but the documentation does not gets
// unspecified-header-action. Both are required, ignore / prevent / detect,
// expressions allowed; <header name action/> overrides the action for one
// header. detect records and goes on; prevent stops: on-error runs with
// context.LastError.Source "validate-headers", Reason "Response not allowed"
// and the first problem's details as Message (APIM's validation error
// reference), and the client gets 502 with APIM's public message.
// errors-variable-name receives every problem found (prevent stops at the
// first set, as APIM documents).
func init() {
	register("validate-headers", inOutbound|inOnError, []string{"specified-header-action", "unspecified-header-action", "errors-variable-name"}, compileValidateHeaders)
}

type validateHeaders struct {
	specified, unspecified prop
	overrides              map[string]prop // lower-case header name
	errorsVar              string
}

func compileValidateHeaders(b *builder, n *Node) {
	b.noText(n)
	m := b.meta(n)
	s := &validateHeaders{
		specified:   b.enumProp(n, "specified-header-action", true, "", validationActions...),
		unspecified: b.enumProp(n, "unspecified-header-action", true, "", validationActions...),
		errorsVar:   b.attrString(n, "errors-variable-name", false, ""),
		overrides:   map[string]prop{},
	}
	b.onlyChildren(n, "header")
	for _, c := range n.Children {
		if c.Name != "header" {
			continue
		}
		b.checkAttrs(c, "name", "action")
		b.noText(c)
		b.noChildren(c)
		name := strings.ToLower(b.attrString(c, "name", true, ""))
		act := b.enumProp(c, "action", true, "", validationActions...)
		if _, dup := s.overrides[name]; dup && name != "" {
			b.errorf(c, ErrInvalid, "header %q has two <header> overrides", name)
		}
		s.overrides[name] = act
	}
	b.emit(instr{op: opStep, step: s, meta: m})
}

// action evaluates the action for header name (its override, else def).
func (s *validateHeaders) action(c *Context, name string, def *prop) (string, error) {
	p := def
	if o, ok := s.overrides[strings.ToLower(name)]; ok {
		p = &o
	}
	return enumValue(c, p, "action", validationActions...)
}

func (s *validateHeaders) run(c *Context) (flow, error) {
	var defs []HeaderDef
	for i := range c.pipe.examples {
		if c.pipe.examples[i].StatusCode == c.Response.StatusCode {
			defs = c.pipe.examples[i].Headers
			break
		}
	}
	var errs []validationError
	var stop *validationFailure
	add := func(e validationError) {
		errs = append(errs, e)
		if e.action == "prevent" && stop == nil {
			stop = &validationFailure{status: 502, reason: reasonResponseNotAllowed, message: e.details, public: internalErrorMessage}
		}
	}
	for _, d := range defs {
		act, err := s.action(c, d.Name, &s.specified)
		if err != nil {
			return flowNext, err
		}
		if act == "ignore" {
			continue
		}
		v, ok := c.Response.Headers.Joined(d.Name)
		if !ok {
			if d.Required {
				add(validationError{name: d.Name, typ: "ResponseHeader", rule: "Required", action: act,
					details: "Header " + d.Name + " is required by the API schema but missing."})
			}
			continue
		}
		if why := headerValueProblem(d, v); why != "" {
			add(validationError{name: d.Name, typ: "ResponseHeader", rule: "IncorrectMessage", action: act,
				details: "Value of the header " + d.Name + " does not conform to the definition.\n\n" + strconv.Quote(v) + ": " + headerRuleText(d, why) + "."})
		}
	}
	seen := map[string]bool{}
	for _, h := range c.Response.Headers.List {
		k := strings.ToLower(h.Name)
		if seen[k] {
			continue
		}
		seen[k] = true
		documented := false
		for _, d := range defs {
			if strings.EqualFold(d.Name, h.Name) {
				documented = true
				break
			}
		}
		if documented {
			continue
		}
		act, err := s.action(c, h.Name, &s.unspecified)
		if err != nil {
			return flowNext, err
		}
		if act == "ignore" {
			continue
		}
		add(validationError{name: h.Name, typ: "ResponseHeader", rule: "Unspecified", action: act,
			details: "Unspecified header " + h.Name + " is not allowed."})
	}
	if err := setValidationErrors(c, s.errorsVar, errs); err != nil {
		return flowNext, err
	}
	traceValidation(c, "validate-headers", errs)
	if stop != nil {
		return flowNext, stop
	}
	return flowNext, nil
}

// headerValueProblem returns the rule v breaks ("Type", "Enum") or "".
func headerValueProblem(d HeaderDef, v string) string {
	v = strings.TrimSpace(v)
	switch strings.ToLower(d.Type) {
	case "integer":
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return "Type"
		}
	case "number":
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			return "Type"
		}
	case "boolean":
		if v != "true" && v != "false" {
			return "Type"
		}
	}
	if len(d.Values) > 0 {
		for _, a := range d.Values {
			if a == v {
				return ""
			}
		}
		return "Enum"
	}
	return ""
}

func headerRuleText(d HeaderDef, rule string) string {
	if rule == "Type" {
		return "it is not of type " + d.Type
	}
	return "it is not one of " + strings.Join(d.Values, ", ")
}
