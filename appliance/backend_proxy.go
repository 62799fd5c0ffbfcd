package appliance

import (
	"fmt"
	"net"
	"net/url"

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
	return netstack.NewUpstreamProxy(net.JoinHostPort(u.Hostname(), port), p.Username, p.Password), nil
}

// setProxy sends b's requests through p: over a CONNECT tunnel for https.
func (b *backendURL) setProxy(p *netstack.UpstreamProxy) {
	b.proxy = p
	if b.tls != nil {
		b.tls = b.tls.Via(p)
	}
}

// viaProxy returns b reached through the chosen backend entity's proxy (for
// a redirect to another URL), or b itself when there is no proxy. The TLS
// settings of such URLs are shared per Compiled (bounded as runtimeTLS), so
// their tunnels are pooled.
func (st *reqState) viaProxy(b *backendURL) *backendURL {
	m := st.chosen
	if m == nil || m.single == nil || m.single.proxy == nil || b.proxy != nil {
		return b
	}
	p := m.single.proxy
	c := *b
	c.proxy = p
	if b.tls != nil {
		c.tls = st.cfg.runtimeTLSVia(b, p)
	}
	return &c
}

// runtimeTLSVia is runtimeTLS through proxy p.
func (c *Compiled) runtimeTLSVia(b *backendURL, p *netstack.UpstreamProxy) *netstack.UpstreamTLS {
	key := "via|" + fmt.Sprintf("%p", p) + "|" + b.addr + "|" + b.hostname
	if t, ok := c.runtimeTLSs.Load(key); ok {
		return t.(*netstack.UpstreamTLS)
	}
	t := c.upstreamTLS(b, nil, nil, netstack.HTTP1Only).Via(p)
	if c.runtimeTLSn.Add(1) > maxRuntimeTLS {
		return t
	}
	got, _ := c.runtimeTLSs.LoadOrStore(key, t)
	return got.(*netstack.UpstreamTLS)
}
