package policy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

func signed(t *testing.T, alg jwa.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	tok := jwt.New()
	for k, v := range claims {
		if err := tok.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if kid != "" {
		jk, err := jwk.Import(key)
		if err != nil {
			t.Fatal(err)
		}
		jk.Set(jwk.KeyIDKey, kid)
		key = jk
	}
	b, err := jwt.Sign(tok, jwt.WithKey(alg, key))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestValidateJwt(t *testing.T) {
	clk := newClock()
	st := NewState(clk.now)
	secret := []byte("0123456789abcdef0123456789abcdef")
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	n := base64.RawURLEncoding.EncodeToString(rsaKey.N.Bytes())
	e := base64.RawURLEncoding.EncodeToString(big.NewInt(int64(rsaKey.E)).Bytes())
	exp := clk.now().Add(time.Hour).Unix()
	doc := `<policies><inbound><validate-jwt header-name="Authorization" require-scheme="Bearer" clock-skew="30" output-token-variable-name="jwt" failed-validation-error-message="No entry">
  <issuer-signing-keys><key>` + base64.StdEncoding.EncodeToString(secret) + `</key><key n="` + n + `" e="` + e + `"/></issuer-signing-keys>
  <audiences><audience>api://one</audience><audience>api://two</audience></audiences>
  <issuers><issuer>https://idp.test/</issuer></issuers>
  <required-claims><claim name="scp" match="all" separator=" "><value>read</value><value>write</value></claim>
    <claim name="roles" match="any"><value>admin</value><value>ops</value></claim></required-claims>
</validate-jwt></inbound></policies>`
	pl := compilePipeline(t, Options{State: st}, op(doc))
	good := map[string]any{"aud": "api://two", "iss": "https://idp.test/", "exp": exp, "scp": "read write other", "roles": []string{"ops"}}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for a, b := range good {
			m[a] = b
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		name, header, reason string
	}{
		{"HS256", "Bearer " + signed(t, jwa.HS256(), secret, "", good), ""},
		{"HS512", "Bearer " + signed(t, jwa.HS512(), secret, "", good), ""},
		{"RS256 n/e", "Bearer " + signed(t, jwa.RS256(), rsaKey, "", good), ""},
		{"PS384 n/e", "bearer " + signed(t, jwa.PS384(), rsaKey, "", good), ""},
		{"no token", "", "JWT not present."},
		{"wrong scheme", "Basic " + signed(t, jwa.HS256(), secret, "", good), "JWT not present."},
		{"bad signature", "Bearer " + signed(t, jwa.HS256(), []byte("another secret, another secret!!"), "", good), "JWT Validation Failed"},
		{"expired", "Bearer " + signed(t, jwa.HS256(), secret, "", with("exp", clk.now().Add(-time.Minute).Unix())), "JWT Validation Failed"},
		{"expired within skew", "Bearer " + signed(t, jwa.HS256(), secret, "", with("exp", clk.now().Add(-10*time.Second).Unix())), ""},
		{"no exp", "Bearer " + signed(t, jwa.HS256(), secret, "", with("exp", nil)), "JWT Validation Failed"},
		{"audience", "Bearer " + signed(t, jwa.HS256(), secret, "", with("aud", "api://three")), "Audience validation failed"},
		{"issuer", "Bearer " + signed(t, jwa.HS256(), secret, "", with("iss", "https://evil.test/")), "Issuer validation failed"},
		{"claim all", "Bearer " + signed(t, jwa.HS256(), secret, "", with("scp", "read")), "Claim value mismatch: scp"},
		{"claim any", "Bearer " + signed(t, jwa.HS256(), secret, "", with("roles", []string{"guest"})), "Claim value mismatch: roles"},
		{"alg none", "Bearer " + base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"aud":"api://one"}`)) + ".", "JWT Validation Failed"},
	}
	for _, c := range cases {
		ctx := newCtx("GET", "/")
		if c.header != "" {
			ctx.Request.Headers.Add("Authorization", c.header)
		}
		r := pl.Run(ctx, Inbound)
		if c.reason == "" {
			if r.Outcome != Continue {
				t.Errorf("%s: %v", c.name, r.Err)
			} else if v, ok := ctx.Variable("jwt"); !ok || v.o == nil {
				t.Errorf("%s: no output token variable", c.name)
			}
			continue
		}
		if r.Outcome != Fail || !strings.Contains(r.Err.Error(), c.reason) || ctx.LastError.Source != "validate-jwt" {
			t.Errorf("%s: %v %v, want a failure with %q", c.name, r.Outcome, r.Err, c.reason)
			continue
		}
		if ctx.Response.StatusCode != 401 || string(ctx.Response.Body) != `{"statusCode":401,"message":"No entry"}` {
			t.Errorf("%s: response %d %s", c.name, ctx.Response.StatusCode, ctx.Response.Body)
		}
	}
}

// TestValidateJwtOpenID: keys come from an OpenID configuration through
// Outcome Call (configuration, then JWKS), are cached, refreshed after an
// hour, and the last good set is kept when the provider is unreachable.
func TestValidateJwtOpenID(t *testing.T) {
	clk := newClock()
	st := NewState(clk.now)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := jwk.Import(&ecKey.PublicKey)
	pub.Set(jwk.KeyIDKey, "k1")
	pub.Set(jwk.AlgorithmKey, jwa.ES256())
	set := jwk.NewSet()
	set.AddKey(pub)
	jwks, _ := json.Marshal(set)
	pl := compilePipeline(t, Options{State: st}, op(`<policies><inbound><validate-jwt header-name="Authorization">
<openid-config url="https://idp.test/.well-known/openid-configuration"/></validate-jwt></inbound></policies>`))
	token := "Bearer " + signed(t, jwa.ES256(), ecKey, "k1", map[string]any{"exp": clk.now().Add(3 * time.Hour).Unix()})
	calls := 0
	answer := func(c *Context, r Result, fail bool) Result {
		for r.Outcome == Call {
			calls++
			if fail {
				c.CallDone(nil, errors.New("connection refused"))
			} else if strings.HasSuffix(r.Call.URL, "openid-configuration") {
				c.CallDone(&CallResponse{StatusCode: 200, Body: []byte(`{"issuer":"https://idp.test/","jwks_uri":"https://idp.test/keys"}`)}, nil)
			} else if r.Call.URL == "https://idp.test/keys" {
				c.CallDone(&CallResponse{StatusCode: 200, Body: jwks}, nil)
			} else {
				t.Fatalf("unexpected call %s", r.Call.URL)
			}
			r = pl.Resume(c)
		}
		return r
	}
	run := func(fail bool) Result {
		c := newCtx("GET", "/", "Authorization", token)
		return answer(c, pl.Run(c, Inbound), fail)
	}
	if r := run(true); r.Outcome != Fail {
		t.Fatalf("no keys yet and the provider down: %v", r)
	}
	if r := run(false); r.Outcome != Continue || calls != 3 {
		t.Fatalf("first fetch: %v %v after %d calls", r.Outcome, r.Err, calls)
	}
	if r := run(false); r.Outcome != Continue || calls != 3 {
		t.Fatalf("cached: %v after %d calls", r.Outcome, calls)
	}
	clk.add(2 * time.Hour)
	if r := run(true); r.Outcome != Continue || calls != 4 {
		t.Fatalf("refresh failed, last good kept: %v %v after %d calls", r.Outcome, r.Err, calls)
	}
	if r := run(false); r.Outcome != Continue || calls != 4 {
		t.Fatalf("retry waits a minute: %v after %d calls", r.Outcome, calls)
	}
	clk.add(2 * time.Minute)
	if r := run(false); r.Outcome != Continue || calls != 6 {
		t.Fatalf("refreshed: %v after %d calls", r.Outcome, calls)
	}
}

func TestValidateJwtCompileErrors(t *testing.T) {
	for _, c := range []struct{ doc, want string }{
		{`<validate-jwt header-name="a"/>`, "needs <issuer-signing-keys> or <openid-config>"},
		{`<validate-jwt header-name="a" query-parameter-name="b"><issuer-signing-keys><key>YWJj</key></issuer-signing-keys></validate-jwt>`, "exactly one of"},
		{`<validate-jwt header-name="a" require-signed-tokens="false"><issuer-signing-keys><key>YWJj</key></issuer-signing-keys></validate-jwt>`, "unsigned tokens are always refused"},
		{`<validate-jwt header-name="a"><issuer-signing-keys><key certificate-id="c"/></issuer-signing-keys></validate-jwt>`, "certificate-id keys are not supported"},
		{`<validate-jwt header-name="a"><issuer-signing-keys><key>not base64!</key></issuer-signing-keys></validate-jwt>`, "not base64"},
		{`<validate-jwt header-name="a" flavour="x"><issuer-signing-keys><key>YWJj</key></issuer-signing-keys></validate-jwt>`, `attribute "flavour" is not supported`},
		{`<validate-jwt header-name="a"><decryption-keys/><issuer-signing-keys><key>YWJj</key></issuer-signing-keys></validate-jwt>`, "encrypted tokens"},
		{`<validate-azure-ad-token/>`, `"tenant-id" is required`},
	} {
		err := Check(Options{Offline: true}, "d", []byte("<policies><inbound>"+c.doc+"</inbound></policies>"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.doc, err, c.want)
		}
	}
}
