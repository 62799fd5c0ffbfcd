package controlplane

import (
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"net/url"
	"strings"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// Certificate is /certificates/{id}: APIM's certificate resource. A PUT
// carries data (base64 of a PFX/PKCS#12 file, or of PEM text: certificate(s)
// and optionally a private key) and password (for the PFX or an encrypted
// key). They are parsed at once and kept as PEM; data and password are never
// stored as given and never shown: a GET shows subject, thumbprint and
// expirationDate. The private key leaves the control plane only inside the
// snapshots of gateways whose backends use the certificate.
type Certificate struct {
	Data     string `json:"data,omitempty"`
	Password string `json:"password,omitempty"`
	KeyVault any    `json:"keyVault,omitempty"` // refused: no Key Vault here

	Subject        string    `json:"subject,omitempty"`
	Thumbprint     string    `json:"thumbprint,omitempty"`
	ExpirationDate time.Time `json:"expirationDate"`
	// CertificatePEM and PrivateKeyPEM are what the gateway needs (stored;
	// never rendered).
	CertificatePEM string `json:"certificatePem,omitempty"`
	PrivateKeyPEM  string `json:"privateKeyPem,omitempty"`
}

// CertificateAuthority is /gateways/{gw}/certificateAuthorities/{certId}:
// the gateway trusts that certificate as a CA (isTrusted) — for https
// backends, here.
type CertificateAuthority struct {
	IsTrusted bool `json:"isTrusted"`
}

var certificateKind = &kind[Certificate]{
	name: "Certificate", bucket: bucketCertificates, armType: "Microsoft.ApiManagement/service/certificates",
	table:    func(m *model) table[Certificate] { return m.certificates },
	newProps: func() *Certificate { return &Certificate{} },
	check: func(t *txn, key string, old, c *Certificate) error {
		if err := idError(key); err != nil {
			return err
		}
		if c.KeyVault != nil {
			return invalidField("properties.keyVault", "Key Vault certificates are not supported by this gateway: send data (base64 of the PFX or PEM) and password; the key is stored here and reaches gateways only in their snapshots")
		}
		if c.Data == "" {
			if old != nil && old.CertificatePEM != "" { // a PATCH without new data keeps the certificate
				c.CertificatePEM, c.PrivateKeyPEM, c.Subject, c.Thumbprint, c.ExpirationDate = old.CertificatePEM, old.PrivateKeyPEM, old.Subject, old.Thumbprint, old.ExpirationDate
				c.Password = ""
				return nil
			}
			return invalidField("properties.data", "is required: base64 of a PFX file or of PEM text")
		}
		if err := parseCertificateData(c); err != nil {
			return err
		}
		c.Data, c.Password = "", ""
		return nil
	},
	remove: func(t *txn, key string, q url.Values) error {
		var users []string
		for id, e := range t.m.backends {
			if cr := e.Props.Credentials; cr != nil && (contains(cr.CertificateIDs, key) || containsFold(cr.Certificate, t.m.certificates[key].Props.Thumbprint)) {
				users = append(users, "backend "+id)
			}
		}
		for k := range t.m.gatewayCAs {
			if _, c, _ := strings.Cut(k, "/"); c == key {
				users = append(users, "gateway certificate authority "+k)
			}
		}
		if len(users) > 0 {
			return conflict("Certificate %q cannot be deleted: it is used by %s.", key, strings.Join(users, ", "))
		}
		return nil
	},
	render: func(key string, c *Certificate) any {
		return &struct {
			Subject        string    `json:"subject"`
			Thumbprint     string    `json:"thumbprint"`
			ExpirationDate time.Time `json:"expirationDate"`
			HasPrivateKey  bool      `json:"hasPrivateKey"`
		}{c.Subject, c.Thumbprint, c.ExpirationDate, c.PrivateKeyPEM != ""}
	},
}

var gatewayCAKind = &kind[CertificateAuthority]{
	name: "Gateway certificate authority", bucket: bucketGatewayCAs, armType: "Microsoft.ApiManagement/service/gateways/certificateAuthorities",
	table:    func(m *model) table[CertificateAuthority] { return m.gatewayCAs },
	newProps: func() *CertificateAuthority { return &CertificateAuthority{} },
	parent: func(m *model, key string) error {
		g, c, _ := strings.Cut(key, "/")
		if _, ok := m.gateways[g]; !ok {
			return notFound("Gateway %q was not found.", g)
		}
		if _, ok := m.certificates[c]; !ok {
			return notFound("Certificate %q was not found.", c)
		}
		return nil
	},
	render: func(key string, c *CertificateAuthority) any { return c },
}

// parseCertificateData fills the PEM, subject, thumbprint and expiry from
// data and password. Errors name the field and never contain the data.
func parseCertificateData(c *Certificate) error {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(c.Data))
	if err != nil {
		return invalidField("properties.data", "is not base64")
	}
	var leaf *x509.Certificate
	var chain []*x509.Certificate
	var key any
	if strings.Contains(string(raw), "-----BEGIN") {
		for rest := raw; ; {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			switch {
			case b.Type == "CERTIFICATE":
				cert, err := x509.ParseCertificate(b.Bytes)
				if err != nil {
					return invalidField("properties.data", "a PEM certificate cannot be parsed: %v", err)
				}
				chain = append(chain, cert)
			case strings.HasSuffix(b.Type, "PRIVATE KEY"):
				if key, err = parsePEMKey(b, c.Password); err != nil {
					return invalidField("properties.data", "the private key cannot be read: %v", err)
				}
			}
		}
		if len(chain) == 0 {
			return invalidField("properties.data", "holds no PEM certificate")
		}
		leaf, chain = chain[0], chain[1:]
	} else {
		var k any
		k, leaf, chain, err = pkcs12.DecodeChain(raw, c.Password)
		if err != nil {
			// A PFX with only certificates (a CA): no key.
			certs, err2 := pkcs12.DecodeTrustStore(raw, c.Password)
			if err2 != nil || len(certs) == 0 {
				return invalidField("properties.data", "is neither PEM nor a PFX that opens with the password given: %v", err)
			}
			leaf, chain = certs[0], certs[1:]
		}
		key = k
	}
	var out strings.Builder
	for _, cert := range append([]*x509.Certificate{leaf}, chain...) {
		pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	}
	c.CertificatePEM, c.PrivateKeyPEM = out.String(), ""
	if key != nil {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return invalidField("properties.data", "the private key type is not supported: %v", err)
		}
		c.PrivateKeyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	}
	sum := sha1.Sum(leaf.Raw)
	c.Thumbprint = strings.ToUpper(hex.EncodeToString(sum[:]))
	c.Subject = "CN=" + leaf.Subject.CommonName
	if s := leaf.Subject.String(); s != "" {
		c.Subject = s
	}
	c.ExpirationDate = leaf.NotAfter.UTC()
	return nil
}

func parsePEMKey(b *pem.Block, password string) (any, error) {
	der := b.Bytes
	//lint:ignore SA1019 legacy encrypted PEM keys are what some tools still write
	if x509.IsEncryptedPEMBlock(b) { //nolint:staticcheck
		var err error
		if der, err = x509.DecryptPEMBlock(b, []byte(password)); err != nil { //nolint:staticcheck
			return nil, err
		}
	}
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	return x509.ParseECPrivateKey(der)
}
