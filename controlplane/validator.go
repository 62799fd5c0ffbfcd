package controlplane

import (
	"fmt"
	"regexp"
	"strings"
)

// PolicyDoc is one policy document to validate on write.
type PolicyDoc struct {
	// Name identifies the document in messages: its resource path
	// ("/apis/echo/policies/policy", "/policyFragments/f1").
	Name string
	// Scope is "global", "product", "api", "operation" or "fragment".
	Scope string
	// XML is the raw document as the client sent it.
	XML string
	// NamedValues maps every named value's display name to its value, for
	// validators that substitute {{name}} before compiling. Secret values
	// are included: a validator must never put a value in a message.
	NamedValues map[string]string
	// Secret holds the display names of the secret named values.
	Secret map[string]bool
	// Fragments maps every policy fragment id to its raw XML (with the
	// document being written, when it is a fragment).
	Fragments map[string]string
	// Backends maps every backend id to its URL.
	Backends map[string]string
}

// PolicyProblem is one reason a document is refused: where and why.
type PolicyProblem struct {
	Line, Col int    // 1-based; 0 when unknown
	Element   string // the policy element, e.g. "rate-limit"; may be empty
	Message   string
}

// PolicyValidator checks a policy document before it is stored. An empty
// result accepts it. Implementations must be safe for concurrent use and
// must not include secret named-value values in messages.
type PolicyValidator interface {
	ValidatePolicy(doc PolicyDoc) []PolicyProblem
}

// WellFormedValidator is the fallback PolicyValidator: it checks only that
// the document has the right root element (<policies>, or <fragment> for a
// fragment), closed at the end, and that the sections of <policies> are
// known. It does not compile policies; cmd/apimcp plugs in package policy's
// compiler when that is available.
type WellFormedValidator struct{}

var reFirstTag = regexp.MustCompile(`^\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--(?s:.*?)-->\s*)*<([A-Za-z][-A-Za-z0-9_.:]*)`)

// ValidatePolicy implements PolicyValidator.
func (WellFormedValidator) ValidatePolicy(doc PolicyDoc) []PolicyProblem {
	want := "policies"
	if doc.Scope == "fragment" {
		want = "fragment"
	}
	m := reFirstTag.FindStringSubmatch(doc.XML)
	if m == nil {
		return []PolicyProblem{{Line: 1, Col: 1, Message: fmt.Sprintf("document does not start with a <%s> element", want)}}
	}
	if m[1] != want {
		return []PolicyProblem{{Line: 1, Col: 1, Element: m[1], Message: fmt.Sprintf("root element is <%s>, want <%s>", m[1], want)}}
	}
	trimmed := strings.TrimSpace(doc.XML)
	if !strings.HasSuffix(trimmed, "</"+want+">") && !strings.HasSuffix(trimmed, "/>") {
		return []PolicyProblem{{Element: want, Message: fmt.Sprintf("document does not end with </%s>", want)}}
	}
	return nil
}
