package policy

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Every error the package returns wraps one of these, so callers
// can classify with errors.Is; the *Error value carries the position.
var (
	// ErrSyntax: the document cannot be read even tolerantly (unbalanced tags,
	// unterminated attribute or expression, text outside the root element).
	ErrSyntax = errors.New("policy: syntax error")
	// ErrUnsupported: a well-formed construct this gateway does not implement
	// (an unknown policy element, attribute, expression member or statement).
	// Never silently skipped.
	ErrUnsupported = errors.New("policy: unsupported")
	// ErrInvalid: a supported construct with a bad value (missing required
	// attribute, a number that is not a number, <base/> in the wrong place).
	ErrInvalid = errors.New("policy: invalid")
	// ErrNamedValue: a {{named-value}} that the snapshot does not define.
	ErrNamedValue = errors.New("policy: undefined named value")
	// ErrFragment: include-fragment names an unknown fragment, or fragments
	// include each other in a cycle.
	ErrFragment = errors.New("policy: fragment")
	// ErrBudget: an expression ran out of its step budget at run time.
	ErrBudget = errors.New("policy: expression step budget exhausted")
	// ErrEval: an expression failed at run time (null member access, bad cast,
	// index out of range). The pipeline turns it into the on-error section.
	ErrEval = errors.New("policy: expression evaluation failed")
	// ErrState: a counter checkpoint could not be restored.
	ErrState = errors.New("policy: counter state")
	// ErrNotRunning is returned (as a Fail result) by Resume when no section
	// is suspended on the Context.
	ErrNotRunning = errors.New("policy: Resume without a suspended section")
)

// Pos is a 1-based line and byte column in a policy document.
type Pos struct {
	Line, Col int
}

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// Error is one problem in one document: file, position, the element it concerns
// and why. Its text never contains the value of a secret named value.
type Error struct {
	File    string // the document's name as given to Read or Compile
	Pos     Pos
	Element string // the policy element (e.g. "rate-limit-by-key"); may be empty
	Msg     string
	Kind    error // one of the sentinels above
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Pos.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Pos.Line, e.Pos.Col)
	}
	b.WriteString(": ")
	if e.Element != "" {
		b.WriteString("<" + e.Element + ">: ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the sentinel, so errors.Is(err, ErrUnsupported) works.
func (e *Error) Unwrap() error { return e.Kind }

// ErrorList is every problem found in one compile, in document order.
type ErrorList []*Error

func (l ErrorList) Error() string {
	switch len(l) {
	case 0:
		return "no errors"
	case 1:
		return l[0].Error()
	}
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap exposes the individual errors to errors.Is and errors.As.
func (l ErrorList) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// RuntimeError is what a pipeline reports when a policy fails while running
// (Result.Err): which policy, where it was written, and the cause. It feeds
// context.LastError in the on-error section.
type RuntimeError struct {
	Source  string // the policy element, e.g. "set-header"
	File    string
	Pos     Pos
	Section Section
	Reason  string
	Err     error
	// PolicyID is the failing policy's id attribute ("" without one) and
	// Path where it sits below its section, as APIM's context.LastError
	// gives them: each element with its 1-based position among the
	// siblings of the same name, "/"-separated ("choose[1]/when[2]/set-variable[1]").
	PolicyID, Path string
	// Code, if set, is APIM's LastError.Reason for a failure the caller
	// names (the appliance: BackendConnectionFailure, Timeout); otherwise
	// the Reason comes from the error (ReasonError, expression failures).
	Code string
}

func (e *RuntimeError) Error() string {
	return fmt.Sprintf("%s:%d:%d: <%s> in %s: %s", e.File, e.Pos.Line, e.Pos.Col, e.Source, e.Section, e.Reason)
}

func (e *RuntimeError) Unwrap() error { return e.Err }
