package netstack

import (
	"crypto/tls"
	"io"
	"strings"
	"testing"

	"golang.org/x/net/http2"
)

// TestH2TLSRequirements: HTTP/2 only over TLS that RFC 9113 §9.2 allows.
// A TLS 1.2 client offering only suites the RFC forbids (CBC, static RSA)
// and h2 with http/1.1 is served HTTP/1.1; one asking for h2 alone is
// refused in the handshake; TLS 1.1 is refused by the configuration; an
// AEAD suite gets h2. When the caller's configuration bypasses the ALPN
// choice (its own GetConfigForClient) and such a session negotiates h2
// anyway, the connection gets SETTINGS and GOAWAY INADEQUATE_SECURITY.
func TestH2TLSRequirements(t *testing.T) {
	h := &testHandler{upstream: newBackend(t).Listener.Addr().String()}
	s := startProxy(t, h, Config{Loops: 1})
	cert, pool := selfSigned(t)
	addr, err := s.ServeTLS("127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	cbc := []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_128_GCM_SHA256}
	dial := func(a string, max uint16, suites []uint16, protos ...string) (*tls.Conn, error) {
		return tls.Dial("tcp", a, &tls.Config{RootCAs: pool, MaxVersion: max,
			MinVersion: tls.VersionTLS10, CipherSuites: suites, NextProtos: protos})
	}
	for _, c := range []struct {
		name   string
		max    uint16
		suites []uint16
		protos []string
		want   string // negotiated protocol, or "refused"
	}{
		{"TLS 1.2 forbidden suites", tls.VersionTLS12, cbc, []string{"h2", "http/1.1"}, "http/1.1"},
		{"TLS 1.2 forbidden suites, h2 only", tls.VersionTLS12, cbc, []string{"h2"}, "refused"},
		{"TLS 1.2 AEAD", tls.VersionTLS12, []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}, []string{"h2", "http/1.1"}, "h2"},
		{"TLS 1.3", tls.VersionTLS13, nil, []string{"h2", "http/1.1"}, "h2"},
		{"TLS 1.1", tls.VersionTLS11, cbc, []string{"h2", "http/1.1"}, "refused"},
	} {
		tc, err := dial(addr.String(), c.max, c.suites, c.protos...)
		got := "refused"
		if err == nil {
			got = tc.ConnectionState().NegotiatedProtocol
			if got == "http/1.1" {
				tc.Write([]byte("GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"))
				b, _ := io.ReadAll(tc)
				if !strings.HasPrefix(string(b), "HTTP/1.1 200") {
					t.Errorf("%s: HTTP/1.1 answer %q", c.name, b)
				}
			}
			tc.Close()
		}
		if got != c.want {
			t.Errorf("%s: %q (%v), want %q", c.name, got, err, c.want)
		}
	}

	// The caller's own GetConfigForClient: h2 is negotiated with a CBC
	// suite, and the connection is ended with INADEQUATE_SECURITY.
	own := &tls.Config{Certificates: []tls.Certificate{cert}, GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return nil, nil }}
	addr2, err := s.ServeTLS("127.0.0.1:0", own)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := dial(addr2.String(), tls.VersionTLS12, cbc[:1], "h2")
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("negotiated %q, want h2 (the case under test)", p)
	}
	tc.Write([]byte(http2.ClientPreface))
	fr := http2.NewFramer(io.Discard, tc)
	var goAway *http2.GoAwayFrame
	for goAway == nil {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading frames: %v", err)
		}
		goAway, _ = f.(*http2.GoAwayFrame)
	}
	if goAway.ErrCode != http2.ErrCodeInadequateSecurity || goAway.LastStreamID != 0 {
		t.Fatalf("GOAWAY %v last stream %d, want INADEQUATE_SECURITY, 0", goAway.ErrCode, goAway.LastStreamID)
	}
	if _, err := fr.ReadFrame(); err == nil {
		t.Fatal("the connection stayed open after GOAWAY")
	}
}
