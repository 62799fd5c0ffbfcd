package main

import (
	"errors"

	"github.com/apimgw/apimgw/controlplane"
	"github.com/apimgw/apimgw/policy"
)

// compilerValidator validates policy documents on write with package
// policy's compiler, the same one gateways run: a document the gateway could
// not compile (unknown or unsupported element, bad attribute, expression
// outside the supported language, undefined named value or fragment) is
// refused with its position, element and reason.
type compilerValidator struct{}

var scopes = map[string]policy.Scope{"global": policy.ScopeGlobal, "product": policy.ScopeProduct,
	"api": policy.ScopeAPI, "operation": policy.ScopeOperation}

func (compilerValidator) ValidatePolicy(doc controlplane.PolicyDoc) []controlplane.PolicyProblem {
	opts := policy.Options{NamedValues: map[string]policy.NamedValue{}, Fragments: map[string]policy.Source{}, Backends: doc.Backends}
	for name, v := range doc.NamedValues {
		opts.NamedValues[name] = policy.NamedValue{Value: v, Secret: doc.Secret[name]}
	}
	for id, xml := range doc.Fragments {
		opts.Fragments[id] = policy.Source{Name: "/policyFragments/" + id, XML: []byte(xml)}
	}
	cp := policy.NewCompiler(opts)
	src := policy.Source{Name: doc.Name, XML: []byte(doc.XML)}
	var err error
	if doc.Scope == "fragment" {
		err = cp.CheckFragment(src)
	} else {
		_, err = cp.Compile(scopes[doc.Scope], src)
	}
	if err != nil {
		return problemsOf(err)
	}
	return nil
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
