package importer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Step is one management-API write of an import plan.
type Step struct {
	Method string // PUT
	Path   string // relative to the service root, e.g. /apis/echo
	Body   any    // JSON body; nil for none
	Source string // the file it came from, for messages
}

// Plan is an ordered list of writes: referenced resources come before those
// that reference them. Applying it twice leaves the same state (every step
// is a PUT of the same content).
type Plan struct {
	Steps    []Step
	Warnings []string
}

func (p *Plan) warn(format string, args ...any) {
	p.Warnings = append(p.Warnings, fmt.Sprintf(format, args...))
}

type props = map[string]any

// readInfo reads {"properties":{…}} from path (properties may be absent).
func readInfo(path string) (props, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var env struct {
		Properties props `json:"properties"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrAPIOps, path, err)
	}
	if env.Properties == nil {
		env.Properties = props{}
	}
	return env.Properties, nil
}

func subdirs(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func readPolicy(path string) (string, bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return string(b), true, nil
}

func policyBody(xml string) any {
	return props{"properties": props{"format": "rawxml", "value": xml}}
}

var reIncludeFragment = regexp.MustCompile(`fragment-id\s*=\s*"([^"]*)"`)

// ReadAPIOps reads a folder as Azure's APIOps extractor writes it and returns
// the writes that recreate it. Unsupported parts (SOAP/GraphQL APIs, non-
// current revisions, WADL/WSDL specifications, diagnostics, loggers, tags,
// version sets, secret named values without a value) are skipped with a
// warning each.
func ReadAPIOps(dir string) (*Plan, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrAPIOps, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%w: %s is not a directory", ErrAPIOps, dir)
	}
	plan := &Plan{}
	add := func(path string, body any, src string) {
		plan.Steps = append(plan.Steps, Step{Method: "PUT", Path: path, Body: body, Source: src})
	}
	for _, skip := range []string{"diagnostics", "loggers", "tags", "version sets", "groups", "identity providers", "authorization servers", "certificates", "workspaces"} {
		if exists(filepath.Join(dir, skip)) {
			plan.warn("%s/: not imported (apimgw has no %s)", skip, skip)
		}
	}

	// Named values.
	nvs, err := subdirs(filepath.Join(dir, "named values"))
	if err != nil {
		return nil, err
	}
	for _, name := range nvs {
		f := filepath.Join(dir, "named values", name, "namedValueInformation.json")
		p, err := readInfo(f)
		if err != nil {
			return nil, err
		}
		if _, ok := p["keyVault"]; ok || p["value"] == nil {
			plan.warn("%s: named value %q has no value in the folder (secret or Key Vault); create it with apimctl namedvalue create %s --value … --secret", f, name, name)
			continue
		}
		add("/namedValues/"+name, props{"properties": pick(p, "displayName", "value", "secret", "tags")}, f)
	}

	// Backends.
	bes, err := subdirs(filepath.Join(dir, "backends"))
	if err != nil {
		return nil, err
	}
	for _, name := range bes {
		f := filepath.Join(dir, "backends", name, "backendInformation.json")
		p, err := readInfo(f)
		if err != nil {
			return nil, err
		}
		add("/backends/"+name, props{"properties": pick(p, "url", "protocol", "title", "description")}, f)
	}

	// Policy fragments, included ones first.
	frs, err := subdirs(filepath.Join(dir, "policy fragments"))
	if err != nil {
		return nil, err
	}
	fragXML := map[string]string{}
	fragDesc := map[string]any{}
	for _, name := range frs {
		base := filepath.Join(dir, "policy fragments", name)
		xml, ok, err := readPolicy(filepath.Join(base, "policy.xml"))
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("%w: %s: policy.xml is missing", ErrAPIOps, base)
		}
		fragXML[name] = xml
		if exists(filepath.Join(base, "policyFragmentInformation.json")) {
			p, err := readInfo(filepath.Join(base, "policyFragmentInformation.json"))
			if err != nil {
				return nil, err
			}
			fragDesc[name] = p["description"]
		}
	}
	done := map[string]bool{}
	var visit func(name string, stack []string) error
	visit = func(name string, stack []string) error {
		if done[name] {
			return nil
		}
		for _, s := range stack {
			if s == name {
				return fmt.Errorf("%w: policy fragments include each other: %s", ErrAPIOps, strings.Join(append(stack, name), " → "))
			}
		}
		for _, m := range reIncludeFragment.FindAllStringSubmatch(fragXML[name], -1) {
			if _, ok := fragXML[m[1]]; ok {
				if err := visit(m[1], append(stack, name)); err != nil {
					return err
				}
			}
		}
		done[name] = true
		body := props{"format": "rawxml", "value": fragXML[name]}
		if d, ok := fragDesc[name].(string); ok && d != "" {
			body["description"] = d
		}
		add("/policyFragments/"+name, props{"properties": body}, filepath.Join(dir, "policy fragments", name, "policy.xml"))
		return nil
	}
	for _, name := range frs {
		if err := visit(name, nil); err != nil {
			return nil, err
		}
	}

	// APIs and operations.
	apis, err := subdirs(filepath.Join(dir, "apis"))
	if err != nil {
		return nil, err
	}
	imported := map[string]bool{}
	var policySteps []Step
	for _, name := range apis {
		base := filepath.Join(dir, "apis", name)
		if strings.Contains(name, ";rev=") {
			plan.warn("%s: not imported: a non-current revision (gateways serve the current revision only)", base)
			continue
		}
		infoFile := filepath.Join(base, "apiInformation.json")
		p, err := readInfo(infoFile)
		if err != nil {
			return nil, err
		}
		if t := strings.ToLower(str(p["type"])); t != "" && t != "http" {
			plan.warn("%s: API %q of type %s not imported (apimgw gateways serve HTTP APIs)", infoFile, name, t)
			continue
		}
		if c, ok := p["isCurrent"].(bool); ok && !c {
			plan.warn("%s: not imported: not the current revision", infoFile)
			continue
		}
		imported[name] = true
		add("/apis/"+name, props{"properties": pick(p, "displayName", "description", "path", "serviceUrl", "protocols",
			"subscriptionRequired", "subscriptionKeyParameterNames", "apiVersion", "apiRevision")}, infoFile)
		var spec string
		for _, s := range []string{"specification.yaml", "specification.yml", "specification.json"} {
			if exists(filepath.Join(base, s)) {
				spec = filepath.Join(base, s)
				break
			}
		}
		opIDs := map[string]bool{}
		if spec == "" {
			others, _ := filepath.Glob(filepath.Join(base, "specification.*"))
			if len(others) > 0 {
				plan.warn("%s: not an OpenAPI specification; API %q is created without operations", others[0], name)
			} else {
				plan.warn("%s: no specification; API %q is created without operations", base, name)
			}
		} else {
			data, err := os.ReadFile(spec)
			if err != nil {
				return nil, err
			}
			api, err := ParseOpenAPI(spec, data)
			if err != nil {
				return nil, err
			}
			for _, w := range api.Warnings {
				if !strings.Contains(w, "service URL") { // APIOps servers are the APIM gateway's URL, not the backend
					plan.warn("%s", w)
				}
			}
			if api.Schema != nil {
				add("/apis/"+name+"/schemas/"+api.Schema.ID, SchemaBody(api.Schema), spec)
			}
			for _, op := range api.Operations {
				opIDs[op.ID] = true
				add("/apis/"+name+"/operations/"+op.ID, OperationBody(op), spec)
			}
		}
		if xml, ok, err := readPolicy(filepath.Join(base, "policy.xml")); err != nil {
			return nil, err
		} else if ok {
			policySteps = append(policySteps, Step{Method: "PUT", Path: "/apis/" + name + "/policies/policy", Body: policyBody(xml), Source: filepath.Join(base, "policy.xml")})
		}
		ops, err := subdirs(filepath.Join(base, "operations"))
		if err != nil {
			return nil, err
		}
		for _, op := range ops {
			f := filepath.Join(base, "operations", op, "policy.xml")
			xml, ok, err := readPolicy(f)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
			if !opIDs[op] {
				plan.warn("%s: operation %q is not in the API's specification; policy not imported", f, op)
				continue
			}
			policySteps = append(policySteps, Step{Method: "PUT", Path: "/apis/" + name + "/operations/" + op + "/policies/policy", Body: policyBody(xml), Source: f})
		}
		if exists(filepath.Join(base, "diagnostics")) {
			plan.warn("%s/diagnostics: not imported", base)
		}
	}

	// Global policy, then API and operation policies (fragments and named values exist by now).
	if xml, ok, err := readPolicy(filepath.Join(dir, "policy.xml")); err != nil {
		return nil, err
	} else if ok {
		add("/policies/policy", policyBody(xml), filepath.Join(dir, "policy.xml"))
	}
	plan.Steps = append(plan.Steps, policySteps...)

	// Products, their policies and APIs.
	products, err := subdirs(filepath.Join(dir, "products"))
	if err != nil {
		return nil, err
	}
	importedProducts := map[string]bool{}
	for _, name := range products {
		base := filepath.Join(dir, "products", name)
		p, err := readInfo(filepath.Join(base, "productInformation.json"))
		if err != nil {
			return nil, err
		}
		importedProducts[name] = true
		add("/products/"+name, props{"properties": pick(p, "displayName", "description", "terms", "subscriptionRequired",
			"approvalRequired", "subscriptionsLimit", "state")}, filepath.Join(base, "productInformation.json"))
		if xml, ok, err := readPolicy(filepath.Join(base, "policy.xml")); err != nil {
			return nil, err
		} else if ok {
			add("/products/"+name+"/policies/policy", policyBody(xml), filepath.Join(base, "policy.xml"))
		}
		linked, err := linkedNames(base, "apis")
		if err != nil {
			return nil, err
		}
		for _, a := range linked {
			if !imported[a] {
				plan.warn("%s: link to API %q not imported (the API was not imported)", base, a)
				continue
			}
			add("/products/"+name+"/apis/"+a, nil, base)
		}
	}

	// Gateways and their APIs.
	gws, err := subdirs(filepath.Join(dir, "gateways"))
	if err != nil {
		return nil, err
	}
	for _, name := range gws {
		base := filepath.Join(dir, "gateways", name)
		var body any
		if exists(filepath.Join(base, "gatewayInformation.json")) {
			p, err := readInfo(filepath.Join(base, "gatewayInformation.json"))
			if err != nil {
				return nil, err
			}
			body = props{"properties": pick(p, "locationData", "description")}
		}
		add("/gateways/"+name, body, base)
		linked, err := linkedNames(base, "apis")
		if err != nil {
			return nil, err
		}
		for _, a := range linked {
			if !imported[a] {
				plan.warn("%s: assignment of API %q not imported (the API was not imported)", base, a)
				continue
			}
			add("/gateways/"+name+"/apis/"+a, nil, base)
		}
	}

	// Subscriptions last: their scopes must exist.
	subs, err := subdirs(filepath.Join(dir, "subscriptions"))
	if err != nil {
		return nil, err
	}
	for _, name := range subs {
		f := filepath.Join(dir, "subscriptions", name, "subscriptionInformation.json")
		p, err := readInfo(f)
		if err != nil {
			return nil, err
		}
		scope := str(p["scope"])
		if i := strings.Index(scope, "/apis/"); i >= 0 && !imported[strings.Trim(scope[i+len("/apis/"):], "/")] {
			plan.warn("%s: subscription %q not imported: its API was not imported", f, name)
			continue
		}
		if i := strings.Index(scope, "/products/"); i >= 0 && !importedProducts[strings.Trim(scope[i+len("/products/"):], "/")] {
			plan.warn("%s: subscription %q not imported: its product was not imported", f, name)
			continue
		}
		add("/subscriptions/"+name, props{"properties": pick(p, "displayName", "scope", "state", "allowTracing", "primaryKey", "secondaryKey")}, f)
	}
	return plan, nil
}

// linkedNames lists the APIs linked from a product or gateway folder:
// either apis.json (["a", …] or [{"name":"a"}, …]) or apis/<name>/ folders.
func linkedNames(base, kind string) ([]string, error) {
	var out []string
	if b, err := os.ReadFile(filepath.Join(base, kind+".json")); err == nil {
		var raw []any
		if err := json.Unmarshal(b, &raw); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrAPIOps, filepath.Join(base, kind+".json"), err)
		}
		for _, r := range raw {
			switch v := r.(type) {
			case string:
				out = append(out, v)
			case map[string]any:
				if n := str(v["name"]); n != "" {
					out = append(out, n)
				}
			}
		}
	}
	dirs, err := subdirs(filepath.Join(base, kind))
	if err != nil {
		return nil, err
	}
	out = append(out, dirs...)
	sort.Strings(out)
	var uniq []string
	for i, n := range out {
		if i == 0 || out[i-1] != n {
			uniq = append(uniq, n)
		}
	}
	return uniq, nil
}

// pick copies the named keys that are present.
func pick(p props, keys ...string) props {
	out := props{}
	for _, k := range keys {
		if v, ok := p[k]; ok {
			out[k] = v
		}
	}
	return out
}

// OperationBody is the ARM body that creates op.
func OperationBody(op Operation) any {
	tps := op.TemplateParameters
	if tps == nil {
		tps = []TemplateParameter{}
	}
	p := props{"displayName": op.DisplayName, "method": op.Method, "urlTemplate": op.URLTemplate, "templateParameters": tps}
	if op.Description != "" {
		p["description"] = op.Description
	}
	if len(op.Responses) > 0 {
		p["responses"] = op.Responses
	}
	if op.Request != nil {
		p["request"] = op.Request
	}
	return props{"properties": p}
}
