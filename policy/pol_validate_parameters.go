package policy

import (
	"strconv"
	"strings"
)

// validate-parameters checks the request's path, query and header
// parameters against the operation's documented ones (its URL template
// parameters and ARM properties.request, carried in the snapshot): a
// documented parameter must be there when required, of its type (integer,
// number, boolean) and one of its values when it lists them —
// specified-parameter-action applies; a query parameter or header the request
// has but the operation does not document gets unspecified-parameter-action.
// <headers>, <query> and <path> override both actions for their kind (path
// has only specified-parameter-action), and their <parameter name action/>
// for one parameter. Actions are ignore / prevent / detect, expressions
// allowed. prevent stops: on-error runs with context.LastError.Source
// "validate-parameters", Reason "Bad request" (APIM's validation error
// reference) and the client gets 400 with the first problem's details. errors-variable-name receives every problem found.
func init() {
	register("validate-parameters", inInbound, []string{"specified-parameter-action", "unspecified-parameter-action", "errors-variable-name"}, compileValidateParameters)
}

// RequestParams are an operation's documented request parameters.
type RequestParams struct {
	Path    []HeaderDef // URL template parameters
	Query   []HeaderDef // query parameters outside the template
	Headers []HeaderDef
	// Representations are the request's documented content types and
	// schemas (validate-content).
	Representations []ContentDef
}

// SetRequestParameters gives p the documented parameters of its operation
// (for validate-parameters). Call it before p is used; p keeps rp.
func (p *Pipeline) SetRequestParameters(rp *RequestParams) { p.params = rp }

type paramKind struct {
	specified, unspecified prop
	overrides              map[string]prop
}

type validateParameters struct {
	kinds     [3]paramKind // headers, query, path
	errorsVar string
}

var paramKindNames = [3]string{"headers", "query", "path"}

func compileValidateParameters(b *builder, n *Node) {
	b.noText(n)
	m := b.meta(n)
	spec := b.enumProp(n, "specified-parameter-action", true, "", validationActions...)
	unspec := b.enumProp(n, "unspecified-parameter-action", true, "", validationActions...)
	s := &validateParameters{errorsVar: b.attrString(n, "errors-variable-name", false, "")}
	for i := range s.kinds {
		s.kinds[i] = paramKind{specified: spec, unspecified: unspec, overrides: map[string]prop{}}
	}
	b.onlyChildren(n, paramKindNames[:]...)
	seen := map[string]bool{}
	for _, c := range n.Children {
		k := -1
		for i, name := range paramKindNames {
			if c.Name == name {
				k = i
			}
		}
		if k < 0 {
			continue
		}
		if seen[c.Name] {
			b.errorf(c, ErrInvalid, "<%s> is given twice", c.Name)
		}
		seen[c.Name] = true
		b.noText(c)
		if c.Name == "path" {
			b.checkAttrs(c, "specified-parameter-action")
		} else {
			b.checkAttrs(c, "specified-parameter-action", "unspecified-parameter-action")
			if _, ok := c.Attr("unspecified-parameter-action"); ok {
				s.kinds[k].unspecified = b.enumProp(c, "unspecified-parameter-action", false, "", validationActions...)
			}
		}
		if _, ok := c.Attr("specified-parameter-action"); ok {
			s.kinds[k].specified = b.enumProp(c, "specified-parameter-action", false, "", validationActions...)
		}
		b.onlyChildren(c, "parameter")
		for _, pn := range c.Children {
			if pn.Name != "parameter" {
				continue
			}
			b.checkAttrs(pn, "name", "action")
			b.noText(pn)
			b.noChildren(pn)
			name := b.attrString(pn, "name", true, "")
			if c.Name == "headers" {
				name = strings.ToLower(name)
			}
			if _, dup := s.kinds[k].overrides[name]; dup && name != "" {
				b.errorf(pn, ErrInvalid, "parameter %q has two overrides in <%s>", name, c.Name)
			}
			s.kinds[k].overrides[name] = b.enumProp(pn, "action", true, "", validationActions...)
		}
	}
	b.emit(instr{op: opStep, step: s, meta: m})
}

func (k *paramKind) action(c *Context, name string, def *prop, fold bool) (string, error) {
	if fold {
		name = strings.ToLower(name)
	}
	p := def
	if o, ok := k.overrides[name]; ok {
		p = &o
	}
	return enumValue(c, p, "action", validationActions...)
}

func (s *validateParameters) run(c *Context) (flow, error) {
	rp := c.pipe.params
	if rp == nil {
		rp = &RequestParams{}
	}
	var errs []validationError
	var stop *validationFailure
	add := func(e validationError) {
		errs = append(errs, e)
		if e.action == "prevent" && stop == nil {
			stop = &validationFailure{status: 400, reason: reasonBadRequest, message: e.details}
		}
	}
	type source struct {
		kind   int
		label  string // "header", "query parameter", "path parameter"
		defs   []HeaderDef
		get    func(name string) (string, bool)
		fold   bool
		others func(yield func(name string))
	}
	queryDefs := append(append([]HeaderDef(nil), rp.Query...), rp.Path...)
	sources := []source{
		{kind: 0, label: "header", defs: rp.Headers, fold: true,
			get: func(n string) (string, bool) { return c.Request.Headers.Joined(n) },
			others: func(yield func(string)) {
				for _, h := range c.Request.Headers.List {
					yield(h.Name)
				}
			}},
		{kind: 1, label: "query parameter", defs: rp.Query,
			get: func(n string) (string, bool) { return c.Request.Query.Get(n) },
			others: func(yield func(string)) {
				for _, q := range c.Request.Query.List {
					yield(q.Name)
				}
			}},
		{kind: 2, label: "path parameter", defs: rp.Path,
			get: func(n string) (string, bool) { return c.Request.MatchedParameters.Get(n) }},
	}
	for _, src := range sources {
		k := &s.kinds[src.kind]
		typ := [...]string{"RequestHeader", "QueryParameter", "PathParameter"}[src.kind] // APIM's Type names
		for _, d := range src.defs {
			act, err := k.action(c, d.Name, &k.specified, src.fold)
			if err != nil {
				return flowNext, err
			}
			if act == "ignore" {
				continue
			}
			v, ok := src.get(d.Name)
			if !ok {
				if d.Required {
					add(validationError{name: d.Name, typ: typ, rule: "Required", action: act,
						details: "Request " + src.label + " " + d.Name + " is required by the API schema but missing."})
				}
				continue
			}
			if why := headerValueProblem(d, v); why != "" {
				add(validationError{name: d.Name, typ: typ, rule: "IncorrectMessage", action: act,
					details: "Value of the " + src.label + " " + d.Name + " does not conform to the definition.\n\n" + strconv.Quote(v) + ": " + headerRuleText(d, why) + "."})
			}
		}
		if src.others == nil {
			continue
		}
		documented := src.defs
		if src.kind == 1 {
			documented = queryDefs
		}
		seen := map[string]bool{}
		var ferr error
		src.others(func(name string) {
			key := name
			if src.fold {
				key = strings.ToLower(name)
			}
			if seen[key] || ferr != nil {
				return
			}
			seen[key] = true
			for _, d := range documented {
				if d.Name == name || src.fold && strings.EqualFold(d.Name, name) {
					return
				}
			}
			act, err := k.action(c, name, &k.unspecified, src.fold)
			if err != nil {
				ferr = err
				return
			}
			if act == "ignore" {
				return
			}
			add(validationError{name: name, typ: typ, rule: "Unspecified", action: act,
				details: "Unspecified " + src.label + " " + name + " is not allowed."})
		})
		if ferr != nil {
			return flowNext, ferr
		}
	}
	if err := setValidationErrors(c, s.errorsVar, errs); err != nil {
		return flowNext, err
	}
	traceValidation(c, "validate-parameters", errs)
	if stop != nil {
		return flowNext, stop
	}
	return flowNext, nil
}
