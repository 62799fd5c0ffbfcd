package appliance

import (
	"crypto/tls"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/apimgw/apimgw/netstack"
	"github.com/apimgw/apimgw/policy"
	"github.com/apimgw/apimgw/wire"
)

// Backend entities (APIM's /backends): a single service with its TLS
// settings, client certificates, credentials and circuit breaker, or a
// load-balanced pool of single services. set-backend-service backend-id names
// one; the handler resolves it per request (pickBackend).

// backendEntity is one compiled backend entity.
type backendEntity struct {
	id string
	// single: Type Single — its URL, with the entity's TLS settings.
	single *backendURL
	// tiers: Type Pool — members grouped by priority, best (lowest) first.
	tiers []*poolTier
	// Credentials, applied to the request when this (single) backend is chosen.
	headers [][2]string // name, values joined with ","
	query   [][2]string
	authz   string // "Scheme Parameter", or ""
	breaker *breaker
	// unavailable is the answer when nothing can be chosen (tripped).
	unavailable *backendURL
}

type poolTier struct {
	members []*backendEntity
	weights []uint64
	next    atomic.Uint64 // round-robin position
}

// APIM's 503 for a tripped backend or a pool without a usable member (the
// reason text APIM's samples test for: "Backend pool … is temporarily
// unavailable").
func unavailableMsg(kind, id string) string {
	return kind + " " + id + " is temporarily unavailable"
}

// compileEntities compiles the snapshot's backend entities and fills ids
// (backend id → URL, "" for a pool) for the policy compiler.
func (c *Compiled) compileEntities(snap *wire.Snapshot, o Options, ids map[string]string) error {
	bs := o.Breakers
	if bs == nil {
		bs = defaultBreakers
	}
	c.entities = make(map[string]*backendEntity, len(snap.Backends))
	for i := range snap.Backends {
		b := &snap.Backends[i]
		where := "backends/" + b.ID
		ids[b.ID] = b.URL
		e := &backendEntity{id: b.ID}
		kind := "Backend"
		if b.Type == "Pool" {
			kind = "Backend pool"
		} else {
			u := parseBackend(b.URL)
			u.entity = e
			if h := hostCredential(b.Credentials); h != "" && u.errMsg == "" {
				// credentials.header Host: the Host header sent, and the
				// name for SNI and the certificate check.
				u.host, u.hostname = h, hostOnly(h)
			}
			var certs []tls.Certificate
			if cr := b.Credentials; cr != nil {
				for _, id := range cr.CertificateIDs {
					kp, ok := c.trust.clients[id]
					if !ok {
						return &CompileError{Where: where, Err: fmt.Errorf("%w: credentials.certificateIds: certificate %q has no private key in the snapshot", ErrBackendTLS, id)}
					}
					certs = append(certs, kp)
				}
			}
			switch {
			case u.errMsg != "":
				c.Warnings = append(c.Warnings, where+": "+u.errMsg+" (calls answer 502)")
			case u.https:
				u.tls, u.tlsSettings = c.upstreamTLS(u, b.TLS, certs, http2Mode(b.HTTPVersion)), b.TLS
			case b.HTTPVersion == "2":
				// h2c: HTTP/2 with prior knowledge to a plain-http backend.
				// Shared across snapshots like TLS identities (sharedTLS), so
				// a new configuration keeps the HTTP/2 connections.
				addr := u.addr
				u.tls = sharedTLS.get("h2c|"+addr, func() *netstack.UpstreamTLS { return netstack.NewUpstreamH2C(addr) })
				if len(certs) > 0 {
					c.Warnings = append(c.Warnings, where+": credentials.certificateIds need an https URL; no client certificate is sent to "+b.URL)
				}
			case len(certs) > 0:
				c.Warnings = append(c.Warnings, where+": credentials.certificateIds need an https URL; no client certificate is sent to "+b.URL)
			}
			if b.Proxy != nil && u.errMsg == "" {
				p, err := compileProxy(b.Proxy) // backend_proxy.go
				if err != nil {
					return &CompileError{Where: where + " proxy", Err: err}
				}
				u.setProxy(p)
			}
			e.single = u
		}
		if cr := b.Credentials; cr != nil {
			for _, name := range sortedKeys(cr.Header) {
				if strings.EqualFold(name, "host") {
					continue // applied to the URL above
				}
				e.headers = append(e.headers, [2]string{name, strings.Join(cr.Header[name], ",")})
			}
			for _, name := range sortedKeys(cr.Query) {
				for _, v := range cr.Query[name] {
					e.query = append(e.query, [2]string{name, v})
				}
			}
			if a := cr.Authorization; a != nil {
				e.authz = strings.TrimSpace(a.Scheme + " " + a.Parameter)
			}
		}
		if cb := b.CircuitBreaker; cb != nil && len(cb.Rules) > 0 {
			br, err := bs.get(b.ID, b.URL, cb.Rules[0])
			if err != nil {
				return &CompileError{Where: where + " circuitBreaker", Err: err}
			}
			e.breaker = br
		}
		e.unavailable = &backendURL{raw: b.URL, errMsg: unavailableMsg(kind, b.ID), errStatus: 503, entity: e}
		c.entities[b.ID] = e
	}
	for i := range snap.Backends {
		b := &snap.Backends[i]
		if b.Type != "Pool" {
			continue
		}
		e := c.entities[b.ID]
		members := append([]wire.PoolService(nil), b.Pool.Services...)
		sort.SliceStable(members, func(i, j int) bool { return members[i].Priority < members[j].Priority })
		var tier *poolTier
		prio := -1
		for _, m := range members {
			me := c.entities[m.ID]
			if me == nil || me.single == nil {
				return &CompileError{Where: "backends/" + b.ID + " pool", Err: fmt.Errorf("member %q must be a single backend (pools do not nest)", m.ID)}
			}
			if tier == nil || m.Priority != prio {
				tier, prio = &poolTier{}, m.Priority
				e.tiers = append(e.tiers, tier)
			}
			w := uint64(m.Weight)
			if w == 0 {
				w = 1 // APIM: members without a weight share equally
			}
			tier.members = append(tier.members, me)
			tier.weights = append(tier.weights, w)
		}
	}
	return nil
}

// http2Mode maps a backend entity's httpVersion (validated by wire) to the
// engine's mode for an https URL.
func http2Mode(v string) netstack.HTTP2Mode {
	switch v {
	case "2":
		return netstack.HTTP2Only
	case "auto":
		return netstack.HTTP2Auto
	}
	return netstack.HTTP1Only
}

// hostCredential is a Host header among a backend's credentials, or "".
func hostCredential(c *wire.BackendCredentials) string {
	if c == nil {
		return ""
	}
	for name, v := range c.Header {
		if strings.EqualFold(name, "host") && len(v) > 0 {
			return strings.TrimSpace(v[0])
		}
	}
	return ""
}

// hostOnly strips the port (and IPv6 brackets) from a Host value.
func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		return host
	}
	return strings.Trim(h, "[]")
}

func sortedKeys(m map[string][]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// choose returns the single backend to send this request to, or nil when
// the backend (or every member of the pool) is tripped. A pool takes the
// best priority that has an untripped member and goes round-robin by weight
// among its untripped members.
func (e *backendEntity) choose(now int64) *backendEntity {
	if e.single != nil {
		if e.breaker.tripped(now) {
			return nil
		}
		return e
	}
	for _, t := range e.tiers {
		var total uint64
		for i, m := range t.members {
			if !m.breaker.tripped(now) {
				total += t.weights[i]
			}
		}
		if total == 0 {
			continue
		}
		k := (t.next.Add(1) - 1) % total
		for i, m := range t.members {
			if m.breaker.tripped(now) {
				continue
			}
			if k < t.weights[i] {
				return m
			}
			k -= t.weights[i]
		}
	}
	return nil
}

// applyCredentials sets the entity's credentials on the request.
func (e *backendEntity) applyCredentials(r *policy.Request) {
	for _, h := range e.headers {
		r.Headers.Set(h[0], h[1])
	}
	for i, q := range e.query {
		if i == 0 || e.query[i-1][0] != q[0] {
			r.Query.Del(q[0])
		}
		r.Query.Add(q[0], q[1])
	}
	if e.authz != "" {
		r.Headers.Set("Authorization", e.authz)
	}
}

// pickBackend resolves where this forward goes: the backend entity
// set-backend-service named (a pool picks a member now; the member's URL
// becomes Upstream.BaseURL and its credentials are set), or the base URL.
func (st *reqState) pickBackend() *backendURL {
	pc := st.pc
	st.chosen, st.redirects, st.current = nil, 0, nil
	id := pc.Upstream.BackendID
	if id == "" {
		return st.backend(pc.Upstream.BaseURL)
	}
	e := st.cfg.entities[id]
	if e == nil {
		return st.backend(pc.Upstream.BaseURL)
	}
	var now int64
	if e.breaker != nil || e.tiers != nil {
		now = time.Now().UnixNano()
	}
	m := e.choose(now)
	if m == nil {
		st.err = "backend-unavailable"
		return e.unavailable
	}
	st.chosen = m
	pc.Upstream.BaseURL = m.single.raw
	m.applyCredentials(&pc.Request)
	return m.single
}

// backendAnswered tells the chosen backend's circuit breaker how the
// exchange went: status is the backend's status, retryAfter its Retry-After
// header.
func (st *reqState) backendAnswered(status int, retryAfter string) {
	if m := st.chosen; m != nil && m.breaker != nil {
		m.breaker.record(time.Now(), status, retryAfter, nil)
	}
}

// backendFailed tells the chosen backend's circuit breaker that the backend
// did not answer; err is the engine's reason (Exchange.Err).
func (st *reqState) backendFailed(err error) {
	if m := st.chosen; m != nil && m.breaker != nil {
		m.breaker.record(time.Now(), 0, "", err)
	}
}
