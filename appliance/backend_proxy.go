package appliance

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"sync"

	"github.com/apimgw/apimgw/netstack"
	"github.com/apimgw/apimgw/wire"
)

// Backend entity proxies (APIM's backend proxy: url, username, password).
// An http backend gets its requests through the proxy in absolute form with
// Proxy-Authorization; an https backend is reached through a CONNECT tunnel
// (netstack/upstream_proxy.go), TLS to the backend inside it: SNI, the
// certificate check and client certificates are the backend's. Redirects
// that forward-request follows go through the same proxy. The password is
// only inside the netstack.UpstreamProxy (never logged or shown).

// ErrBackendProxy: a backend entity's proxy cannot be used.
var ErrBackendProxy = fmt.Errorf("appliance: backend proxy")

// compileProxy makes the netstack proxy for a backend entity's proxy
// (wire.Validate has checked it: an http URL with a host).
func compileProxy(p *wire.BackendProxy) (*netstack.UpstreamProxy, error) {
	u, err := url.Parse(p.URL)
	if err != nil || u.Scheme != "http" || u.Hostname() == "" {
		return nil, fmt.Errorf("%w: url %q is not an http:// URL with a host", ErrBackendProxy, p.URL)
	}
	port := u.Port()
	if port == "" {
		port = "80"
	}
	addr := net.JoinHostPort(u.Hostname(), port)
	sum := sha256.Sum256([]byte(p.Username + "\x00" + p.Password))
	key := addr + "|" + hex.EncodeToString(sum[:])
	sharedProxies.mu.Lock()
	defer sharedProxies.mu.Unlock()
	if up, ok := sharedProxies.m[key]; ok {
		return up, nil
	}
	if len(sharedProxies.m) >= maxSharedTLS {
		clear(sharedProxies.m)
	}
	up := netstack.NewUpstreamProxy(addr, p.Username, p.Password)
	sharedProxies.m[key] = up
	proxyKeys.Store(up, key)
	return up, nil
}

// sharedProxies keeps one *netstack.UpstreamProxy per proxy identity
// (address, and a digest of username and password) across snapshots, as
// sharedTLS does for TLS: the proxy's pooled connections survive a config
// change. proxyKeys maps each back to its key (for Via's identity).
var (
	sharedProxies = struct {
		mu sync.Mutex
		m  map[string]*netstack.UpstreamProxy
	}{m: map[string]*netstack.UpstreamProxy{}}
	proxyKeys sync.Map // *netstack.UpstreamProxy → its sharedProxies key
)

// setProxy sends b's requests through p: over a CONNECT tunnel for https
// (shared across snapshots with the same TLS and proxy identity).
func (b *backendURL) setProxy(p *netstack.UpstreamProxy) {
	b.proxy = p
	if b.tls != nil {
		t := b.tls
		pk, _ := proxyKeys.Load(p)
		b.tlsKey = b.tlsKey + "|via|" + pk.(string)
		b.tls = sharedTLS.get(b.tlsKey, func() *netstack.UpstreamTLS { return t.Via(p) })
	}
}

// viaProxy returns b reached through the chosen backend entity's proxy (for
// a redirect to another URL), or b itself when there is no proxy. Its TLS
// settings are shared (sharedTLS), so its tunnels are pooled.
func (st *reqState) viaProxy(b *backendURL) *backendURL {
	m := st.chosen
	if m == nil || m.single == nil || m.single.proxy == nil || b.proxy != nil {
		return b
	}
	c := *b
	c.setProxy(m.single.proxy) // b's TLS is runtimeTLS's: shared, so is the tunnel
	return &c
}
