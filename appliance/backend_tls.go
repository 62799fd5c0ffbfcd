package appliance

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/apimgw/apimgw/netstack"
	"github.com/apimgw/apimgw/policy"
	"github.com/apimgw/apimgw/wire"
)

// Options tune Compile beyond what the snapshot says.
type Options struct {
	// BackendCAFile is env.conf's backend.tls.ca: a PEM bundle trusted for
	// https backends in addition to the system roots and the CAs the
	// snapshot marks trusted. "" means none.
	BackendCAFile string
	// Breakers keeps circuit-breaker state across snapshots (pass the same
	// one every time); nil means the process-wide default.
	Breakers *Breakers
}

// Compile checks and compiles a snapshot with default Options. state carries
// rate-limit and quota counters across snapshots (pass the same State every
// time). It is the dry run the sync agent and standalone mode call before
// swapping a snapshot in: on any error nothing is served from it.
func Compile(snap *wire.Snapshot, state *policy.State) (*Compiled, error) {
	return CompileWith(snap, state, Options{})
}

// CompileWith is Compile with Options.
func CompileWith(snap *wire.Snapshot, state *policy.State, o Options) (*Compiled, error) {
	return compile(snap, state, o)
}

// ErrBackendTLS: the trust or client-certificate material for https
// backends cannot be used (a bad env.conf bundle, a certificate without its
// key).
var ErrBackendTLS = errors.New("appliance: backend tls")

// backendTrust is what every https backend of one Compiled trusts and can
// present.
type backendTrust struct {
	extra   [][]byte                   // checked PEM trusted beyond the system pool: env.conf bundle, trusted CAs
	digest  string                     // of extra
	clients map[string]tls.Certificate // snapshot certificates with keys, by id

	once sync.Once
	pool *x509.CertPool
}

// roots is the root pool: the system roots, the env.conf bundle and the
// snapshot's trusted CAs. It is built on first use, never on an event loop:
// at compile for an https backend or for a policy that sets a base-url (its
// https URL gets TLS settings on the loop), on a call worker for a
// send-request. A gateway with plain-http backends only never reads or keeps
// the system's CA bundle (some 260 KB of heap).
func (t *backendTrust) roots() *x509.CertPool {
	t.once.Do(func() {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		for _, pem := range t.extra {
			pool.AppendCertsFromPEM(pem)
		}
		t.pool = pool
	})
	return t.pool
}

// prepareTrust checks the env.conf bundle and the snapshot's trusted CAs
// (the pool itself is built by roots, on first use) and parses the client
// certificates.
func (c *Compiled) prepareTrust(snap *wire.Snapshot, o Options) error {
	h := sha256.New()
	t := &backendTrust{clients: map[string]tls.Certificate{}}
	if o.BackendCAFile != "" {
		pem, err := os.ReadFile(o.BackendCAFile)
		if err != nil {
			return &CompileError{Where: "env.conf backend.tls.ca", Err: fmt.Errorf("%w: %v", ErrBackendTLS, err)}
		}
		if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			return &CompileError{Where: "env.conf backend.tls.ca", Err: fmt.Errorf("%w: %s holds no PEM certificate", ErrBackendTLS, o.BackendCAFile)}
		}
		t.extra = append(t.extra, pem)
		h.Write(pem)
	}
	for _, cert := range snap.Certificates {
		where := "certificates/" + cert.ID
		if cert.TrustedCA {
			pem := []byte(cert.CertificatePEM)
			if !x509.NewCertPool().AppendCertsFromPEM(pem) {
				return &CompileError{Where: where, Err: fmt.Errorf("%w: no PEM certificate to trust", ErrBackendTLS)}
			}
			t.extra = append(t.extra, pem)
			h.Write([]byte{0})
			h.Write(pem)
		}
		if cert.PrivateKeyPEM != "" {
			kp, err := tls.X509KeyPair([]byte(cert.CertificatePEM), []byte(cert.PrivateKeyPEM))
			if err != nil {
				// The error text of X509KeyPair never contains key material.
				return &CompileError{Where: where, Err: fmt.Errorf("%w: client certificate: %v", ErrBackendTLS, err)}
			}
			t.clients[cert.ID] = kp
		}
	}
	t.digest = hex.EncodeToString(h.Sum(nil))
	c.trust = t
	return nil
}

// upstreamTLS makes the TLS settings for an https backend URL: SNI and the
// name checked are the URL's host; tls (a backend entity's settings, nil for
// a plain service URL) may turn the chain or name check off; certs are
// client certificates to present; mode is the backend entity's HTTP version.
//
// The result is shared with earlier snapshots that had the same TLS identity
// (sharedTLS), so a new snapshot keeps their pooled connections and TLS
// sessions.
func (c *Compiled) upstreamTLS(b *backendURL, bt *wire.BackendTLS, certs []tls.Certificate, mode netstack.HTTP2Mode) *netstack.UpstreamTLS {
	// The pool, now and not on an event loop, even when an earlier
	// snapshot's settings are shared: a request-time identity of this
	// backend (a policy's client certificate) builds its settings from it.
	c.trust.roots()
	key, t := c.sharedUpstreamTLS(b, bt, certs, mode)
	b.tlsKey, b.mode = key, mode
	return t
}

// sharedUpstreamTLS is upstreamTLS without recording the identity in b: it
// returns the identity's key and its shared settings. Request-time callers
// (a policy's client certificate) use it, since b is shared by requests.
func (c *Compiled) sharedUpstreamTLS(b *backendURL, bt *wire.BackendTLS, certs []tls.Certificate, mode netstack.HTTP2Mode) (string, *netstack.UpstreamTLS) {
	chain, name := true, true
	if bt != nil {
		if bt.ValidateCertificateChain != nil {
			chain = *bt.ValidateCertificateChain
		}
		if bt.ValidateCertificateName != nil {
			name = *bt.ValidateCertificateName
		}
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s|%s|%t|%t|%s|h%d", b.addr, b.hostname, chain, name, c.trust.digest, mode)
	for _, kp := range certs {
		for _, der := range kp.Certificate {
			h.Write([]byte{0})
			h.Write(der)
		}
	}
	key := hex.EncodeToString(h.Sum(nil))
	return key, sharedTLS.get(key, func() *netstack.UpstreamTLS {
		return c.newUpstreamTLS(b, chain, name, certs, mode)
	})
}

// newUpstreamTLS makes the TLS settings upstreamTLS shares.
func (c *Compiled) newUpstreamTLS(b *backendURL, chain, name bool, certs []tls.Certificate, mode netstack.HTTP2Mode) *netstack.UpstreamTLS {
	cfg := &tls.Config{ServerName: b.hostname, RootCAs: c.trust.roots(), Certificates: certs}
	if !chain || !name {
		// crypto/tls checks both or neither: check what is asked ourselves.
		cfg.InsecureSkipVerify = true
		roots, host := c.trust.roots(), b.hostname
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			return verifyPartial(cs, roots, host, chain, name)
		}
	}
	return netstack.NewUpstreamTLSMode(b.addr, cfg, mode)
}

// maxSharedTLS bounds sharedTLS; beyond it the set starts again (the
// connections of a dropped entry stay pooled until they idle out).
const maxSharedTLS = 4096

// tlsIdentities keeps one *netstack.UpstreamTLS per TLS identity (address,
// SNI name, checks, trusted CAs, client certificates, proxy) across
// snapshots: the engine pools connections and caches TLS sessions per
// *UpstreamTLS, so a config change that leaves a backend's TLS as it was
// keeps its connections and resumes its sessions instead of a full
// handshake per connection. The key is a digest: no key material is kept
// in it. Safe for concurrent use.
type tlsIdentities struct {
	mu sync.Mutex
	m  map[string]*netstack.UpstreamTLS
}

var sharedTLS = &tlsIdentities{m: map[string]*netstack.UpstreamTLS{}}

func (s *tlsIdentities) get(key string, make func() *netstack.UpstreamTLS) *netstack.UpstreamTLS {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.m[key]; ok {
		return t
	}
	if len(s.m) >= maxSharedTLS {
		clear(s.m)
	}
	t := make()
	s.m[key] = t
	return t
}

// verifyPartial checks the chain (without the name) and/or the name
// (without the chain) of a backend's certificate.
func verifyPartial(cs tls.ConnectionState, roots *x509.CertPool, host string, chain, name bool) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("the backend sent no certificate")
	}
	leaf := cs.PeerCertificates[0]
	if chain {
		inter := x509.NewCertPool()
		for _, ic := range cs.PeerCertificates[1:] {
			inter.AddCert(ic)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter}); err != nil {
			return fmt.Errorf("failed to verify certificate: %w", err)
		}
	}
	if name {
		if err := leaf.VerifyHostname(host); err != nil {
			return fmt.Errorf("failed to verify certificate: %w", err)
		}
	}
	return nil
}

// runtimeTLS returns the TLS settings for an https URL computed by a policy
// at run time (default validation): shared per identity (sharedTLS, bounded)
// so that its connections are pooled.
func (c *Compiled) runtimeTLS(b *backendURL) *netstack.UpstreamTLS {
	return c.upstreamTLS(b, nil, nil, netstack.HTTP1Only)
}

// parseRuntime parses a base URL a policy computed (the connection caches it).
func (c *Compiled) parseRuntime(raw string) *backendURL {
	b := parseBackend(raw)
	if b.errMsg == "" && b.https {
		b.tls = c.runtimeTLS(b)
	}
	return b
}

// forwardTo sends the exchange to b (over TLS for https).
func (b *backendURL) forwardTo(x *netstack.Exchange) {
	switch {
	case b.tls != nil: // through the proxy's CONNECT tunnel when it has one
		x.ForwardTLS(b.tls)
	case b.proxy != nil:
		x.ForwardProxy(b.proxy, b.addr)
	default:
		x.Forward(b.addr)
	}
}
