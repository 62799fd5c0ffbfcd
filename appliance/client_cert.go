package appliance

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"sync"

	"github.com/apimgw/apimgw/netstack"
)

// Client certificates that policies choose (authentication-certificate):
// for the forward request, TLS settings per (backend address, host,
// certificate) made once per Compiled so that connections presenting the
// same certificate are pooled; for send-request, one HTTP client per
// certificate. The certificates are the snapshot's (control plane
// /certificates with a private key, the same ones backend entities present
// for mTLS) or PKCS#12 bytes a policy read, which the policy package
// caches, so their pointers are stable.

// policyCertificates gives the policy compiler the snapshot's client
// certificates by id.
func (c *Compiled) policyCertificates() map[string]*tls.Certificate {
	out := make(map[string]*tls.Certificate, len(c.trust.clients))
	for id, kp := range c.trust.clients {
		kp := kp
		out[id] = &kp
	}
	return out
}

type certTLSKey struct {
	addr, host string
	cert       *tls.Certificate
}

// maxCertTLS bounds a Compiled's certTLS cache; past it the settings are
// looked up in sharedTLS each time (a digest of the certificate per call).
const maxCertTLS = 1024

// clientCertTLS returns the TLS settings that reach https backend b
// presenting cert, with b's own checks (a backend entity's
// validateCertificateChain/Name) and through b's proxy, if any. They are
// shared across snapshots by TLS identity (sharedTLS), so connections
// presenting cert are pooled and their sessions resumed; the identity's
// digest is computed once per (backend, certificate) and Compiled, not per
// request.
func (c *Compiled) clientCertTLS(b *backendURL, cert *tls.Certificate) *netstack.UpstreamTLS {
	key := certTLSKey{addr: b.addr, host: b.hostname, cert: cert}
	if t, ok := c.certTLS.Load(key); ok {
		return t.(*netstack.UpstreamTLS)
	}
	id, t := c.sharedUpstreamTLS(b, b.tlsSettings, []tls.Certificate{*cert}, b.mode)
	if p := b.proxy; p != nil {
		pk, _ := proxyKeys.Load(p)
		ks, _ := pk.(string)
		t = sharedTLS.get(id+"|via|"+ks, func() *netstack.UpstreamTLS { return t.Via(p) })
	}
	if c.certTLSn.Add(1) <= maxCertTLS {
		c.certTLS.Store(key, t)
	}
	return t
}

// certClients holds the HTTP clients of send-request calls that trust a
// snapshot's roots or present a certificate, at most maxCertClients (then
// the set starts over; the old clients' idle connections are closed).
type certClients struct {
	mu      sync.Mutex
	clients map[clientKey]*http.Client
}

type clientKey struct {
	roots *x509.CertPool
	cert  *tls.Certificate
}

const maxCertClients = 256

func (p *callPool) clientFor(roots *x509.CertPool, cert *tls.Certificate) *http.Client {
	if roots == nil && cert == nil {
		return p.client
	}
	k := clientKey{roots, cert}
	p.certs.mu.Lock()
	defer p.certs.mu.Unlock()
	if cl := p.certs.clients[k]; cl != nil {
		return cl
	}
	tr := p.client.Transport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if cert != nil {
		tr.TLSClientConfig.Certificates = []tls.Certificate{*cert}
	}
	cl := &http.Client{Transport: tr, CheckRedirect: p.client.CheckRedirect}
	if len(p.certs.clients) >= maxCertClients {
		for _, old := range p.certs.clients {
			old.CloseIdleConnections()
		}
		p.certs.clients = nil
	}
	if p.certs.clients == nil {
		p.certs.clients = map[clientKey]*http.Client{}
	}
	p.certs.clients[k] = cl
	return cl
}
