package policy

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"sync"
)

// authentication-certificate authenticates to the backend with a TLS client
// certificate: one of the snapshot's certificates (the control plane's
// /certificates with a private key, Options.Certificates) named by
// certificate-id or by thumbprint (SHA-1 of the certificate, hex, any case),
// or PKCS#12 bytes given in body (a byte[], or a base64 string) with their
// password. All attributes allow expressions, as in APIM; literal ids and
// thumbprints are checked at compile time. Inbound (it sets
// Context.Upstream.ClientCert, which the forward uses over https), and as a
// child of send-request (HTTPCall.ClientCert). A certificate that cannot be
// found or read fails the policy into on-error.
func init() {
	register("authentication-certificate", inInbound, []string{"thumbprint", "certificate-id", "body", "password"}, compileAuthCert)
}

type certSpec struct {
	thumbprint, id, body, password prop
	byID, byThumb                  map[string]*tls.Certificate
}

type authCert struct{ spec *certSpec }

func compileAuthCert(b *builder, n *Node) {
	b.noText(n)
	b.noChildren(n)
	m := b.meta(n)
	b.emit(instr{op: opStep, step: &authCert{spec: compileCertSpec(b, n)}, meta: m})
}

func compileCertSpec(b *builder, n *Node) *certSpec {
	s := &certSpec{
		thumbprint: b.attrProp(n, "thumbprint", false),
		id:         b.attrProp(n, "certificate-id", false),
		body:       b.attrProp(n, "body", false),
		password:   b.attrProp(n, "password", false),
	}
	s.byID, s.byThumb = b.cp.opts.Certificates, b.cp.thumbprints()
	set := 0
	for _, p := range []prop{s.thumbprint, s.id, s.body} {
		if p.set {
			set++
		}
	}
	switch {
	case set == 0:
		b.errorf(n, ErrInvalid, "one of the attributes \"thumbprint\", \"certificate-id\" or \"body\" is required")
	case set > 1:
		b.errorf(n, ErrInvalid, "give only one of the attributes \"thumbprint\", \"certificate-id\" and \"body\"")
	case s.password.set && !s.body.set:
		b.errorf(n, ErrInvalid, "attribute \"password\" goes with \"body\" (a certificate of the snapshot needs none)")
	}
	if b.cp.opts.Offline {
		return s
	}
	if s.id.set && s.id.e == nil && !s.id.bad {
		if id := strings.TrimSpace(s.id.lit.s); s.byID[id] == nil {
			b.errorf(n, ErrInvalid, "certificate-id %q is not a certificate with a private key in this configuration (control plane /certificates)", id)
		}
	}
	if s.thumbprint.set && s.thumbprint.e == nil && !s.thumbprint.bad {
		if t := normThumb(s.thumbprint.lit.s); s.byThumb[t] == nil {
			b.errorf(n, ErrInvalid, "thumbprint %q is not the thumbprint of a certificate with a private key in this configuration (control plane /certificates)", t)
		}
	}
	return s
}

// thumbprints indexes Options.Certificates by SHA-1 thumbprint (upper-case
// hex), made once per Compiler.
func (cp *Compiler) thumbprints() map[string]*tls.Certificate {
	if cp.thumbs == nil {
		cp.thumbs = map[string]*tls.Certificate{}
		for _, c := range cp.opts.Certificates {
			if c != nil && len(c.Certificate) > 0 {
				sum := sha1.Sum(c.Certificate[0])
				cp.thumbs[strings.ToUpper(hex.EncodeToString(sum[:]))] = c
			}
		}
	}
	return cp.thumbs
}

func normThumb(s string) string {
	return strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), ":", ""))
}

func (s *authCert) run(c *Context) (flow, error) {
	cert, err := s.spec.resolve(c)
	if err != nil {
		return flowNext, err
	}
	c.Upstream.ClientCert = cert
	return flowNext, nil
}

// resolve finds or reads the certificate.
func (s *certSpec) resolve(c *Context) (*tls.Certificate, error) {
	switch {
	case s.id.set:
		id, err := s.id.str(c)
		if err != nil {
			return nil, err
		}
		if cert := s.byID[strings.TrimSpace(id)]; cert != nil {
			return cert, nil
		}
		return nil, certErr("Certificate with id '" + id + "' was not found (or has no private key).")
	case s.thumbprint.set:
		t, err := s.thumbprint.str(c)
		if err != nil {
			return nil, err
		}
		if cert := s.byThumb[normThumb(t)]; cert != nil {
			return cert, nil
		}
		return nil, certErr("Certificate with thumbprint '" + normThumb(t) + "' was not found (or has no private key).")
	}
	v, err := s.body.value(c)
	if err != nil {
		return nil, err
	}
	var raw []byte
	if v.k == kString {
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v.s))
		if err != nil {
			return nil, certErr("authentication-certificate: body is a string but not base64: " + err.Error())
		}
		raw = b
	} else if raw, err = bytesArg("body", v); err != nil {
		return nil, err
	}
	pw := ""
	if s.password.set {
		if pw, err = s.password.str(c); err != nil {
			return nil, err
		}
	}
	return c.pipe.state.certs.load(raw, pw)
}

func certErr(msg string) error { return ReasonError("", msg, ErrEval) }

// certCache keeps the certificates read from body bytes (PKCS#12 parsing
// costs milliseconds, and the appliance pools connections per certificate),
// keyed by the SHA-256 of bytes and password, at most maxBodyCerts.
type certCache struct {
	mu    sync.Mutex
	certs map[[32]byte]*tls.Certificate
}

const maxBodyCerts = 256

func (cc *certCache) load(raw []byte, password string) (*tls.Certificate, error) {
	h := sha256.New()
	h.Write(raw)
	h.Write([]byte{0})
	h.Write([]byte(password))
	var key [32]byte
	h.Sum(key[:0])
	cc.mu.Lock()
	cert := cc.certs[key]
	cc.mu.Unlock()
	if cert != nil {
		return cert, nil
	}
	cv, err := loadCertificate(raw, password)
	if err != nil {
		return nil, certErr("authentication-certificate: the body is not a usable certificate: " + err.Error())
	}
	if cv.key == nil {
		return nil, certErr("authentication-certificate: the body holds a certificate without its private key")
	}
	cert = &tls.Certificate{Certificate: [][]byte{cv.cert.Raw}, PrivateKey: cv.key, Leaf: cv.cert}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.certs == nil || len(cc.certs) >= maxBodyCerts {
		cc.certs = map[[32]byte]*tls.Certificate{} // start over: bounded, and rarely more than a few
	}
	cc.certs[key] = cert
	return cert, nil
}
