package gateway_test

import (
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHTTPSBackendTrustFromEnvConf: the real apimgw binary in front of an
// https backend whose certificate nothing trusts answers 502 saying why;
// adding env.conf backend.tls.ca (while running) makes the same snapshot
// reach it.
func TestHTTPSBackendTrustFromEnvConf(t *testing.T) {
	b := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "tls backend saw %s over %s", r.URL.RequestURI(), r.Proto)
	}))
	b.Config.ErrorLog = log.New(io.Discard, "", 0)
	b.StartTLS()
	defer b.Close()
	caFile := filepath.Join(t.TempDir(), "backend-ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: b.Certificate().Raw}), 0o644)

	d := newDaemon(t, b.URL, "")
	d.start()
	get := func() (int, string) {
		resp, err := http.Get(d.data + "/echo/x")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if st, body := get(); st != 502 || !strings.Contains(body, "Backend TLS handshake failed") || !strings.Contains(body, "unknown authority") {
		t.Fatalf("untrusted https backend: %d %s\n%s", st, body, d.logs())
	}
	conf := filepath.Join(d.dir, "env.conf")
	old, _ := os.ReadFile(conf)
	os.WriteFile(conf, append(old, []byte("backend.tls.ca="+caFile+"\n")...), 0o644)
	eventually(t, 10*time.Second, "backend.tls.ca applied", func() bool {
		st, body := get()
		return st == 200 && strings.Contains(body, "tls backend saw /x over HTTP/1.1")
	})
	if !strings.Contains(d.logs(), "backend.tls.ca applied") {
		t.Errorf("no log line for the change:\n%s", d.logs())
	}
	d.stop(syscall.SIGTERM)
}
