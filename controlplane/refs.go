package controlplane

import (
	"regexp"
	"strings"
)

// References a policy document makes to other resources. Found by scanning
// the raw text (policies are not strict XML, see package policy): precise
// enough for reference integrity, and it never executes anything.
var (
	reNamedValue = regexp.MustCompile(`\{\{([A-Za-z0-9._-]+)\}\}`)
	reFragment   = regexp.MustCompile(`<include-fragment\b[^>]*?\bfragment-id\s*=\s*"([^"]*)"`)
	reBackend    = regexp.MustCompile(`<set-backend-service\b[^>]*?\bbackend-id\s*=\s*"([^"]*)"`)
	reSchemaID   = regexp.MustCompile(`<content\b[^>]*?\bschema-id\s*=\s*"([^"]*)"`)
)

type policyRefs struct {
	namedValues []string // as written in {{…}}
	fragments   []string
	backends    []string
	schemas     []string // validate-content schema-id
}

// scanRefs lists what xml references. Backend ids that are expressions
// (@(…)) or templates are skipped: they can only be checked at run time.
func scanRefs(xml string) policyRefs {
	var r policyRefs
	for _, m := range reNamedValue.FindAllStringSubmatch(xml, -1) {
		r.namedValues = append(r.namedValues, m[1])
	}
	for _, m := range reFragment.FindAllStringSubmatch(xml, -1) {
		r.fragments = append(r.fragments, m[1])
	}
	for _, m := range reSchemaID.FindAllStringSubmatch(xml, -1) {
		r.schemas = append(r.schemas, m[1])
	}
	for _, m := range reBackend.FindAllStringSubmatch(xml, -1) {
		if !strings.HasPrefix(m[1], "@") && !strings.Contains(m[1], "{{") {
			r.backends = append(r.backends, m[1])
		}
	}
	return r
}

// findNamedValue resolves a {{name}} to a named value id: by display name
// (case-insensitive, as APIM does), else by id.
func (m *model) findNamedValue(name string) (string, bool) {
	for id, e := range m.namedValues {
		if strings.EqualFold(e.Props.DisplayName, name) {
			return id, true
		}
	}
	if _, ok := m.namedValues[name]; ok {
		return name, true
	}
	return "", false
}

// policyTexts calls fn for every policy document and fragment in the model,
// with a name for messages ("/apis/a/policies/policy", "/policyFragments/f").
func (m *model) policyTexts(fn func(where, xml string)) {
	for k, e := range m.policies {
		fn(policyPath(k), e.Props.Value)
	}
	for k, e := range m.fragments {
		fn("/policyFragments/"+k, e.Props.Value)
	}
}

// policyPath turns a policies-table key into its resource path.
func policyPath(key string) string {
	switch {
	case key == policyGlobal:
		return "/policies/policy"
	case strings.HasPrefix(key, "product/"):
		return "/products/" + key[len("product/"):] + "/policies/policy"
	case strings.HasPrefix(key, "api/"):
		return "/apis/" + key[len("api/"):] + "/policies/policy"
	case strings.HasPrefix(key, "op/"):
		a, o, _ := strings.Cut(key[len("op/"):], "/")
		return "/apis/" + a + "/operations/" + o + "/policies/policy"
	}
	return key
}

// referrers lists, sorted, the policies and fragments that reference
// something matched by match.
func (m *model) referrers(match func(r policyRefs) bool) []string {
	var out []string
	m.policyTexts(func(where, xml string) {
		if match(scanRefs(xml)) {
			out = append(out, where)
		}
	})
	sortStrings(out)
	return out
}
