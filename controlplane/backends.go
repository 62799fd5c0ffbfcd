package controlplane

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/apimgw/apimgw/wire"
)

// BackendCredentials is a backend's credentials as ARM has them: client
// certificates by id (certificateIds) or by thumbprint (certificate),
// headers, query parameters and an Authorization header.
type BackendCredentials struct {
	CertificateIDs []string                   `json:"certificateIds,omitempty"`
	Certificate    []string                   `json:"certificate,omitempty"`
	Header         map[string][]string        `json:"header,omitempty"`
	Query          map[string][]string        `json:"query,omitempty"`
	Authorization  *wire.BackendAuthorization `json:"authorization,omitempty"`
}

// BackendCircuitBreaker is ARM's circuitBreaker (BackendCircuitBreaker):
// one rule, its failureCondition as wire.FailureCondition has it (count,
// percentage, interval, statusCodeRanges, errorReasons).
type BackendCircuitBreaker struct {
	Rules []struct {
		Name             string                `json:"name,omitempty"`
		FailureCondition wire.FailureCondition `json:"failureCondition"`
		TripDuration     string                `json:"tripDuration"`
		AcceptRetryAfter bool                  `json:"acceptRetryAfter,omitempty"`
	} `json:"rules"`
}

// checkBackend validates and normalizes a backend entity: what the gateway
// cannot do is refused with a 400 naming the field, and what it stores is
// what wire.Validate accepts.
func checkBackend(t *txn, key string, old, b *Backend) error {
	if err := idError(key); err != nil {
		return err
	}
	if b.Protocol != "http" && b.Protocol != "soap" {
		return invalidField("properties.protocol", "%q is not http or soap", b.Protocol)
	}
	switch b.HTTPVersion {
	case "", "1.1", "2", "auto":
	default:
		return invalidField("properties.httpVersion", "%q is not 1.1, 2 or auto (this gateway's own field: APIM's backend has no HTTP version)", b.HTTPVersion)
	}
	if b.Properties != nil {
		return invalidField("properties.properties", "Service Fabric backends are not supported by this gateway: give the backend the url of the service (or of a gateway in front of the cluster), or make a pool of the nodes' URLs")
	}
	if p := b.Proxy; p != nil && p.Password == "" && old != nil && old.Proxy != nil && old.Proxy.URL == p.URL && old.Proxy.Username == p.Username {
		p.Password = old.Proxy.Password // GET never shows it, so GET-modify-PUT keeps it
	}
	switch b.Type {
	case "", "Single", "single":
		b.Type = ""
		if u, err := url.Parse(b.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return invalidField("properties.url", "%q is not an absolute http or https URL", b.URL)
		}
		if b.Pool != nil {
			return invalidField("properties.pool", "only a backend of type Pool has members")
		}
	case "Pool", "pool":
		b.Type = "Pool"
		if b.Pool == nil || len(b.Pool.Services) == 0 {
			return invalidField("properties.pool.services", "a pool needs at least one member")
		}
		for i := range b.Pool.Services {
			m := &b.Pool.Services[i]
			m.ID = lastSegment(m.ID) // ARM sends the member's resource id
			field := fmt.Sprintf("properties.pool.services[%d]", i)
			me, ok := t.m.backends[m.ID]
			switch {
			case !ok:
				return invalidField(field+".id", "backend %q does not exist", m.ID)
			case me.Props.Type == "Pool":
				return invalidField(field+".id", "backend %q is a pool; pools do not nest", m.ID)
			case m.ID == key:
				return invalidField(field+".id", "a pool cannot contain itself")
			case m.Priority < 0 || m.Weight < 0:
				return invalidField(field, "priority and weight must not be negative")
			}
		}
	default:
		return invalidField("properties.type", "%q is not Single or Pool", b.Type)
	}
	if users := poolsUsing(t, key); b.Type == "Pool" && len(users) > 0 {
		return invalidField("properties.type", "backend %q is a member of %s and cannot be a pool", key, strings.Join(users, ", "))
	}
	if c := b.Credentials; c != nil {
		for i, th := range c.Certificate {
			id, ok := certificateByThumbprint(t.m, th)
			if !ok {
				return invalidField(fmt.Sprintf("properties.credentials.certificate[%d]", i), "no certificate with thumbprint %q", th)
			}
			if !contains(c.CertificateIDs, id) {
				c.CertificateIDs = append(c.CertificateIDs, id)
			}
		}
		c.Certificate = nil
		for i, id := range c.CertificateIDs {
			id = lastSegment(id)
			c.CertificateIDs[i] = id
			ce, ok := t.m.certificates[id]
			field := fmt.Sprintf("properties.credentials.certificateIds[%d]", i)
			if !ok {
				return invalidField(field, "certificate %q does not exist", id)
			}
			if ce.Props.PrivateKeyPEM == "" {
				return invalidField(field, "certificate %q has no private key: a client certificate needs one", id)
			}
		}
		if len(c.CertificateIDs) > 0 && !strings.HasPrefix(strings.ToLower(b.URL), "https://") {
			return invalidField("properties.credentials.certificateIds", "client certificates need an https URL")
		}
	}
	if cb := b.CircuitBreaker; cb != nil {
		if len(cb.Rules) != 1 {
			return invalidField("properties.circuitBreaker.rules", "exactly one rule is supported")
		}
	}
	// Whatever reaches a gateway must pass the gateway's own checks.
	var errs []string
	w := toWireBackend(key, b)
	probe := &wire.Snapshot{ProtocolVersion: wire.ProtocolVersion, Version: 1, Backends: append(poolMembers(t.m, b), w)}
	if w.Credentials != nil {
		for _, id := range w.Credentials.CertificateIDs {
			probe.Certificates = append(probe.Certificates, wire.Certificate{ID: id, CertificatePEM: t.m.certificates[id].Props.CertificatePEM})
		}
	}
	if err := probe.Validate(); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return validation("The backend is not valid: " + strings.Join(errs, "; "))
	}
	return nil
}

// renderBackend is what a GET shows of a backend: everything but the
// proxy's password.
func renderBackend(key string, b *Backend) any {
	if b.Proxy == nil || b.Proxy.Password == "" {
		return b
	}
	c := *b
	c.Proxy = &wire.BackendProxy{URL: b.Proxy.URL, Username: b.Proxy.Username}
	return &c
}

// poolMembers returns the wire form of b's pool members (for validation).
func poolMembers(m *model, b *Backend) []wire.Backend {
	if b.Pool == nil {
		return nil
	}
	var out []wire.Backend
	for _, s := range b.Pool.Services {
		if e, ok := m.backends[s.ID]; ok {
			w := toWireBackend(s.ID, e.Props)
			w.Credentials = nil // their certificates are checked on their own PUT
			out = append(out, w)
		}
	}
	return out
}

// poolsUsing lists the pools that have key as a member.
func poolsUsing(t *txn, key string) []string {
	var out []string
	for id, e := range t.m.backends {
		if p := e.Props.Pool; p != nil {
			for _, s := range p.Services {
				if s.ID == key {
					out = append(out, "pool "+id)
					break
				}
			}
		}
	}
	return out
}

// backendInPool refuses to delete a pool member.
func backendInPool(t *txn, key string) error {
	if users := poolsUsing(t, key); len(users) > 0 {
		return conflict("Backend %q cannot be deleted: it is a member of %s.", key, strings.Join(users, ", "))
	}
	return nil
}

func certificateByThumbprint(m *model, th string) (string, bool) {
	for id, e := range m.certificates {
		if strings.EqualFold(e.Props.Thumbprint, th) {
			return id, true
		}
	}
	return "", false
}

// toWireBackend is the gateway's view of a backend entity.
func toWireBackend(id string, b *Backend) wire.Backend {
	w := wire.Backend{ID: id, URL: b.URL, Protocol: b.Protocol, Description: b.Description, Type: b.Type, TLS: b.TLS, Pool: b.Pool, Proxy: b.Proxy, HTTPVersion: b.HTTPVersion}
	if c := b.Credentials; c != nil {
		w.Credentials = &wire.BackendCredentials{CertificateIDs: c.CertificateIDs, Header: c.Header, Query: c.Query, Authorization: c.Authorization}
	}
	if cb := b.CircuitBreaker; cb != nil {
		w.CircuitBreaker = &wire.CircuitBreaker{}
		for _, r := range cb.Rules {
			w.CircuitBreaker.Rules = append(w.CircuitBreaker.Rules, wire.CircuitBreakerRule{Name: r.Name,
				FailureCondition: r.FailureCondition,
				TripDuration:     r.TripDuration, AcceptRetryAfter: r.AcceptRetryAfter})
		}
	}
	return w
}

// snapshotBackends adds to snap the backends in set, their pool members, and
// the certificates the gateway needs: the CAs it trusts
// (certificateAuthorities with isTrusted) and the client certificates of
// its backends (with their keys).
func snapshotBackends(m *model, gw string, set map[string]bool, snap *wire.Snapshot) {
	for id := range set {
		if e, ok := m.backends[id]; ok && e.Props.Pool != nil {
			for _, s := range e.Props.Pool.Services {
				set[s.ID] = true
			}
		}
	}
	certs := map[string]*wire.Certificate{}
	for _, id := range sortedSet(set) {
		e, ok := m.backends[id]
		if !ok {
			continue
		}
		w := toWireBackend(id, e.Props)
		snap.Backends = append(snap.Backends, w)
		if w.Credentials != nil {
			for _, cid := range w.Credentials.CertificateIDs {
				if ce, ok := m.certificates[cid]; ok {
					c := certs[cid]
					if c == nil {
						c = &wire.Certificate{ID: cid, Thumbprint: ce.Props.Thumbprint, CertificatePEM: ce.Props.CertificatePEM}
						certs[cid] = c
					}
					c.PrivateKeyPEM = ce.Props.PrivateKeyPEM
				}
			}
		}
	}
	for _, k := range m.gatewayCAs.keysWithPrefix(gw + "/") {
		_, cid, _ := strings.Cut(k, "/")
		ce, ok := m.certificates[cid]
		if !ok || !m.gatewayCAs[k].Props.IsTrusted {
			continue
		}
		c := certs[cid]
		if c == nil {
			c = &wire.Certificate{ID: cid, Thumbprint: ce.Props.Thumbprint, CertificatePEM: ce.Props.CertificatePEM}
			certs[cid] = c
		}
		c.TrustedCA = true
	}
	ids := map[string]bool{}
	for id := range certs {
		ids[id] = true
	}
	for _, id := range sortedSet(ids) {
		snap.Certificates = append(snap.Certificates, *certs[id])
	}
}

// trustedCAGroup names the certificates gw trusts as CAs (sorted, joined):
// the part of a snapshot's certificates that differs between gateways with
// the same APIs, so prepare does not hand one gateway's CAs to another.
func trustedCAGroup(m *model, gw string) string {
	var ids []string
	for _, k := range m.gatewayCAs.keysWithPrefix(gw + "/") {
		if _, cid, _ := strings.Cut(k, "/"); m.gatewayCAs[k].Props.IsTrusted {
			if _, ok := m.certificates[cid]; ok {
				ids = append(ids, cid)
			}
		}
	}
	return strings.Join(ids, "/") // keysWithPrefix is sorted
}
