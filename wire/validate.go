package wire

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/apimgw/apimgw/wire/urltemplate"
)

// ValidationErrors lists every problem Validate found; it unwraps to
// ErrInvalidSnapshot.
type ValidationErrors []string

func (v ValidationErrors) Error() string {
	if len(v) == 1 {
		return "wire: invalid snapshot: " + v[0]
	}
	return fmt.Sprintf("wire: invalid snapshot: %d problems: %s", len(v), strings.Join(v, "; "))
}

// Unwrap makes errors.Is(err, ErrInvalidSnapshot) true.
func (v ValidationErrors) Unwrap() error { return ErrInvalidSnapshot }

var validMethods = map[string]bool{
	"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true,
	"OPTIONS": true, "TRACE": true, "CONNECT": true, "*": true,
}

// Validate checks the snapshot's internal consistency: ids present and unique
// per kind, API paths unique, methods and URL templates well formed with every
// {param} declared, product API lists and subscription scopes pointing at
// things the snapshot contains, key digests well formed and unique, named
// value names unique. It does not compile policies (package policy does) and
// does not look at the checksum. Every problem is reported, each naming the
// element ("apis[orders].operations[get].urlTemplate: ...").
func (s *Snapshot) Validate() error {
	var errs ValidationErrors
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }

	if s.ProtocolVersion != ProtocolVersion {
		bad("protocolVersion is %d, want %d", s.ProtocolVersion, ProtocolVersion)
	}
	apis := map[string]bool{}
	paths := map[string]string{}
	for i, a := range s.APIs {
		where := fmt.Sprintf("apis[%d]", i)
		if err := checkID(a.ID); err != nil {
			bad("%s.id: %v", where, err)
		} else {
			where = fmt.Sprintf("apis[%s]", a.ID)
		}
		if apis[a.ID] {
			bad("%s: duplicate API id", where)
		}
		apis[a.ID] = true
		p := strings.ToLower(strings.Trim(a.Path, "/"))
		if other, dup := paths[p]; dup {
			bad("%s.path: %q is also the path of API %q", where, a.Path, other)
		}
		paths[p] = a.ID
		if a.ServiceURL != "" {
			if u, err := url.Parse(a.ServiceURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad("%s.serviceUrl: %q is not an absolute http(s) URL", where, a.ServiceURL)
			}
		}
		for _, p := range a.Protocols {
			if p != "http" && p != "https" {
				bad("%s.protocols: %q is not http or https", where, p)
			}
		}
		schemas := map[string]bool{}
		for j, sc := range a.Schemas {
			sw := fmt.Sprintf("%s.schemas[%d]", where, j)
			if err := checkID(sc.ID); err != nil {
				bad("%s.id: %v", sw, err)
			}
			if schemas[strings.ToLower(sc.ID)] {
				bad("%s: duplicate schema id %q", sw, sc.ID)
			}
			schemas[strings.ToLower(sc.ID)] = true
			if strings.TrimSpace(sc.ContentType) == "" {
				bad("%s.contentType: is required", sw)
			}
		}
		ops := map[string]bool{}
		shapes := map[string]string{} // method + template shape → operation id
		for j, o := range a.Operations {
			ow := fmt.Sprintf("%s.operations[%d]", where, j)
			if err := checkID(o.ID); err != nil {
				bad("%s.id: %v", ow, err)
			} else {
				ow = fmt.Sprintf("%s.operations[%s]", where, o.ID)
			}
			if ops[o.ID] {
				bad("%s: duplicate operation id", ow)
			}
			ops[o.ID] = true
			if !validMethods[o.Method] {
				bad("%s.method: %q is not an upper-case HTTP method or *", ow, o.Method)
			}
			var names []string
			if t, err := urltemplate.Parse(o.URLTemplate); err != nil {
				bad("%s.urlTemplate: %v", ow, err)
			} else {
				names = t.Params()
				// Same method, same shape: the second could never be reached.
				key := o.Method + " " + t.Shape()
				if other, dup := shapes[key]; dup {
					bad("%s.urlTemplate: %s %q matches the same requests as operation %q", ow, o.Method, o.URLTemplate, other)
				}
				shapes[key] = o.ID
			}
			declared := map[string]bool{}
			for _, tp := range o.TemplateParameters {
				declared[tp.Name] = true
			}
			for _, n := range names {
				if !declared[n] {
					bad("%s.urlTemplate: parameter {%s} is not in templateParameters", ow, n)
				}
			}
			if o.Request != nil {
				for k, q := range o.Request.QueryParameters {
					if strings.TrimSpace(q.Name) == "" {
						bad("%s.request.queryParameters[%d].name: is required", ow, k)
					}
				}
				for k, h := range o.Request.Headers {
					if strings.TrimSpace(h.Name) == "" {
						bad("%s.request.headers[%d].name: is required", ow, k)
					}
				}
				for k, rep := range o.Request.Representations {
					if strings.TrimSpace(rep.ContentType) == "" {
						bad("%s.request.representations[%d].contentType: is required", ow, k)
					}
				}
			}
			for k, r := range o.Responses {
				rw := fmt.Sprintf("%s.responses[%d]", ow, k)
				if r.StatusCode < 100 || r.StatusCode > 599 {
					bad("%s.statusCode: %d is not an HTTP status code (100-599)", rw, r.StatusCode)
				}
				for l, rep := range r.Representations {
					if strings.TrimSpace(rep.ContentType) == "" {
						bad("%s.representations[%d].contentType: is required", rw, l)
					}
				}
				for l, h := range r.Headers {
					if strings.TrimSpace(h.Name) == "" {
						bad("%s.headers[%d].name: is required", rw, l)
					}
				}
			}
		}
	}
	globalSchemas := map[string]bool{}
	for i, sc := range s.Schemas {
		sw := fmt.Sprintf("schemas[%d]", i)
		if err := checkID(sc.ID); err != nil {
			bad("%s.id: %v", sw, err)
		}
		if globalSchemas[strings.ToLower(sc.ID)] {
			bad("%s: duplicate schema id %q", sw, sc.ID)
		}
		globalSchemas[strings.ToLower(sc.ID)] = true
		if strings.TrimSpace(sc.ContentType) == "" {
			bad("%s.contentType: is required", sw)
		}
	}
	products := map[string]bool{}
	for i, p := range s.Products {
		where := fmt.Sprintf("products[%d]", i)
		if err := checkID(p.ID); err != nil {
			bad("%s.id: %v", where, err)
		} else {
			where = fmt.Sprintf("products[%s]", p.ID)
		}
		if products[p.ID] {
			bad("%s: duplicate product id", where)
		}
		products[p.ID] = true
		if p.State != "published" && p.State != "notPublished" {
			bad("%s.state: %q is not published or notPublished", where, p.State)
		}
		for _, a := range p.APIs {
			if !apis[a] {
				bad("%s.apis: API %q is not in the snapshot", where, a)
			}
		}
	}
	subs := map[string]bool{}
	digests := map[string]string{}
	for i, sub := range s.Subscriptions {
		where := fmt.Sprintf("subscriptions[%d]", i)
		if err := checkID(sub.ID); err != nil {
			bad("%s.id: %v", where, err)
		} else {
			where = fmt.Sprintf("subscriptions[%s]", sub.ID)
		}
		if subs[sub.ID] {
			bad("%s: duplicate subscription id", where)
		}
		subs[sub.ID] = true
		kind, id, err := ParseScope(sub.Scope)
		switch {
		case err != nil:
			bad("%s.scope: %v", where, err)
		case kind == ScopeAPI && !apis[id]:
			bad("%s.scope: API %q is not in the snapshot", where, id)
		case kind == ScopeProduct && !products[id]:
			bad("%s.scope: product %q is not in the snapshot", where, id)
		}
		switch sub.State {
		case SubscriptionActive, SubscriptionSuspended, SubscriptionSubmitted, SubscriptionRejected, SubscriptionCancelled, SubscriptionExpired:
		default:
			bad("%s.state: %q is not a subscription state", where, sub.State)
		}
		for field, d := range map[string]string{"primaryKeySha256": sub.PrimaryKeySHA256, "secondaryKeySha256": sub.SecondaryKeySHA256} {
			if !isHexDigest(d) {
				bad("%s.%s: not 64 lowercase hex digits", where, field)
				continue
			}
			if other, dup := digests[d]; dup && other != sub.ID {
				bad("%s.%s: same key as subscription %q", where, field, other)
			}
			digests[d] = sub.ID
		}
	}
	frags := map[string]bool{}
	for i, f := range s.PolicyFragments {
		if err := checkID(f.ID); err != nil {
			bad("policyFragments[%d].id: %v", i, err)
		}
		if frags[f.ID] {
			bad("policyFragments[%s]: duplicate fragment id", f.ID)
		}
		frags[f.ID] = true
	}
	nvIDs, nvNames := map[string]bool{}, map[string]bool{}
	for i, nv := range s.NamedValues {
		if err := checkID(nv.ID); err != nil {
			bad("namedValues[%d].id: %v", i, err)
		}
		if nvIDs[nv.ID] {
			bad("namedValues[%s]: duplicate named value id", nv.ID)
		}
		nvIDs[nv.ID] = true
		if nv.DisplayName == "" {
			bad("namedValues[%s].displayName: empty", nv.ID)
		}
		if nvNames[strings.ToLower(nv.DisplayName)] {
			bad("namedValues[%s].displayName: %q used twice", nv.ID, nv.DisplayName)
		}
		nvNames[strings.ToLower(nv.DisplayName)] = true
	}
	backends := map[string]bool{}
	for i, b := range s.Backends {
		if err := checkID(b.ID); err != nil {
			bad("backends[%d].id: %v", i, err)
		}
		if backends[b.ID] {
			bad("backends[%s]: duplicate backend id", b.ID)
		}
		backends[b.ID] = true
		validateBackend(b, bad)
	}
	certs := map[string]bool{}
	for i, c := range s.Certificates {
		if err := checkID(c.ID); err != nil {
			bad("certificates[%d].id: %v", i, err)
		}
		if certs[c.ID] {
			bad("certificates[%s]: duplicate certificate id", c.ID)
		}
		certs[c.ID] = true
		if !strings.Contains(c.CertificatePEM, "-----BEGIN CERTIFICATE-----") {
			bad("certificates[%s].certificatePem: no PEM certificate", c.ID)
		}
	}
	for _, b := range s.Backends {
		if b.Pool != nil {
			for j, m := range b.Pool.Services {
				if !backends[m.ID] {
					bad("backends[%s].pool.services[%d].id: backend %q is not in the snapshot", b.ID, j, m.ID)
				}
			}
		}
		if b.Credentials != nil {
			for j, id := range b.Credentials.CertificateIDs {
				if !certs[id] {
					bad("backends[%s].credentials.certificateIds[%d]: certificate %q is not in the snapshot", b.ID, j, id)
				}
			}
		}
	}
	validateCache(s.Cache, bad) // cache.go
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func isHexDigest(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// CheckID reports whether s is usable as a resource id (ARM resource name):
// 1–256 characters, none of / \ ? # & % * : < > or control characters.
func CheckID(s string) error { return checkID(s) }

func checkID(s string) error {
	if s == "" {
		return errors.New("empty id")
	}
	if len(s) > 256 {
		return fmt.Errorf("id longer than 256 characters")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(`/\?#&%*:<>`, r) {
			return fmt.Errorf("id %q contains %q", s, r)
		}
	}
	return nil
}

// TemplateParams returns the parameter names of an APIM URL template in
// order (path parameters, then query ones; the unnamed wildcard "/*" has
// none). It parses with package urltemplate, the parser the gateway routes
// with, so a template accepted here is one the gateway can route; errors wrap
// urltemplate.ErrInvalid.
func TemplateParams(tmpl string) ([]string, error) {
	t, err := urltemplate.Parse(tmpl)
	if err != nil {
		return nil, err
	}
	return t.Params(), nil
}
