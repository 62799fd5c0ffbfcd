package http2

import (
	"bytes"
	"crypto/tls"

	"golang.org/x/net/http2"
)

// TLS requirements of HTTP/2 (RFC 9113 §9.2): TLS 1.2 or later, and under
// TLS 1.2 none of the cipher suites of Appendix A — which leaves the AEAD
// suites with ephemeral key exchange. Of the suites crypto/tls implements,
// these are the ECDHE AES-GCM and ChaCha20-Poly1305 ones (DHE suites, also
// allowed, are not implemented by crypto/tls); every TLS 1.3 suite is fine.

// ErrCodeInadequateSecurity is INADEQUATE_SECURITY (RFC 9113 §7).
const ErrCodeInadequateSecurity = http2.ErrCodeInadequateSecurity

// acceptableTLS12 are the TLS 1.2 suites crypto/tls implements that RFC
// 9113 Appendix A does not forbid.
var acceptableTLS12 = [...]uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// TLSAcceptable reports whether a TLS session of this version and cipher
// suite meets RFC 9113 §9.2.
func TLSAcceptable(version, suite uint16) bool {
	switch {
	case version >= tls.VersionTLS13:
		return true
	case version < tls.VersionTLS12:
		return false
	}
	for _, s := range acceptableTLS12 {
		if s == suite {
			return true
		}
	}
	return false
}

// HelloCanMeet reports whether a handshake with this ClientHello under cfg
// can end in a session TLSAcceptable takes: the client and cfg share TLS
// 1.3, or the client offers a TLS 1.2 suite of acceptableTLS12 that cfg
// enables. (crypto/tls prefers AEAD suites, so when one is shared it is
// chosen.)
func HelloCanMeet(hello *tls.ClientHelloInfo, cfg *tls.Config) bool {
	max := cfg.MaxVersion
	if max == 0 {
		max = tls.VersionTLS13
	}
	tls12 := false
	for _, v := range hello.SupportedVersions {
		if v >= tls.VersionTLS13 && max >= tls.VersionTLS13 {
			return true
		}
		if v == tls.VersionTLS12 && max >= tls.VersionTLS12 {
			tls12 = true
		}
	}
	if !tls12 {
		return false
	}
	for _, s := range hello.CipherSuites {
		if !TLSAcceptable(tls.VersionTLS12, s) {
			continue
		}
		if cfg.CipherSuites == nil {
			return true
		}
		for _, e := range cfg.CipherSuites {
			if e == s {
				return true
			}
		}
	}
	return false
}

// AppendRefusal appends what a server sends to end an HTTP/2 connection
// before serving it: its preface (an empty SETTINGS frame) and GOAWAY with
// last stream 0, code and debug text.
func AppendRefusal(dst []byte, code ErrCode, debug string) []byte {
	var b bytes.Buffer
	fr := http2.NewFramer(&b, nil)
	fr.WriteSettings()
	fr.WriteGoAway(0, code, []byte(debug))
	return append(dst, b.Bytes()...)
}
