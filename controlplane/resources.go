package controlplane

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/apimgw/apimgw/wire"
	"github.com/apimgw/apimgw/wire/urltemplate"
)

// kind describes one type of resource: where it is kept, how a write is
// validated and normalized, what a delete must do to dependants, and how
// it is shown.
type kind[T any] struct {
	name    string // for messages: "API", "operation", …
	bucket  string
	armType string
	table   func(m *model) table[T]
	// newProps returns the defaults a PUT starts from.
	newProps func() *T
	// parent fails with 404 when the resource's parent does not exist.
	parent func(m *model, key string) error
	// check validates and normalizes props in place; old is nil on create.
	check func(t *txn, key string, old, props *T) error
	// remove deletes dependants of key or refuses (409); key itself is
	// deleted by the caller.
	remove func(t *txn, key string, q url.Values) error
	// render returns the properties a GET shows (secrets removed).
	render func(key string, props *T) any
}

func set[T any](t *txn, tb table[T], bucket, key string, e entry[T]) {
	tb[key] = e
	t.touch(bucket, key)
}

func del[T any](t *txn, tb table[T], bucket, key string) {
	if _, ok := tb[key]; ok {
		delete(tb, key)
		t.touch(bucket, key)
	}
}

// errors from decoding a body name the JSON field when they can.
func bodyError(err error) *APIError {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return invalidField("properties."+te.Field, "must be a JSON %s, not %s", te.Type.String(), te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return validation(fmt.Sprintf("The request body is not valid JSON: %v (at byte %d)", err, se.Offset))
	}
	return validation("The request body is not valid: " + err.Error())
}

// decodeProperties reads {"properties":{…}} from body into props.
func decodeProperties(body []byte, props any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	var env struct {
		Properties json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return bodyError(err)
	}
	if len(env.Properties) == 0 || string(env.Properties) == "null" {
		return nil
	}
	if err := json.Unmarshal(env.Properties, props); err != nil {
		return bodyError(err)
	}
	return nil
}

func checkIfMatch(ifMatch string, exists bool, etag string) error {
	if ifMatch == "" {
		return nil
	}
	if !exists {
		return &APIError{Kind: ErrPrecondition, Code: "PreconditionFailed", Message: "If-Match was given but the resource does not exist"}
	}
	if ifMatch == "*" {
		return nil
	}
	for _, t := range strings.Split(ifMatch, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || `"`+t+`"` == etag {
			return nil
		}
	}
	return &APIError{Kind: ErrPrecondition, Code: "PreconditionFailed", Message: "The resource was changed since it was read (If-Match " + ifMatch + " does not match ETag " + etag + ")"}
}

// put creates or replaces (patch=false) or updates (patch=true) key from an
// ARM body. It returns the stored entry and whether it was created.
func (k *kind[T]) put(s *Store, key string, body []byte, patch bool, ifMatch string) (entry[T], bool, error) {
	var out entry[T]
	var created bool
	err := s.update(func(t *txn) error {
		if k.parent != nil {
			if err := k.parent(t.m, key); err != nil {
				return err
			}
		}
		tb := k.table(t.m)
		old, exists := tb[key]
		if err := checkIfMatch(ifMatch, exists, old.ETag); err != nil {
			return err
		}
		if patch && !exists {
			return notFound("%s %q was not found.", k.name, lastSegment(key))
		}
		var props *T
		if patch {
			// Start from a deep copy of the old value, so stored values are never mutated.
			props = new(T)
			b, _ := json.Marshal(old.Props)
			if err := json.Unmarshal(b, props); err != nil {
				return err
			}
		} else {
			props = k.newProps()
		}
		if err := decodeProperties(body, props); err != nil {
			return err
		}
		var oldProps *T
		if exists {
			oldProps = old.Props
		}
		if k.check != nil {
			if err := k.check(t, key, oldProps, props); err != nil {
				return err
			}
		}
		if exists {
			a, _ := json.Marshal(old.Props)
			b, _ := json.Marshal(props)
			if bytes.Equal(a, b) {
				out = old // same content: nothing to write, the ETag stays
				return nil
			}
		}
		out = entry[T]{ETag: newETag(), Props: props}
		created = !exists
		set(t, tb, k.bucket, key, out)
		return nil
	})
	return out, created, err
}

func (k *kind[T]) get(s *Store, key string) (entry[T], error) {
	m := s.snapshotModel()
	if k.parent != nil {
		if err := k.parent(m, key); err != nil {
			return entry[T]{}, err
		}
	}
	e, ok := k.table(m)[key]
	if !ok {
		return entry[T]{}, notFound("%s %q was not found.", k.name, lastSegment(key))
	}
	return e, nil
}

// delete removes key; it reports false (and no error) when it did not exist.
func (k *kind[T]) delete(s *Store, key, ifMatch string, q url.Values) (bool, error) {
	existed := false
	err := s.update(func(t *txn) error {
		tb := k.table(t.m)
		old, ok := tb[key]
		if err := checkIfMatch(ifMatch, ok, old.ETag); err != nil {
			return err
		}
		if !ok {
			return nil
		}
		existed = true
		if k.remove != nil {
			if err := k.remove(t, key, q); err != nil {
				return err
			}
		}
		del(t, tb, k.bucket, key)
		return nil
	})
	return existed, err
}

func lastSegment(key string) string {
	if i := strings.LastIndexByte(key, '/'); i >= 0 {
		return key[i+1:]
	}
	return key
}

// ---- APIs ----

var reBadPath = regexp.MustCompile(`[?#{}\\\s%*]`)

var apiKind = &kind[API]{
	name: "API", bucket: bucketAPIs, armType: "Microsoft.ApiManagement/service/apis",
	table:    func(m *model) table[API] { return m.apis },
	newProps: func() *API { return &API{SubscriptionRequired: true, Protocols: []string{"http", "https"}} },
	check: func(t *txn, key string, old, a *API) error {
		if err := idError(key); err != nil {
			return err
		}
		if a.Format != "" || a.Value != "" {
			return invalidField("properties.format", "importing a definition inline (format/value) is not supported; use `apimctl import openapi` to create the API and its operations")
		}
		if a.DisplayName == "" {
			a.DisplayName = key
		}
		a.Path = strings.Trim(a.Path, "/")
		if reBadPath.MatchString(a.Path) || len(a.Path) > 400 {
			return invalidField("properties.path", "%q must be a URL path suffix without spaces or any of ?#{}\\%%*", a.Path)
		}
		for id, e := range t.m.apis {
			if id != key && strings.EqualFold(e.Props.Path, a.Path) {
				return conflict("The path %q is already used by API %q.", a.Path, id)
			}
		}
		if a.ServiceURL != "" {
			if u, err := url.Parse(a.ServiceURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return invalidField("properties.serviceUrl", "%q is not an absolute http or https URL", a.ServiceURL)
			}
		}
		if len(a.Protocols) == 0 {
			return invalidField("properties.protocols", "at least one protocol (http, https) is required")
		}
		for _, p := range a.Protocols {
			if p != "http" && p != "https" {
				return invalidField("properties.protocols", "%q is not supported (http, https)", p)
			}
		}
		if kn := a.SubscriptionKeyParameterNames; kn != nil {
			if kn.Header != "" && !isToken(kn.Header) {
				return invalidField("properties.subscriptionKeyParameterNames.header", "%q is not a valid header name", kn.Header)
			}
		}
		switch strings.ToLower(a.Type) {
		case "", "http":
		default:
			return invalidField("properties.type", "API type %q is not supported by apimgw gateways (only http)", a.Type)
		}
		a.IsCurrent = true
		return nil
	},
	remove: func(t *txn, key string, q url.Values) error {
		var subs []string
		for _, sid := range t.m.subs.sortedKeys() {
			if kind, id, _ := wire.ParseScope(t.m.subs[sid].Props.Scope); kind == wire.ScopeAPI && id == key {
				subs = append(subs, sid)
			}
		}
		if len(subs) > 0 {
			return conflict("API %q cannot be deleted: subscriptions %s are scoped to it; delete them first.", key, strings.Join(subs, ", "))
		}
		for _, k := range t.m.ops.keysWithPrefix(key + "/") {
			del(t, t.m.policies, bucketPolicies, policyKeyOp(key, k[len(key)+1:]))
			del(t, t.m.ops, bucketOps, k)
		}
		del(t, t.m.policies, bucketPolicies, policyKeyAPI(key))
		for _, k := range t.m.apiSchemas.keysWithPrefix(key + "/") {
			del(t, t.m.apiSchemas, bucketAPISchemas, k)
		}
		for k := range t.m.productAPIs {
			if _, a, _ := strings.Cut(k, "/"); a == key {
				del(t, t.m.productAPIs, bucketProductAPIs, k)
			}
		}
		for k := range t.m.gatewayAPIs {
			if _, a, _ := strings.Cut(k, "/"); a == key {
				del(t, t.m.gatewayAPIs, bucketGatewayAPIs, k)
			}
		}
		return nil
	},
	render: func(key string, a *API) any {
		c := *a
		if c.SubscriptionKeyParameterNames == nil {
			c.SubscriptionKeyParameterNames = &KeyNames{Header: wire.DefaultKeyHeader, Query: wire.DefaultKeyQuery}
		}
		return &c
	},
}

func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return s != ""
}

func idError(id string) error {
	if err := wire.CheckID(id); err != nil {
		return invalidField("name", "%v", err)
	}
	return nil
}

// ---- operations ----

var httpMethods = map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true,
	"DELETE": true, "OPTIONS": true, "TRACE": true, "*": true}

func apiParent(m *model, key string) error {
	a, _, _ := strings.Cut(key, "/")
	if _, ok := m.apis[a]; !ok {
		return notFound("API %q was not found.", a)
	}
	return nil
}

// sameShape reports whether a stored operation's template matches the same
// requests as t.
func sameShape(stored string, t *urltemplate.Template) bool {
	o, err := urltemplate.Parse(stored)
	if err != nil {
		return strings.EqualFold(stored, t.String())
	}
	return o.Shape() == t.Shape()
}

var operationKind = &kind[Operation]{
	name: "Operation", bucket: bucketOps, armType: "Microsoft.ApiManagement/service/apis/operations",
	table:    func(m *model) table[Operation] { return m.ops },
	newProps: func() *Operation { return &Operation{} },
	parent:   apiParent,
	check: func(t *txn, key string, old, o *Operation) error {
		api, id, _ := strings.Cut(key, "/")
		if err := idError(id); err != nil {
			return err
		}
		if o.DisplayName == "" {
			o.DisplayName = id
		}
		o.Method = strings.ToUpper(o.Method)
		if !httpMethods[o.Method] {
			return invalidField("properties.method", "%q is not an HTTP method", o.Method)
		}
		// The gateway's own parser: what it cannot route is refused here.
		tmpl, err := urltemplate.Parse(o.URLTemplate)
		if err != nil {
			return invalidField("properties.urlTemplate", "%v", err)
		}
		names := tmpl.Params()
		declared := map[string]bool{}
		for i, p := range o.TemplateParameters {
			if p.Name == "" {
				return invalidField(fmt.Sprintf("properties.templateParameters[%d].name", i), "is required")
			}
			if declared[p.Name] {
				return invalidField(fmt.Sprintf("properties.templateParameters[%d].name", i), "%q is declared twice", p.Name)
			}
			declared[p.Name] = true
		}
		used := map[string]bool{}
		for _, n := range names {
			used[n] = true
			if !declared[n] {
				return invalidField("properties.templateParameters", "All template parameters used in the UriTemplate must be defined in the Operation: {%s} is not", n)
			}
		}
		for i, p := range o.TemplateParameters {
			if !used[p.Name] {
				return invalidField(fmt.Sprintf("properties.templateParameters[%d].name", i), "template parameter %q is not used in urlTemplate %q", p.Name, o.URLTemplate)
			}
		}
		if o.TemplateParameters == nil {
			o.TemplateParameters = []TemplateParameter{}
		}
		if err := checkResponses(o.Responses); err != nil {
			return err
		}
		if err := checkRequest(o.Request); err != nil {
			return err
		}
		for _, k := range t.m.ops.keysWithPrefix(api + "/") {
			if k == key {
				continue
			}
			// Templates that differ only in parameter names or letter case
			// match the same requests: the gateway could not tell them apart.
			if other := t.m.ops[k].Props; other.Method == o.Method && sameShape(other.URLTemplate, tmpl) {
				return conflict("Operation %q of API %q already has method %s and URL template %q.", lastSegment(k), api, o.Method, o.URLTemplate)
			}
		}
		return nil
	},
	remove: func(t *txn, key string, q url.Values) error {
		a, o, _ := strings.Cut(key, "/")
		del(t, t.m.policies, bucketPolicies, policyKeyOp(a, o))
		return nil
	},
	render: func(key string, o *Operation) any { return o },
}

// ---- policies ----

var policyKind = &kind[Policy]{
	name: "Policy", bucket: bucketPolicies, armType: "Microsoft.ApiManagement/service/policies",
	table:    func(m *model) table[Policy] { return m.policies },
	newProps: func() *Policy { return &Policy{Format: "xml"} },
	parent: func(m *model, key string) error {
		switch {
		case strings.HasPrefix(key, "product/"):
			if _, ok := m.products[key[len("product/"):]]; !ok {
				return notFound("Product %q was not found.", key[len("product/"):])
			}
		case strings.HasPrefix(key, "api/"):
			return apiParent(m, key[len("api/"):])
		case strings.HasPrefix(key, "op/"):
			rest := key[len("op/"):]
			if err := apiParent(m, rest); err != nil {
				return err
			}
			if _, ok := m.ops[rest]; !ok {
				return notFound("Operation %q was not found.", lastSegment(rest))
			}
		}
		return nil
	},
	check: func(t *txn, key string, old, p *Policy) error {
		scope := "global"
		switch {
		case strings.HasPrefix(key, "product/"):
			scope = "product"
		case strings.HasPrefix(key, "api/"):
			scope = "api"
		case strings.HasPrefix(key, "op/"):
			scope = "operation"
		}
		return checkPolicyDoc(t, policyPath(key), scope, p, "")
	},
	render: func(key string, p *Policy) any { return p },
}

// checkPolicyDoc validates format, references and (through the Store's
// PolicyValidator) the document itself. selfFragment is the id of the
// fragment being written ("" for policies).
func checkPolicyDoc(t *txn, name, scope string, p *Policy, selfFragment string) error {
	switch strings.ToLower(p.Format) {
	case "", "xml":
		p.Format = "xml"
	case "rawxml":
		p.Format = "rawxml"
	case "xml-link", "rawxml-link":
		return invalidField("properties.format", "%q (policy from a URL) is not supported; send the document itself with format rawxml", p.Format)
	default:
		return invalidField("properties.format", "%q is not a policy format (xml, rawxml)", p.Format)
	}
	if strings.TrimSpace(p.Value) == "" {
		return invalidField("properties.value", "the policy document is empty")
	}
	if len(p.Value) > maxPolicyBytes {
		return invalidField("properties.value", "the policy document is %d bytes, at most %d", len(p.Value), maxPolicyBytes)
	}
	refs := scanRefs(p.Value)
	var details []ErrorDetail
	for _, n := range refs.namedValues {
		if _, ok := t.m.findNamedValue(n); !ok {
			details = append(details, ErrorDetail{Code: "ValidationError", Target: "properties.value",
				Message: fmt.Sprintf("named value {{%s}} does not exist", n)})
		}
	}
	for _, f := range refs.fragments {
		if _, ok := t.m.fragments[f]; !ok && f != selfFragment {
			details = append(details, ErrorDetail{Code: "ValidationError", Target: "properties.value",
				Message: fmt.Sprintf("<include-fragment>: policy fragment %q does not exist", f)})
		}
	}
	for _, b := range refs.backends {
		if _, ok := t.m.backends[b]; !ok {
			details = append(details, ErrorDetail{Code: "ValidationError", Target: "properties.value",
				Message: fmt.Sprintf("<set-backend-service>: backend %q does not exist", b)})
		}
	}
	if len(details) > 0 {
		return validation(fmt.Sprintf("The policy %s references resources that do not exist: %s", name, details[0].Message), details...)
	}
	doc := PolicyDoc{Name: name, Scope: scope, XML: p.Value, NamedValues: map[string]string{}, Secret: map[string]bool{},
		Fragments: map[string]string{}, Backends: map[string]string{}}
	for _, e := range t.m.namedValues {
		doc.NamedValues[e.Props.DisplayName] = e.Props.Value
		if e.Props.Secret {
			doc.Secret[e.Props.DisplayName] = true
		}
	}
	for id, e := range t.m.backends {
		doc.Backends[id] = e.Props.URL
	}
	for id, e := range t.m.fragments {
		doc.Fragments[id] = e.Props.Value
	}
	if selfFragment != "" {
		doc.Fragments[selfFragment] = p.Value
	}
	problems := t.s.opts.Validator.ValidatePolicy(doc)
	if len(problems) == 0 {
		return nil
	}
	for _, pr := range problems {
		msg := pr.Message
		if pr.Element != "" {
			msg = "<" + pr.Element + ">: " + msg
		}
		if pr.Line > 0 {
			msg = fmt.Sprintf("line %d, column %d: %s", pr.Line, pr.Col, msg)
		}
		target := "properties.value"
		if pr.Element != "" {
			target = pr.Element
		}
		details = append(details, ErrorDetail{Code: "ValidationError", Target: target, Message: msg})
	}
	return validation(fmt.Sprintf("The policy %s does not compile: %s", name, details[0].Message), details...)
}

// maxPolicyBytes bounds one policy document (APIM's limit is 256 KiB).
const maxPolicyBytes = 256 << 10

// ---- policy fragments ----

var fragmentKind = &kind[Fragment]{
	name: "Policy fragment", bucket: bucketFragments, armType: "Microsoft.ApiManagement/service/policyFragments",
	table:    func(m *model) table[Fragment] { return m.fragments },
	newProps: func() *Fragment { return &Fragment{Format: "xml"} },
	check: func(t *txn, key string, old, f *Fragment) error {
		if err := idError(key); err != nil {
			return err
		}
		p := &Policy{Format: f.Format, Value: f.Value}
		if err := checkPolicyDoc(t, "/policyFragments/"+key, "fragment", p, key); err != nil {
			return err
		}
		f.Format = p.Format
		// Refuse include cycles: follow includes from this fragment.
		seen := map[string]bool{}
		var walk func(id, xml string) error
		walk = func(id, xml string) error {
			if seen[id] {
				return nil
			}
			seen[id] = true
			for _, inc := range scanRefs(xml).fragments {
				if inc == key {
					return invalidField("properties.value", "policy fragment %q would include itself (through %q)", key, id)
				}
				if e, ok := t.m.fragments[inc]; ok {
					if err := walk(inc, e.Props.Value); err != nil {
						return err
					}
				}
			}
			return nil
		}
		return walk(key, f.Value)
	},
	remove: func(t *txn, key string, q url.Values) error {
		if refs := t.m.referrers(func(r policyRefs) bool { return contains(r.fragments, key) }); len(refs) > 0 {
			return conflict("Policy fragment %q cannot be deleted: it is included by %s.", key, strings.Join(refs, ", "))
		}
		return nil
	},
	render: func(key string, f *Fragment) any { return f },
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ---- products ----

var productKind = &kind[Product]{
	name: "Product", bucket: bucketProducts, armType: "Microsoft.ApiManagement/service/products",
	table:    func(m *model) table[Product] { return m.products },
	newProps: func() *Product { return &Product{SubscriptionRequired: true, State: "notPublished"} },
	check: func(t *txn, key string, old, p *Product) error {
		if err := idError(key); err != nil {
			return err
		}
		if p.DisplayName == "" {
			p.DisplayName = key
		}
		if p.State != "published" && p.State != "notPublished" {
			return invalidField("properties.state", "%q is not published or notPublished", p.State)
		}
		return nil
	},
	remove: func(t *txn, key string, q url.Values) error {
		var subs []string
		for _, sid := range t.m.subs.sortedKeys() {
			if kind, id, _ := wire.ParseScope(t.m.subs[sid].Props.Scope); kind == wire.ScopeProduct && id == key {
				subs = append(subs, sid)
			}
		}
		if len(subs) > 0 {
			if !strings.EqualFold(q.Get("deleteSubscriptions"), "true") {
				return conflict("Product %q cannot be deleted: subscriptions %s are scoped to it; delete them first or pass deleteSubscriptions=true.", key, strings.Join(subs, ", "))
			}
			for _, sid := range subs {
				del(t, t.m.subs, bucketSubs, sid)
			}
		}
		for _, k := range t.m.productAPIs.keysWithPrefix(key + "/") {
			del(t, t.m.productAPIs, bucketProductAPIs, k)
		}
		del(t, t.m.policies, bucketPolicies, policyKeyProduct(key))
		return nil
	},
	render: func(key string, p *Product) any { return p },
}

var productAPIKind = &kind[Link]{
	name: "Product API", bucket: bucketProductAPIs, armType: "Microsoft.ApiManagement/service/products/apis",
	table:    func(m *model) table[Link] { return m.productAPIs },
	newProps: func() *Link { return &Link{} },
	parent: func(m *model, key string) error {
		p, a, _ := strings.Cut(key, "/")
		if _, ok := m.products[p]; !ok {
			return notFound("Product %q was not found.", p)
		}
		if _, ok := m.apis[a]; !ok {
			return notFound("API %q was not found.", a)
		}
		return nil
	},
	check: func(t *txn, key string, old, l *Link) error {
		if old != nil {
			l.Created = old.Created
		} else {
			l.Created = t.now.UTC()
		}
		return nil
	},
	render: func(key string, l *Link) any { return l },
}

// ---- subscriptions ----

var subscriptionKind = &kind[Subscription]{
	name: "Subscription", bucket: bucketSubs, armType: "Microsoft.ApiManagement/service/subscriptions",
	table:    func(m *model) table[Subscription] { return m.subs },
	newProps: func() *Subscription { return &Subscription{State: wire.SubscriptionSubmitted} },
	check: func(t *txn, key string, old, s *Subscription) error {
		if err := idError(key); err != nil {
			return err
		}
		if s.DisplayName == "" {
			s.DisplayName = key
		}
		kind, id, err := wire.ParseScope(s.Scope)
		if err != nil {
			return invalidField("properties.scope", "%v", err)
		}
		switch kind {
		case wire.ScopeAll:
			s.Scope = "/apis"
		case wire.ScopeAPI:
			if _, ok := t.m.apis[id]; !ok {
				return invalidField("properties.scope", "API %q does not exist", id)
			}
			s.Scope = "/apis/" + id
		case wire.ScopeProduct:
			if _, ok := t.m.products[id]; !ok {
				return invalidField("properties.scope", "product %q does not exist", id)
			}
			s.Scope = "/products/" + id
		}
		switch s.State {
		case wire.SubscriptionActive, wire.SubscriptionSuspended, wire.SubscriptionSubmitted, wire.SubscriptionRejected,
			wire.SubscriptionCancelled, wire.SubscriptionExpired:
		default:
			return invalidField("properties.state", "%q is not a subscription state (active, suspended, submitted, rejected, cancelled, expired)", s.State)
		}
		if s.PrimaryKey == "" {
			if old != nil {
				s.PrimaryKey = old.PrimaryKey
			} else {
				s.PrimaryKey = randomHex(16)
			}
		}
		if s.SecondaryKey == "" {
			if old != nil {
				s.SecondaryKey = old.SecondaryKey
			} else {
				s.SecondaryKey = randomHex(16)
			}
		}
		for field, k := range map[string]string{"properties.primaryKey": s.PrimaryKey, "properties.secondaryKey": s.SecondaryKey} {
			if len(k) > 256 {
				return invalidField(field, "a key has at most 256 characters")
			}
		}
		for sid, e := range t.m.subs {
			if sid == key {
				continue
			}
			o := e.Props
			if o.PrimaryKey == s.PrimaryKey || o.SecondaryKey == s.PrimaryKey {
				return conflict("The primary key is already used by another subscription.")
			}
			if o.PrimaryKey == s.SecondaryKey || o.SecondaryKey == s.SecondaryKey {
				return conflict("The secondary key is already used by another subscription.")
			}
		}
		if old != nil {
			s.CreatedDate = old.CreatedDate
		} else {
			s.CreatedDate = t.now.UTC()
		}
		return nil
	},
	render: func(key string, s *Subscription) any {
		c := *s
		c.PrimaryKey, c.SecondaryKey = "", ""
		return &c
	},
}

// ---- named values ----

var reNamedValueName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,256}$`)

var namedValueKind = &kind[NamedValue]{
	name: "Named value", bucket: bucketNamedValues, armType: "Microsoft.ApiManagement/service/namedValues",
	table:    func(m *model) table[NamedValue] { return m.namedValues },
	newProps: func() *NamedValue { return &NamedValue{} },
	check: func(t *txn, key string, old, nv *NamedValue) error {
		if err := idError(key); err != nil {
			return err
		}
		if nv.KeyVault != nil {
			return invalidField("properties.keyVault", "Key Vault named values are not supported by this gateway: send the value itself (with secret: true; it is stored here and reaches gateways only in their snapshots)")
		}
		if nv.DisplayName == "" {
			nv.DisplayName = key
		}
		if !reNamedValueName.MatchString(nv.DisplayName) {
			return invalidField("properties.displayName", "%q may hold only letters, digits, '.', '-' and '_' (1-256)", nv.DisplayName)
		}
		for id, e := range t.m.namedValues {
			if id != key && strings.EqualFold(e.Props.DisplayName, nv.DisplayName) {
				return conflict("The named value name %q is already used by %q.", nv.DisplayName, id)
			}
		}
		if nv.Value == "" && old != nil {
			nv.Value = old.Value // a secret is never returned by GET, so GET-modify-PUT keeps it
		}
		if nv.Value == "" {
			return invalidField("properties.value", "is required")
		}
		if len(nv.Value) > 4096 {
			return invalidField("properties.value", "at most 4096 characters")
		}
		if old != nil && !strings.EqualFold(old.DisplayName, nv.DisplayName) {
			oldName := old.DisplayName
			if refs := t.m.referrers(func(r policyRefs) bool { return containsFold(r.namedValues, oldName) }); len(refs) > 0 {
				return conflict("Named value %q cannot be renamed: {{%s}} is used by %s.", key, oldName, strings.Join(refs, ", "))
			}
		}
		return nil
	},
	remove: func(t *txn, key string, q url.Values) error {
		nv := t.m.namedValues[key].Props
		if refs := t.m.referrers(func(r policyRefs) bool {
			return containsFold(r.namedValues, nv.DisplayName) || contains(r.namedValues, key)
		}); len(refs) > 0 {
			return conflict("Named value %q cannot be deleted: {{%s}} is used by %s.", key, nv.DisplayName, strings.Join(refs, ", "))
		}
		return nil
	},
	render: func(key string, nv *NamedValue) any {
		c := *nv
		if c.Secret {
			c.Value = ""
		}
		return &c
	},
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// ---- backends ----

var backendKind = &kind[Backend]{
	name: "Backend", bucket: bucketBackends, armType: "Microsoft.ApiManagement/service/backends",
	table:    func(m *model) table[Backend] { return m.backends },
	newProps: func() *Backend { return &Backend{Protocol: "http"} },
	check:    checkBackend, // backends.go
	remove: func(t *txn, key string, q url.Values) error {
		if refs := t.m.referrers(func(r policyRefs) bool { return contains(r.backends, key) }); len(refs) > 0 {
			return conflict("Backend %q cannot be deleted: it is used by %s.", key, strings.Join(refs, ", "))
		}
		return backendInPool(t, key)
	},
	render: renderBackend, // backends.go
}

// ---- gateways ----

var gatewayKind = &kind[Gateway]{
	name: "Gateway", bucket: bucketGateways, armType: "Microsoft.ApiManagement/service/gateways",
	table:    func(m *model) table[Gateway] { return m.gateways },
	newProps: func() *Gateway { return &Gateway{} },
	check: func(t *txn, key string, old, g *Gateway) error {
		if err := idError(key); err != nil {
			return err
		}
		if g.LocationData.Name == "" {
			g.LocationData.Name = key
		}
		// Keys are never taken from a request body: they are made here and
		// changed only by regenerateKey.
		if old != nil {
			g.PrimaryKey, g.SecondaryKey = old.PrimaryKey, old.SecondaryKey
		} else {
			g.PrimaryKey, g.SecondaryKey = randomKey(), randomKey()
		}
		return nil
	},
	remove: func(t *txn, key string, q url.Values) error {
		for _, k := range t.m.gatewayAPIs.keysWithPrefix(key + "/") {
			del(t, t.m.gatewayAPIs, bucketGatewayAPIs, k)
		}
		for _, k := range t.m.gatewayCAs.keysWithPrefix(key + "/") {
			del(t, t.m.gatewayCAs, bucketGatewayCAs, k)
		}
		return nil
	},
	render: func(key string, g *Gateway) any {
		c := *g
		c.PrimaryKey, c.SecondaryKey = "", ""
		return &c
	},
}

var gatewayAPIKind = &kind[Link]{
	name: "Gateway API", bucket: bucketGatewayAPIs, armType: "Microsoft.ApiManagement/service/gateways/apis",
	table:    func(m *model) table[Link] { return m.gatewayAPIs },
	newProps: func() *Link { return &Link{} },
	parent: func(m *model, key string) error {
		g, a, _ := strings.Cut(key, "/")
		if _, ok := m.gateways[g]; !ok {
			return notFound("Gateway %q was not found.", g)
		}
		if _, ok := m.apis[a]; !ok {
			return notFound("API %q was not found.", a)
		}
		return nil
	},
	check:  productAPIKind.check,
	render: func(key string, l *Link) any { return l },
}
