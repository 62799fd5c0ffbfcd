package main

import (
	"errors"

	"github.com/apimgw/apimgw/controlplane"
	"github.com/apimgw/apimgw/policy"
)

// policyReaderValidator validates policy documents on write with package
// policy's tolerant reader (policy.Read: real APIM syntax, C# expressions,
// positions) plus controlplane's root-element check. It does not yet run the
// full compiler: see docs/controlplane.md, "Policy validation".
type policyReaderValidator struct{}

func (policyReaderValidator) ValidatePolicy(doc controlplane.PolicyDoc) []controlplane.PolicyProblem {
	if _, err := policy.Read(doc.Name, []byte(doc.XML)); err != nil {
		return problemsOf(err)
	}
	return controlplane.WellFormedValidator{}.ValidatePolicy(doc)
}

// problemsOf turns package policy's errors (each with file, position,
// element and reason) into controlplane problems.
func problemsOf(err error) []controlplane.PolicyProblem {
	var list policy.ErrorList
	if errors.As(err, &list) {
		out := make([]controlplane.PolicyProblem, 0, len(list))
		for _, e := range list {
			out = append(out, controlplane.PolicyProblem{Line: e.Pos.Line, Col: e.Pos.Col, Element: e.Element, Message: e.Msg})
		}
		return out
	}
	var pe *policy.Error
	if errors.As(err, &pe) {
		return []controlplane.PolicyProblem{{Line: pe.Pos.Line, Col: pe.Pos.Col, Element: pe.Element, Message: pe.Msg}}
	}
	return []controlplane.PolicyProblem{{Message: err.Error()}}
}
