package appliance

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apimgw/apimgw/netstack"
	"github.com/apimgw/apimgw/policy"
	"github.com/apimgw/apimgw/wire"
	"github.com/apimgw/apimgw/wire/urltemplate"
)

// Compiled is one snapshot made ready to serve: the routing table, the
// subscriptions by key digest, and a policy pipeline per operation and product.
// It is immutable once built and shared by every event loop through one atomic
// pointer; a request keeps the Compiled it started with.
type Compiled struct {
	Snapshot *wire.Snapshot
	// Warnings name what compiled but cannot work (calls to it fail with a
	// clear error), e.g. a backend URL whose scheme is not supported yet.
	Warnings []string
	// CompiledAt and CompileTime describe the compilation.
	CompiledAt  time.Time
	CompileTime time.Duration

	apis     map[string]*apiRoute // by path ("" for the root)
	maxDepth int                  // most path segments of any API path
	subs     map[[32]byte]*subscription
	products map[string]*product
	backends map[string]*backendURL // parsed base URLs, by URL string

	trust    *backendTrust             // roots and client certificates for https backends
	entities map[string]*backendEntity // backend entities by id (backends.go)
	certTLS  sync.Map                  // certTLSKey → *netstack.UpstreamTLS (client_cert.go)
	certTLSn atomic.Int64              // entries stored, at most maxCertTLS
}

type apiRoute struct {
	api        *wire.API
	id         string
	path       string // "/hybrid" ("" for the root)
	keyHeader  string
	keyQuery   string
	subRequire bool
	// http and https: the schemes the API's protocols allow (both when the
	// snapshot lists none).
	http, https bool
	ops         []*opRoute // most specific first
	products    []*product // products containing this API
}

type opRoute struct {
	op     *wire.Operation
	method string
	tmpl   *urltemplate.Template
	// pipelines[0] is for calls without a product; pipelines[i+1] for the
	// API's products[i].
	pipelines []*policy.Pipeline
}

type product struct {
	id        string
	name      string
	published bool
	apis      map[string]bool
}

type subscription struct {
	id, name string
	active   bool
	kind     string // wire.ScopeAll, wire.ScopeAPI, wire.ScopeProduct
	scopeID  string
}

// backendURL is a parsed http(s) base URL.
type backendURL struct {
	raw    string
	addr   string // host:port to dial
	host   string // Host header value
	path   string // base path without trailing slash
	https  bool
	errMsg string // why it cannot be used, if it cannot

	hostname  string                  // host without port, for SNI and the certificate name
	tls       *netstack.UpstreamTLS   // https: how to reach it
	errStatus int                     // the status for errMsg (0: 502)
	entity    *backendEntity          // the backend entity it belongs to, if any
	proxy     *netstack.UpstreamProxy // the backend entity's proxy, if any (backend_proxy.go)
	tlsKey    string                  // digest of tls's identity (backend_tls.go sharedTLS)
	mode      netstack.HTTP2Mode      // the HTTP version tls speaks (a backend entity's httpVersion)
	// tlsSettings are the backend entity's TLS checks (nil: default), for
	// connections that also present a policy's client certificate.
	tlsSettings *wire.BackendTLS
}

// CompileError says why a snapshot cannot be served; it names the part.
type CompileError struct {
	Where string // e.g. "apis/echo/operations/get policy"
	Err   error
}

func (e *CompileError) Error() string { return "compile " + e.Where + ": " + e.Err.Error() }
func (e *CompileError) Unwrap() error { return e.Err }

// compile is Compile (see backend_tls.go).
func compile(snap *wire.Snapshot, state *policy.State, o Options) (*Compiled, error) {
	start := time.Now()
	if err := snap.Validate(); err != nil {
		return nil, &CompileError{Where: "snapshot", Err: err}
	}
	c := &Compiled{Snapshot: snap, apis: map[string]*apiRoute{}, subs: map[[32]byte]*subscription{},
		products: map[string]*product{}, backends: map[string]*backendURL{}}
	if err := c.prepareTrust(snap, o); err != nil {
		return nil, err
	}

	opts := policy.Options{NamedValues: map[string]policy.NamedValue{}, Fragments: map[string]policy.Source{},
		Backends: map[string]string{}, State: state, Certificates: c.policyCertificates()}
	for _, nv := range snap.NamedValues {
		opts.NamedValues[nv.DisplayName] = policy.NamedValue{Value: nv.Value, Secret: nv.Secret}
	}
	for _, f := range snap.PolicyFragments {
		opts.Fragments[f.ID] = policy.Source{Name: "policyFragments/" + f.ID, XML: []byte(f.Value)}
	}
	if err := c.compileEntities(snap, o, opts.Backends); err != nil { // backends.go
		return nil, err
	}
	cp := policy.NewCompiler(opts)
	compile := func(scope policy.Scope, name, xml string) (*policy.Policy, error) {
		if strings.TrimSpace(xml) == "" {
			return nil, nil
		}
		p, err := cp.Compile(scope, policy.Source{Name: name, XML: []byte(xml)})
		if err != nil {
			return nil, &CompileError{Where: name + " policy", Err: err}
		}
		return p, nil
	}
	global, err := compile(policy.ScopeGlobal, "policy", snap.Policy)
	if err != nil {
		return nil, err
	}
	productPolicies := map[string]*policy.Policy{}
	for i := range snap.Products {
		p := &snap.Products[i]
		pr := &product{id: p.ID, name: p.DisplayName, published: p.State == "" || p.State == "published", apis: map[string]bool{}}
		if pr.name == "" {
			pr.name = p.ID
		}
		for _, a := range p.APIs {
			pr.apis[a] = true
		}
		c.products[p.ID] = pr
		if productPolicies[p.ID], err = compile(policy.ScopeProduct, "products/"+p.ID, p.Policy); err != nil {
			return nil, err
		}
	}
	runtimeURLs := false // a policy sets a base-url: parsed on the event loop
	for i := range snap.APIs {
		a := &snap.APIs[i]
		r := &apiRoute{api: a, id: a.ID, keyHeader: a.SubscriptionKeyParameterNames.Header,
			keyQuery: a.SubscriptionKeyParameterNames.Query, subRequire: a.SubscriptionRequired}
		if p := strings.Trim(a.Path, "/"); p != "" {
			r.path = "/" + p
		}
		r.http, r.https = len(a.Protocols) == 0, len(a.Protocols) == 0
		for _, p := range a.Protocols {
			r.http = r.http || p == "http"
			r.https = r.https || p == "https"
		}
		if r.keyHeader == "" {
			r.keyHeader = wire.DefaultKeyHeader
		}
		if r.keyQuery == "" {
			r.keyQuery = wire.DefaultKeyQuery
		}
		if dup, ok := c.apis[r.path]; ok {
			return nil, &CompileError{Where: "apis/" + a.ID, Err: fmt.Errorf("path %q is also the path of API %s", a.Path, dup.id)}
		}
		c.apis[r.path] = r
		if d := strings.Count(r.path, "/"); d > c.maxDepth {
			c.maxDepth = d
		}
		if a.ServiceURL != "" {
			if b := c.backend(a.ServiceURL); b.errMsg != "" {
				c.Warnings = append(c.Warnings, "apis/"+a.ID+": "+b.errMsg+" (calls answer 502)")
			}
		}
		for _, pid := range sortedProducts(snap.Products, a.ID) {
			r.products = append(r.products, c.products[pid])
		}
		apiPol, err := compile(policy.ScopeAPI, "apis/"+a.ID, a.Policy)
		if err != nil {
			return nil, err
		}
		schemas := apiSchemas(a, snap.Schemas)
		for j := range a.Operations {
			o := &a.Operations[j]
			or := &opRoute{op: o, method: strings.ToUpper(o.Method)}
			if or.tmpl, err = urltemplate.Parse(o.URLTemplate); err != nil {
				return nil, &CompileError{Where: "apis/" + a.ID + "/operations/" + o.ID, Err: err}
			}
			opPol, err := compile(policy.ScopeOperation, "apis/"+a.ID+"/operations/"+o.ID, o.Policy)
			if err != nil {
				return nil, err
			}
			or.pipelines = append(or.pipelines, cp.Link(global, nil, apiPol, opPol))
			for _, pr := range r.products {
				or.pipelines = append(or.pipelines, cp.Link(global, productPolicies[pr.id], apiPol, opPol))
			}
			for _, pl := range or.pipelines {
				runtimeURLs = runtimeURLs || pl.SetsBaseURL()
			}
			setResponseExamples(or.pipelines, o)
			setContentSchemas(or.pipelines, schemas)
			r.ops = append(r.ops, or)
		}
		sort.SliceStable(r.ops, func(i, j int) bool { return moreSpecific(r.ops[i], r.ops[j]) })
	}
	if runtimeURLs {
		// An https base-url a policy sets is given its TLS settings on the
		// event loop (parseRuntime), and the root pool must not be read from
		// disk there: build it now.
		c.trust.roots()
	}
	for i := range snap.Subscriptions {
		s := &snap.Subscriptions[i]
		kind, id, err := wire.ParseScope(s.Scope)
		if err != nil {
			return nil, &CompileError{Where: "subscriptions/" + s.ID, Err: err}
		}
		sub := &subscription{id: s.ID, name: s.DisplayName, active: s.State == wire.SubscriptionActive, kind: kind, scopeID: id}
		if sub.name == "" {
			sub.name = s.ID
		}
		for _, d := range []string{s.PrimaryKeySHA256, s.SecondaryKeySHA256} {
			if d == "" {
				continue
			}
			var k [32]byte
			if n, err := hex.Decode(k[:], []byte(d)); err != nil || n != 32 {
				return nil, &CompileError{Where: "subscriptions/" + s.ID, Err: fmt.Errorf("key digest %q is not 64 hex digits", d)}
			}
			c.subs[k] = sub
		}
	}
	c.CompiledAt = time.Now()
	c.CompileTime = time.Since(start)
	return c, nil
}

func sortedProducts(products []wire.Product, apiID string) []string {
	var ids []string
	for _, p := range products {
		for _, a := range p.APIs {
			if a == apiID {
				ids = append(ids, p.ID)
				break
			}
		}
	}
	sort.Strings(ids)
	return ids
}

// moreSpecific orders operations so that the first match is the best, as
// APIM picks it: the more specific template first (urltemplate.Compare:
// literal segments over text around parameters over parameters over the
// wildcard), then a fixed method before "*".
func moreSpecific(a, b *opRoute) bool {
	if c := urltemplate.Compare(a.tmpl, b.tmpl); c != 0 {
		return c < 0
	}
	return a.method != "*" && b.method == "*"
}

// backend parses (once per snapshot) a service or backend URL.
func (c *Compiled) backend(raw string) *backendURL {
	if b, ok := c.backends[raw]; ok {
		return b
	}
	b := parseBackend(raw)
	if b.errMsg == "" && b.https {
		b.tls = c.upstreamTLS(b, nil, nil, netstack.HTTP1Only)
	}
	c.backends[raw] = b
	return b
}

// parseBackend parses an http(s) base URL; errMsg says why it cannot be used.
func parseBackend(raw string) *backendURL {
	b := &backendURL{raw: raw}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		b.errMsg = fmt.Sprintf("backend URL %q: %v", raw, err)
		return b
	case u.Scheme != "http" && u.Scheme != "https":
		b.errMsg = fmt.Sprintf("backend URL %q: scheme must be http or https", raw)
		return b
	case u.Host == "":
		b.errMsg = fmt.Sprintf("backend URL %q has no host", raw)
		return b
	}
	b.https = u.Scheme == "https"
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "80"
		if b.https {
			port = "443"
		}
	}
	b.addr = net.JoinHostPort(host, port)
	b.host = u.Host
	b.path = strings.TrimSuffix(u.EscapedPath(), "/")
	b.hostname = host
	return b
}

// keyDigest is the binary SHA-256 of a subscription key.
func keyDigest(key []byte) [32]byte { return sha256.Sum256(key) }
