package policy

import (
	"strconv"
	"strings"
)

// What the validation policies (validate-status-code, validate-headers)
// share: APIM's actions ignore / prevent / detect, the validation errors
// written to errors-variable-name, and the refusal prevent leaves.

var validationActions = []string{"ignore", "prevent", "detect"}

// validationError is one problem found, with APIM's fields (Name, Type,
// ValidationRule, Details, Action).
type validationError struct {
	name, typ, rule, details, action string
}

// validationFailure is what prevent raises: on-error runs with
// context.LastError.Source the policy, and the response is status with
// {"statusCode":N,"message":details} unless on-error changes it.
// The Reason values APIM lists for validation errors (its validation policy
// error reference): every validation policy's failure is one of them,
// with the details as context.LastError.Message.
const (
	reasonBadRequest         = "Bad request"          // a request failed validation (inbound)
	reasonResponseNotAllowed = "Response not allowed" // a response failed validation (outbound, on-error)
)

type validationFailure struct {
	status  int
	reason  string // context.LastError.Reason
	message string
	// public is what the client is told ("" = message), as APIM keeps
	// details out of responses (validate-content).
	public string
}

func (e *validationFailure) Error() string { return e.message }

// Unwrap gives context.LastError its Reason and Message (lib_context.go).
func (e *validationFailure) Unwrap() error {
	return &reasonErr{reason: e.reason, msg: e.message, kind: ErrEval}
}
func (e *validationFailure) refusal() (int, string, []byte) {
	msg := e.message
	if e.public != "" {
		msg = e.public
	}
	var b strings.Builder
	b.WriteString(`{"statusCode":` + strconv.Itoa(e.status) + `,"message":`)
	writeJSONString(&b, msg)
	b.WriteByte('}')
	return e.status, reasonPhrase(e.status), []byte(b.String())
}

func reasonPhrase(status int) string {
	switch status {
	case 400:
		return "Bad Request"
	case 502:
		return "Bad Gateway"
	}
	return "Error"
}

// setValidationErrors stores errs in variable name (when the policy has one)
// as a JArray of objects {Name, Type, ValidationRule, Details, Action}; an
// empty array when nothing was found.
func setValidationErrors(c *Context, name string, errs []validationError) error {
	if name == "" {
		return nil
	}
	var b strings.Builder
	b.WriteByte('[')
	for i, e := range errs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"Name":`)
		writeJSONString(&b, e.name)
		b.WriteString(`,"Type":`)
		writeJSONString(&b, e.typ)
		b.WriteString(`,"ValidationRule":`)
		writeJSONString(&b, e.rule)
		b.WriteString(`,"Details":`)
		writeJSONString(&b, e.details)
		b.WriteString(`,"Action":`)
		writeJSONString(&b, e.action)
		b.WriteByte('}')
	}
	b.WriteByte(']')
	j, err := parseJSON(c, b.String())
	if err != nil {
		return err
	}
	c.SetVariable(name, objValue(j))
	return nil
}

// traceValidation sends detected problems to the Context's Tracer, as APIM
// logs them.
func traceValidation(c *Context, source string, errs []validationError) {
	if c.Tracer == nil {
		return
	}
	for _, e := range errs {
		c.Tracer.Trace(source, "information", e.details, nil)
	}
}
