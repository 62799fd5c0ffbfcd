package policy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"math/big"
	"strings"
	"testing"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

func clientCert(t *testing.T, cn string) (*tls.Certificate, []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pfx, err := pkcs12.Modern.Encode(key, leaf, nil, "pw")
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pfx
}

// TestAuthenticationCertificate: a snapshot certificate by id or
// thumbprint, or PKCS#12 bytes from an expression, becomes the forward's
// client certificate (and a send-request call's); literal ids and
// thumbprints that the snapshot lacks are compile errors.
func TestAuthenticationCertificate(t *testing.T) {
	mine, pfx := clientCert(t, "mine")
	sum := sha1.Sum(mine.Certificate[0])
	thumb := hex.EncodeToString(sum[:]) // lower case: matched in any case
	o := Options{Certificates: map[string]*tls.Certificate{"client-a": mine}}
	for _, doc := range []string{
		`<authentication-certificate certificate-id="client-a"/>`,
		`<authentication-certificate certificate-id="@("client-" + "a")"/>`,
		`<authentication-certificate thumbprint="` + thumb + `"/>`,
	} {
		pl := compilePipeline(t, o, op(`<policies><inbound>`+doc+`</inbound></policies>`))
		c := newCtx("GET", "/")
		if r := pl.Run(c, Inbound); r.Outcome != Continue || c.Upstream.ClientCert != mine {
			t.Fatalf("%s: %v %v", doc, r, c.Upstream.ClientCert)
		}
	}
	// body: a byte[] (the Key Vault corpus document) or base64 text, with its password.
	pl := compilePipeline(t, o, op(`<policies><inbound>
  <authentication-certificate body="@(Convert.FromBase64String((string)context.Variables["pfx"]))" password="pw"/>
  <send-request response-variable-name="r"><set-url>https://x.test/</set-url><authentication-certificate body="@((string)context.Variables["pfx"])" password="pw"/></send-request>
</inbound></policies>`))
	c := newCtx("GET", "/")
	c.SetVariable("pfx", StringValue(base64.StdEncoding.EncodeToString(pfx)))
	r := pl.Run(c, Inbound)
	if r.Outcome != Call || r.Call.ClientCert == nil || r.Call.ClientCert != c.Upstream.ClientCert {
		t.Fatalf("body: %v %+v", r, r.Call)
	}
	if got := c.Upstream.ClientCert.Leaf.Subject.CommonName; got != "mine" {
		t.Fatalf("body certificate %q", got)
	}
	// A wrong password fails into on-error.
	pl = compilePipeline(t, o, op(`<policies><inbound><authentication-certificate body="@((string)context.Variables["pfx"])" password="nope"/></inbound></policies>`))
	c = newCtx("GET", "/")
	c.SetVariable("pfx", StringValue(base64.StdEncoding.EncodeToString(pfx)))
	if r := pl.Run(c, Inbound); r.Outcome != Fail || c.LastError.Source != "authentication-certificate" ||
		!strings.Contains(lastErrorMessage(c.LastError), "not a usable certificate") {
		t.Fatalf("wrong password: %v %+v", r, c.LastError)
	}
	// An id computed at run time that does not exist fails too.
	pl = compilePipeline(t, o, op(`<policies><inbound><authentication-certificate certificate-id="@("gone")"/></inbound></policies>`))
	if r := pl.Run(newCtx("GET", "/"), Inbound); r.Outcome != Fail {
		t.Fatalf("unknown id at run time: %v", r)
	}

	for _, c := range []struct{ doc, want string }{
		{`<authentication-certificate/>`, `one of the attributes "thumbprint", "certificate-id" or "body" is required`},
		{`<authentication-certificate certificate-id="a" thumbprint="b"/>`, "give only one"},
		{`<authentication-certificate certificate-id="client-a" password="x"/>`, `"password" goes with "body"`},
		{`<authentication-certificate certificate-id="nope"/>`, `certificate-id "nope" is not a certificate with a private key`},
		{`<authentication-certificate thumbprint="00"/>`, `thumbprint "00" is not the thumbprint`},
	} {
		err := Check(o, "d.xml", []byte("<policies><inbound>"+c.doc+"</inbound></policies>"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.doc, err, c.want)
		}
	}
}
