package http2

import (
	"crypto/tls"
	"strings"
	"testing"
)

// TestTLSAcceptable: of every suite crypto/tls knows, TLS 1.2 sessions are
// acceptable exactly with the ECDHE AEAD suites (RFC 9113 Appendix A lists
// the rest); TLS 1.3 always, TLS 1.1 never.
func TestTLSAcceptable(t *testing.T) {
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		for _, v := range s.SupportedVersions {
			want := v >= tls.VersionTLS13 || v == tls.VersionTLS12 && strings.HasPrefix(s.Name, "TLS_ECDHE_") &&
				(strings.Contains(s.Name, "_GCM_") || strings.Contains(s.Name, "CHACHA20_POLY1305"))
			if got := TLSAcceptable(v, s.ID); got != want {
				t.Errorf("%s under %s: %t, want %t", s.Name, tls.VersionName(v), got, want)
			}
		}
	}
	if TLSAcceptable(tls.VersionTLS11, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256) {
		t.Error("TLS 1.1 accepted")
	}
}
