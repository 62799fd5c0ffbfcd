package appliance

import (
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/apimgw/apimgw/wire"
)

// TestHTTP2BackendEntities: a backend entity's httpVersion reaches real
// HTTP/2 backends through the gateway: "2" over TLS (ALPN h2) and as h2c to
// an http URL, "auto" choosing h2 by ALPN; without it the same TLS backend
// is called over HTTP/1.1.
func TestHTTP2BackendEntities(t *testing.T) {
	ca := newPKI(t, "apimgw test CA")
	leaf, _, _ := issue(t, ca, "backend.test")
	proto := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "proto=%s path=%s", r.Proto, r.URL.Path)
	})
	tlsB := httptest.NewUnstartedServer(proto)
	tlsB.EnableHTTP2 = true
	tlsB.TLS = &tls.Config{Certificates: []tls.Certificate{leaf}, NextProtos: []string{"h2", "http/1.1"}}
	tlsB.Config.ErrorLog = log.New(io.Discard, "", 0)
	tlsB.StartTLS()
	t.Cleanup(tlsB.Close)
	// h2c by net/http itself (not x/net's h2c handler, which hijacks the
	// connection so that Close cannot end it: its keepalive answers would
	// run on during the allocation tests of this package).
	plain := httptest.NewUnstartedServer(proto)
	plain.Config.Protocols = new(http.Protocols)
	plain.Config.Protocols.SetHTTP1(true)
	plain.Config.Protocols.SetUnencryptedHTTP2(true)
	plain.Start()
	t.Cleanup(plain.Close)

	snap := &wire.Snapshot{ProtocolVersion: wire.ProtocolVersion, Version: 1,
		Certificates: []wire.Certificate{{ID: "ca", CertificatePEM: ca.pem, TrustedCA: true}},
		APIs: []wire.API{{ID: "s", Path: "s", ServiceURL: tlsB.URL, Protocols: []string{"http"}, Policy: onErrorShows,
			Operations: []wire.Operation{
				{ID: "default", Method: "GET", URLTemplate: "/default", Policy: viaBackend("tls11")},
				{ID: "h2", Method: "GET", URLTemplate: "/h2", Policy: viaBackend("tls2")},
				{ID: "auto", Method: "GET", URLTemplate: "/auto", Policy: viaBackend("tlsauto")},
				{ID: "h2c", Method: "GET", URLTemplate: "/h2c", Policy: viaBackend("h2c")},
			}}},
		Backends: []wire.Backend{
			{ID: "tls11", URL: tlsB.URL, Protocol: "http"},
			{ID: "tls2", URL: tlsB.URL, Protocol: "http", HTTPVersion: "2"},
			{ID: "tlsauto", URL: tlsB.URL, Protocol: "http", HTTPVersion: "auto"},
			{ID: "h2c", URL: plain.URL, Protocol: "http", HTTPVersion: "2"},
		},
	}
	c := compileWith(t, snap, Options{})
	g := startGateway(t, nil)
	g.h.Swap(c)
	for path, want := range map[string]string{
		"/default": "proto=HTTP/1.1 path=/default",
		"/h2":      "proto=HTTP/2.0 path=/h2",
		"/auto":    "proto=HTTP/2.0 path=/auto",
		"/h2c":     "proto=HTTP/2.0 path=/h2c",
	} {
		for i := 0; i < 2; i++ {
			status, _, body := call(t, "GET", g.base+"/s"+path, nil)
			if status != 200 || !strings.Contains(body, want) {
				t.Errorf("%s: %d %q, want %q", path, status, body, want)
			}
		}
	}
}
