package appliance

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/apimgw/apimgw/netstack"
	"github.com/apimgw/apimgw/policy"
	"github.com/apimgw/apimgw/wire"
)

// TestValidateJwtThroughTheHandler: validate-jwt with an openid-config on the
// real gateway: the configuration and keys are fetched off the loop (once,
// then cached), a valid token reaches the backend, a bad one gets 401.
func TestValidateJwtThroughTheHandler(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := jwk.Import(&key.PublicKey)
	pub.Set(jwk.KeyIDKey, "k1")
	pub.Set(jwk.AlgorithmKey, jwa.ES256())
	set := jwk.NewSet()
	set.AddKey(pub)
	var fetches atomic.Int32
	var idp *httptest.Server
	idp = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			json.NewEncoder(w).Encode(map[string]string{"issuer": idp.URL, "jwks_uri": idp.URL + "/keys"})
		case "/keys":
			json.NewEncoder(w).Encode(set)
		}
	}))
	t.Cleanup(idp.Close)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "backend ok") }))
	t.Cleanup(backend.Close)
	pol := `<policies><inbound><validate-jwt header-name="Authorization" require-scheme="Bearer" failed-validation-error-message="Sign in first">
<openid-config url="` + idp.URL + `/.well-known/openid-configuration"/><audiences><audience>api://orders</audience></audiences></validate-jwt></inbound></policies>`
	snap := &wire.Snapshot{ProtocolVersion: wire.ProtocolVersion, Version: 1,
		APIs: []wire.API{{ID: "j", Path: "j", ServiceURL: backend.URL, Protocols: []string{"http"},
			Operations: []wire.Operation{{ID: "get", Method: "GET", URLTemplate: "/", Policy: pol}}}}}
	if err := snap.Seal(); err != nil {
		t.Fatal(err)
	}
	h := &Handler{}
	c, err := Compile(snap, policy.NewState(nil))
	if err != nil {
		t.Fatal(err)
	}
	h.Swap(c)
	s := netstack.New(netstack.Config{Addr: "127.0.0.1:0", Loops: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, h)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	sign := func(aud string) string {
		tok := jwt.New()
		tok.Set("aud", aud)
		tok.Set("exp", time.Now().Add(time.Hour).Unix())
		jk, _ := jwk.Import(key)
		jk.Set(jwk.KeyIDKey, "k1")
		b, err := jwt.Sign(tok, jwt.WithKey(jwa.ES256(), jk))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	get := func(auth string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+s.Addr().String()+"/j/", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	for i := 0; i < 3; i++ {
		if st, body := get("Bearer " + sign("api://orders")); st != 200 || body != "backend ok" {
			t.Fatalf("valid token %d: %d %q", i, st, body)
		}
	}
	if n := fetches.Load(); n != 2 {
		t.Errorf("%d fetches from the identity provider, want 2 (configuration and keys, then cached)", n)
	}
	if st, body := get("Bearer " + sign("api://other")); st != 401 || body != `{"statusCode":401,"message":"Sign in first"}` {
		t.Errorf("wrong audience: %d %q", st, body)
	}
	if st, _ := get(""); st != 401 {
		t.Errorf("no token: %d", st)
	}
}
