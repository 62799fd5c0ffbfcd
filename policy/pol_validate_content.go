package policy

import (
	"bytes"
	"errors"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// validate-content checks the size and content of the request body
// (inbound) or the response body (outbound, on-error) as APIM does:
//
//   - max-size (bytes, required): a longer body gets size-exceeded-action
//     (required), error SizeLimit;
//   - the body's content type (media type of Content-Type, mapped by
//     <content-type-map>: a <type from|when to/> that matches, else
//     any-content-type-value, else missing-content-type-value for a body
//     without one) must be one the operation documents (its request's
//     representations, or those of the response's status code), or one a
//     <content schema-id> names: else unspecified-content-type-action
//     (required), error Unspecified;
//   - the <content> of that type (or the one without type, for any
//     documented type) validates the body with validate-as="json" against
//     the representation's schema (schemaId/typeName), or schema-id /
//     schema-ref, with allow-additional-properties and
//     case-insensitive-property-names overriding the schema; its action
//     (required) applies to IncorrectMessage, MissingDefinition and
//     ApiSchema errors.
//
// Actions are ignore / prevent / detect (expressions allowed). prevent
// stops: on-error runs with context.LastError.Source "validate-content",
// Reason "Bad request" (inbound) or "Response not allowed" (outbound) and
// Message the details; the client gets 400 (inbound) or 502 (outbound) with
// APIM's public message unless on-error changes it. errors-variable-name
// receives every problem found. validate-as="xml" and "soap" (XSD) are
// refused at compile time. An empty body without Content-Type is not
// checked.
func init() {
	register("validate-content", inInbound|inOutbound|inOnError, []string{"unspecified-content-type-action", "max-size", "size-exceeded-action", "errors-variable-name"}, compileValidateContent)
}

// maxContentSize bounds max-size: APIM's documented limit is 102,400 bytes
// (raised by Microsoft's support on request); this gateway allows up to the
// default body buffer, 4 MiB.
const maxContentSize = 4 << 20

type contentTypeMapping struct {
	from string // literal content type, or
	when prop   // a condition
	to   string
}

type contentRule struct {
	typ        string // media type, lower case; "" = every documented type
	action     prop
	schemaID   string
	schemaRef  string
	addl       int8 // allow-additional-properties: 0 unset, 1 true, -1 false
	ci         bool
	defaultSch bool // no schema-id: the representation's schema
}

type validateContent struct {
	unspecified, sizeAction prop
	maxSize                 int
	errorsVar               string
	target                  target
	anyType, missingType    string
	mappings                []contentTypeMapping
	rules                   []contentRule
}

func compileValidateContent(b *builder, n *Node) {
	b.noText(n)
	m := b.meta(n)
	s := &validateContent{
		unspecified: b.enumProp(n, "unspecified-content-type-action", true, "", validationActions...),
		sizeAction:  b.enumProp(n, "size-exceeded-action", true, "", validationActions...),
		maxSize:     int(b.attrInt(n, "max-size", true, 0, 0, maxContentSize)),
		errorsVar:   b.attrString(n, "errors-variable-name", false, ""),
		target:      b.target,
	}
	b.onlyChildren(n, "content-type-map", "content")
	maps, types := 0, map[string]bool{}
	for _, c := range n.Children {
		switch c.Name {
		case "content-type-map":
			if maps++; maps > 1 {
				b.errorf(c, ErrInvalid, "<content-type-map> is given twice")
			}
			b.checkAttrs(c, "any-content-type-value", "missing-content-type-value")
			b.noText(c)
			s.anyType = mediaTypeOnly(b.attrString(c, "any-content-type-value", false, ""))
			s.missingType = mediaTypeOnly(b.attrString(c, "missing-content-type-value", false, ""))
			b.onlyChildren(c, "type")
			for _, t := range c.Children {
				if t.Name != "type" {
					continue
				}
				b.checkAttrs(t, "from", "when", "to")
				b.noText(t)
				b.noChildren(t)
				mp := contentTypeMapping{to: mediaTypeOnly(b.attrString(t, "to", true, ""))}
				_, hasFrom := t.Attr("from")
				_, hasWhen := t.Attr("when")
				switch {
				case hasFrom == hasWhen:
					b.errorf(t, ErrInvalid, "exactly one of the attributes \"from\" and \"when\" is required")
				case hasFrom:
					mp.from = mediaTypeOnly(b.attrString(t, "from", true, ""))
				default:
					mp.when = b.attrProp(t, "when", true)
				}
				s.mappings = append(s.mappings, mp)
			}
		case "content":
			b.checkAttrs(c, "type", "validate-as", "schema-id", "schema-ref", "action", "allow-additional-properties", "case-insensitive-property-names")
			b.noText(c)
			b.noChildren(c)
			r := contentRule{
				typ:       mediaTypeOnly(b.attrString(c, "type", false, "")),
				action:    b.enumProp(c, "action", true, "", validationActions...),
				schemaID:  b.attrString(c, "schema-id", false, ""),
				schemaRef: b.attrString(c, "schema-ref", false, ""),
				ci:        b.attrBool(c, "case-insensitive-property-names", false),
			}
			r.defaultSch = r.schemaID == ""
			if _, ok := c.Attr("allow-additional-properties"); ok {
				if b.attrBool(c, "allow-additional-properties", false) {
					r.addl = 1
				} else {
					r.addl = -1
				}
			}
			switch as := b.attrString(c, "validate-as", true, ""); strings.ToLower(as) {
			case "json":
			case "xml", "soap":
				a, _ := c.Attr("validate-as")
				b.errorAt(c, a.ValuePos, ErrUnsupported, "attribute \"validate-as\": %q (validation against an XML schema, XSD) is not supported by apimgw: only JSON schemas are; use validate-as=\"json\" or remove this <content>", as)
			case "":
			default:
				a, _ := c.Attr("validate-as")
				b.errorAt(c, a.ValuePos, ErrInvalid, "attribute \"validate-as\": %q is not one of json, xml, soap", as)
			}
			if r.schemaRef != "" && r.schemaID == "" {
				b.errorf(c, ErrInvalid, "attribute \"schema-ref\" needs \"schema-id\": it points into that schema")
			}
			if r.schemaRef != "" && !strings.HasPrefix(r.schemaRef, "#") {
				b.errorf(c, ErrInvalid, "attribute \"schema-ref\": %q is not a local reference (#/…)", r.schemaRef)
			}
			if types[r.typ] {
				b.errorf(c, ErrInvalid, "two <content> elements have type %q", r.typ)
			}
			types[r.typ] = true
			s.rules = append(s.rules, r)
		}
	}
	b.readsBody(b.target)
	b.emit(instr{op: opStep, step: s, meta: m})
}

// anyStatus keys the schema of a <content type schema-id> for a status code
// the operation does not document.
const anyStatus = -1

// contentKey identifies the compiled schema of one <content> for one
// documented status code (0 for a request; anyStatus) and content type.
type contentKey struct {
	step   *validateContent
	rule   int
	status int
	ct     string
}

// SetContentSchemas gives p the schemas of its API and compiles, once, every
// schema its validate-content policies can need for its operation (the
// representations given with SetRequestParameters and SetResponseExamples,
// which must be set first). Call it before p is used.
func (p *Pipeline) SetContentSchemas(set *SchemaSet) {
	for s := Section(0); s < numSections; s++ {
		for _, in := range p.sections[s] {
			vc, ok := in.step.(*validateContent)
			if !ok {
				continue
			}
			if p.content == nil {
				p.content = map[contentKey]*compiled{}
			}
			vc.prepare(p, set)
		}
	}
}

// documented returns the documented representations for status (0: the
// request's).
func (s *validateContent) documented(p *Pipeline, status int) []ContentDef {
	if s.target == toRequest {
		if p.params == nil {
			return nil
		}
		return p.params.Representations
	}
	var out []ContentDef
	for _, e := range p.examples {
		if e.StatusCode == status && e.ContentType != "" {
			out = append(out, ContentDef{ContentType: e.ContentType, SchemaID: e.SchemaID, TypeName: e.TypeName})
		}
	}
	return out
}

func (s *validateContent) prepare(p *Pipeline, set *SchemaSet) {
	statuses := []int{0}
	if s.target != toRequest {
		statuses = statuses[:0]
		seen := map[int]bool{}
		for _, e := range p.examples {
			if !seen[e.StatusCode] {
				seen[e.StatusCode] = true
				statuses = append(statuses, e.StatusCode)
			}
		}
	}
	for i := range s.rules {
		r := &s.rules[i]
		if !r.defaultSch && r.typ != "" {
			// Its schema applies to any status code, documented or not.
			p.content[contentKey{s, i, anyStatus, r.typ}] = r.resolve(set, ContentDef{ContentType: r.typ})
		}
		for _, st := range statuses {
			defs := s.documented(p, st)
			cts := map[string]ContentDef{}
			for _, d := range defs {
				if ct := mediaTypeOnly(d.ContentType); r.typ == "" || r.typ == ct {
					cts[ct] = d
				}
			}
			if r.typ != "" {
				if _, ok := cts[r.typ]; !ok {
					cts[r.typ] = ContentDef{ContentType: r.typ}
				}
			}
			for ct, d := range cts {
				p.content[contentKey{s, i, st, ct}] = r.resolve(set, d)
			}
		}
	}
}

// resolve compiles the schema rule r validates representation d with.
func (r *contentRule) resolve(set *SchemaSet, d ContentDef) *compiled {
	id, ref, name, global := r.schemaID, r.schemaRef, r.schemaRef, true
	switch {
	case id == "":
		if d.SchemaID == "" {
			return &compiled{err: "API's schema does not specify definitions."}
		}
		id, name, global = d.SchemaID, d.TypeName, false
		if d.TypeName != "" {
			ref = typeRef(set.contentTypeOf(id, false), d.TypeName)
		}
	case ref == "" && d.TypeName != "" && strings.EqualFold(d.SchemaID, id) && !set.isGlobal(id):
		ref, name = typeRef(set.contentTypeOf(id, false), d.TypeName), d.TypeName
	}
	if name == "" {
		name = id
	}
	return set.compile(id, global, ref, name, r.addl, r.ci)
}

func (s *SchemaSet) contentTypeOf(id string, global bool) string {
	if d, ok := s.lookup(id, global); ok {
		return d.contentType
	}
	return ""
}

func (s *SchemaSet) isGlobal(id string) bool {
	if s == nil {
		return false
	}
	_, ok := s.global[strings.ToLower(id)]
	return ok
}

// maxContentErrors bounds the problems one body reports.
const maxContentErrors = 10

const internalErrorMessage = "The request could not be processed due to an internal error. Contact the API owner."

func (s *validateContent) run(c *Context) (flow, error) {
	var body []byte
	var hs *Headers
	status, what, kind := 0, "request", "RequestBody"
	if s.target == toRequest {
		body, hs = c.Request.Body, &c.Request.Headers
	} else {
		body, hs = c.Response.Body, &c.Response.Headers
		status, what, kind = c.Response.StatusCode, "response", "ResponseBody"
	}
	var errs []validationError
	var fail *validationFailure
	report := func(e validationError, public string) {
		errs = append(errs, e)
		if e.action == "prevent" && fail == nil {
			fail = s.failure(e.details, public)
		}
	}
	done := func() (flow, error) {
		if err := setValidationErrors(c, s.errorsVar, errs); err != nil {
			return flowNext, err
		}
		traceValidation(c, "validate-content", errs)
		if fail != nil {
			return flowNext, fail
		}
		return flowNext, nil
	}

	if len(body) > s.maxSize {
		act, err := enumValue(c, &s.sizeAction, "size-exceeded-action", validationActions...)
		if err != nil {
			return flowNext, err
		}
		if act != "ignore" {
			n, max := strconv.Itoa(len(body)), strconv.Itoa(s.maxSize)
			title := strings.ToUpper(what[:1]) + what[1:]
			report(validationError{typ: kind, rule: "SizeLimit", action: act,
				details: title + "'s body is " + n + " bytes long and it exceeds the configured limit of " + max + " bytes."},
				title+"'s body is "+n+" bytes long and it exceeds the limit of "+max+" bytes.")
			if fail != nil {
				return done()
			}
		}
	}

	raw, hasCT := hs.Get("Content-Type")
	if len(body) == 0 && !hasCT {
		return done()
	}
	ct, err := s.mapType(c, mediaTypeOnly(raw))
	if err != nil {
		return flowNext, err
	}
	documented := false
	for _, d := range s.documented(c.pipe, status) {
		if mediaTypeOnly(d.ContentType) == ct {
			documented = true
		}
	}
	rule := -1
	for i := range s.rules {
		r := &s.rules[i]
		if r.typ == ct && (documented || !r.defaultSch) {
			rule = i
			break
		}
		if r.typ == "" && documented && rule < 0 {
			rule = i
		}
	}
	if !documented && rule < 0 {
		act, err := enumValue(c, &s.unspecified, "unspecified-content-type-action", validationActions...)
		if err != nil {
			return flowNext, err
		}
		if act != "ignore" {
			d := "Unspecified content type " + ct + " is not allowed."
			report(validationError{name: ct, typ: kind, rule: "Unspecified", action: act, details: d}, d)
		}
		return done()
	}
	if rule < 0 {
		return done()
	}
	r := &s.rules[rule]
	act, err := enumValue(c, &r.action, "action", validationActions...)
	if err != nil {
		return flowNext, err
	}
	if act == "ignore" {
		return done()
	}
	cs, ok := c.pipe.content[contentKey{s, rule, status, ct}]
	if !ok {
		cs = c.pipe.content[contentKey{s, rule, anyStatus, ct}]
	}
	switch {
	case cs == nil:
		report(validationError{typ: "ApiSchema", action: act, details: "API's schema does not exist or it could not be resolved."}, internalErrorMessage)
		return done()
	case cs.missing:
		report(validationError{name: ct, typ: kind, rule: "MissingDefinition", action: act,
			details: "API's schema does not contain definition " + cs.name + ", which is associated with the content type " + ct + "."}, internalErrorMessage)
		return done()
	case cs.sch == nil:
		report(validationError{typ: "ApiSchema", action: act, details: cs.err}, internalErrorMessage)
		return done()
	}
	if err := c.charge(len(body)); err != nil {
		return flowNext, err
	}
	lead := "Body of the " + what + " does not conform to the definition " + cs.name + ", which is associated with the content type " + ct + ". "
	inst, perr := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if perr != nil {
		d := lead + "The body is not valid JSON: " + perr.Error()
		report(validationError{name: ct, typ: kind, rule: "IncorrectMessage", action: act, details: d}, d)
		return done()
	}
	if r.ci {
		inst = lowerKeys(inst)
	}
	verr := cs.sch.Validate(inst)
	if verr == nil {
		return done()
	}
	var ve *jsonschema.ValidationError
	if !errors.As(verr, &ve) {
		d := "Body of the " + what + " cannot be validated for the content type " + ct + ". " + verr.Error()
		report(validationError{typ: kind, rule: "ValidationException", action: act, details: d}, internalErrorMessage)
		return done()
	}
	n := 0
	for _, u := range ve.BasicOutput().Errors {
		if u.Error == nil || n >= maxContentErrors {
			continue
		}
		n++
		loc := u.InstanceLocation
		if loc == "" {
			loc = "/"
		}
		d := lead + u.Error.String() + " Path: " + loc
		report(validationError{name: ct, typ: kind, rule: "IncorrectMessage", action: act, details: d}, d)
	}
	if n == 0 {
		d := lead + ve.Error()
		report(validationError{name: ct, typ: kind, rule: "IncorrectMessage", action: act, details: d}, d)
	}
	return done()
}

// mapType applies <content-type-map> to the body's media type.
func (s *validateContent) mapType(c *Context, ct string) (string, error) {
	for i := range s.mappings {
		m := &s.mappings[i]
		if m.from != "" {
			if m.from == ct {
				return m.to, nil
			}
			continue
		}
		ok, err := m.when.boolean(c)
		if err != nil {
			return "", err
		}
		if ok {
			return m.to, nil
		}
	}
	if s.anyType != "" {
		return s.anyType, nil
	}
	if ct == "" && s.missingType != "" {
		return s.missingType, nil
	}
	return ct, nil
}

// failure is prevent's refusal: 400 for a request, 502 for a response (the
// client sees public, APIM's public response; context.LastError.Message
// has the details).
func (s *validateContent) failure(details, public string) *validationFailure {
	if s.target == toRequest {
		return &validationFailure{status: 400, reason: reasonBadRequest, message: details, public: public}
	}
	return &validationFailure{status: 502, reason: reasonResponseNotAllowed, message: details, public: internalErrorMessage}
}
