package policy

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"strings"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// This file is X509Certificate2 (from PKCS#12, DER or PEM bytes) and RSA
// signing with it, as documents that build client assertions use:
// certificate.GetRSAPrivateKey().SignData(data, HashAlgorithmName.SHA256,
// RSASignaturePadding.Pkcs1).

type certValue struct {
	cert *x509.Certificate
	key  crypto.PrivateKey
}

func (*certValue) typeName() string { return "X509Certificate2" }
func (c *certValue) String() string { return "[Subject]\n  " + c.cert.Subject.String() }

type rsaValue struct {
	priv *rsa.PrivateKey
	pub  *rsa.PublicKey
}

func (*rsaValue) typeName() string { return "RSA" }
func (*rsaValue) String() string   { return "System.Security.Cryptography.RSACng" }

type hashName string

func (hashName) typeName() string { return "HashAlgorithmName" }
func (h hashName) String() string { return string(h) }

type rsaPadding string

func (rsaPadding) typeName() string { return "RSASignaturePadding" }
func (p rsaPadding) String() string { return string(p) }

func cryptoHash(h Value) (crypto.Hash, error) {
	n, ok := h.o.(hashName)
	if h.k != kObject || !ok {
		return 0, evalErr("expected a HashAlgorithmName, found %s", runtimeType(h))
	}
	switch n {
	case "SHA1":
		return crypto.SHA1, nil
	case "SHA256":
		return crypto.SHA256, nil
	case "SHA384":
		return crypto.SHA384, nil
	case "SHA512":
		return crypto.SHA512, nil
	case "MD5":
		return crypto.MD5, nil
	}
	return 0, evalErr("hash algorithm %s is not supported", n)
}

// loadCertificate reads PKCS#12 (with password), DER or PEM certificate bytes.
func loadCertificate(raw []byte, password string) (*certValue, error) {
	if key, cert, _, err := pkcs12.DecodeChain(raw, password); err == nil {
		return &certValue{cert: cert, key: key}, nil
	}
	if cert, err := x509.ParseCertificate(raw); err == nil {
		return &certValue{cert: cert}, nil
	}
	cv := &certValue{}
	for rest := raw; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch {
		case b.Type == "CERTIFICATE" && cv.cert == nil:
			cv.cert, _ = x509.ParseCertificate(b.Bytes)
		case strings.HasSuffix(b.Type, "PRIVATE KEY"):
			if k, err := x509.ParsePKCS8PrivateKey(b.Bytes); err == nil {
				cv.key = k
			} else if k, err := x509.ParsePKCS1PrivateKey(b.Bytes); err == nil {
				cv.key = k
			}
		}
	}
	if cv.cert == nil {
		return nil, &thrown{typ: "CryptographicException", msg: "Cannot find the requested object (not a PKCS#12, DER or PEM certificate, or a wrong password)."}
	}
	return cv, nil
}

func init() {
	hn := regType("HashAlgorithmName")
	for _, n := range []string{"SHA1", "SHA256", "SHA384", "SHA512", "MD5"} {
		v := objValue(hashName(n))
		hn.sp(n, "HashAlgorithmName", func(c *Context) (Value, error) { return v, nil })
	}
	rp := regType("RSASignaturePadding")
	for _, n := range []string{"Pkcs1", "Pss"} {
		v := objValue(rsaPadding(n))
		rp.sp(n, "RSASignaturePadding", func(c *Context) (Value, error) { return v, nil })
	}
	typeAliases["RSACng"] = "RSA"
	typeAliases["RSACryptoServiceProvider"] = "RSA"
	typeAliases["RSAOpenSsl"] = "RSA"
	typeAliases["X509Certificate"] = "X509Certificate2"

	xc := regType("X509Certificate2")
	xc.ctor = &method{min: 1, max: 3, t: "X509Certificate2", fn: func(c *Context, _ Value, a []Value, _ string) (Value, error) {
		raw, err := bytesArg("rawData", a[0])
		if err != nil {
			return Value{}, err
		}
		pw := ""
		if len(a) > 1 && a[1].k == kString {
			pw = a[1].s
		}
		cv, err := loadCertificate(raw, pw)
		if err != nil {
			return Value{}, err
		}
		return objValue(cv), nil
	}}
	cert := func(v Value) *certValue { return v.o.(*certValue) }
	xc.p("Thumbprint", tyString, func(c *Context, v Value) (Value, error) {
		s := sha1.Sum(cert(v).cert.Raw)
		return str(strings.ToUpper(hex.EncodeToString(s[:]))), nil
	})
	xc.p("Subject", tyString, func(c *Context, v Value) (Value, error) { return str(cert(v).cert.Subject.String()), nil })
	xc.p("Issuer", tyString, func(c *Context, v Value) (Value, error) { return str(cert(v).cert.Issuer.String()), nil })
	xc.p("SerialNumber", tyString, func(c *Context, v Value) (Value, error) {
		return str(strings.ToUpper(cert(v).cert.SerialNumber.Text(16))), nil
	})
	xc.p("NotBefore", "DateTime", func(c *Context, v Value) (Value, error) {
		return objValue(dateTime{t: cert(v).cert.NotBefore.UTC()}), nil
	})
	xc.p("NotAfter", "DateTime", func(c *Context, v Value) (Value, error) {
		return objValue(dateTime{t: cert(v).cert.NotAfter.UTC()}), nil
	})
	xc.p("HasPrivateKey", tyBool, func(c *Context, v Value) (Value, error) { return BoolValue(cert(v).key != nil), nil })
	xc.m("GetCertHash", 0, 0, "byte[]", func(c *Context, v Value, a []Value, _ string) (Value, error) {
		s := sha1.Sum(cert(v).cert.Raw)
		return bytesValue(s[:]), nil
	})
	xc.m("GetRawCertData", 0, 0, "byte[]", func(c *Context, v Value, a []Value, _ string) (Value, error) {
		return bytesValue(cert(v).cert.Raw), nil
	})
	xc.m("GetRSAPrivateKey", 0, 0, "RSA", func(c *Context, v Value, a []Value, _ string) (Value, error) {
		k, ok := cert(v).key.(*rsa.PrivateKey)
		if !ok {
			return Value{}, nil
		}
		return objValue(&rsaValue{priv: k, pub: &k.PublicKey}), nil
	})
	xc.m("GetRSAPublicKey", 0, 0, "RSA", func(c *Context, v Value, a []Value, _ string) (Value, error) {
		k, ok := cert(v).cert.PublicKey.(*rsa.PublicKey)
		if !ok {
			return Value{}, nil
		}
		return objValue(&rsaValue{pub: k}), nil
	})

	r := regType("RSA")
	digest := func(h crypto.Hash, data []byte) []byte {
		d := h.New()
		d.Write(data)
		return d.Sum(nil)
	}
	r.m("SignData", 3, 3, "byte[]", func(c *Context, v Value, a []Value, _ string) (Value, error) {
		k := v.o.(*rsaValue)
		if k.priv == nil {
			return Value{}, &thrown{typ: "CryptographicException", msg: "The key does not contain a private key."}
		}
		data, err := bytesArg("data", a[0])
		if err != nil {
			return Value{}, err
		}
		h, err := cryptoHash(a[1])
		if err != nil {
			return Value{}, err
		}
		var sig []byte
		if p, _ := a[2].o.(rsaPadding); p == "Pss" {
			sig, err = rsa.SignPSS(rand.Reader, k.priv, h, digest(h, data), &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			sig, err = rsa.SignPKCS1v15(nil, k.priv, h, digest(h, data))
		}
		if err != nil {
			return Value{}, &thrown{typ: "CryptographicException", msg: err.Error()}
		}
		return bytesValue(sig), nil
	}, "data", "hashAlgorithm", "padding")
	r.m("VerifyData", 4, 4, tyBool, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		k := v.o.(*rsaValue)
		data, err := bytesArg("data", a[0])
		if err != nil {
			return Value{}, err
		}
		sig, err := bytesArg("signature", a[1])
		if err != nil {
			return Value{}, err
		}
		h, err := cryptoHash(a[2])
		if err != nil {
			return Value{}, err
		}
		if p, _ := a[3].o.(rsaPadding); p == "Pss" {
			return BoolValue(rsa.VerifyPSS(k.pub, h, digest(h, data), sig, nil) == nil), nil
		}
		return BoolValue(rsa.VerifyPKCS1v15(k.pub, h, digest(h, data), sig) == nil), nil
	}, "data", "signature", "hashAlgorithm", "padding")
	r.m("Dispose", 0, 0, tyVoid, func(c *Context, v Value, a []Value, _ string) (Value, error) { return Value{}, nil })
}
