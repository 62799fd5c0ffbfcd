package policy

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// validate-jwt enforces a valid JSON Web Token (github.com/lestrrat-go/jwx):
// from header-name (with require-scheme, or an optional "Bearer "),
// query-parameter-name or token-value; signed with one of issuer-signing-keys
// (base64 symmetric keys for HS*, base64 X.509 certificates, RSA n/e) or the
// keys of an openid-config (fetched off the loop through Outcome Call,
// cached, refreshed hourly, the last good set kept when the provider is
// unreachable); HS*, RS*, PS*, ES* and EdDSA; exp/nbf checked with clock-skew;
// audiences, issuers and required-claims as APIM matches them. A failure goes
// to on-error with context.LastError.Source "validate-jwt" and leaves
// failed-validation-httpcode (401) with failed-validation-error-message
// (default "Invalid JWT.") as the response. validate-azure-ad-token is the same
// check against a tenant's Microsoft Entra OpenID configuration.
func init() {
	register("validate-jwt", inInbound, []string{"header-name", "query-parameter-name", "token-value", "failed-validation-httpcode",
		"failed-validation-error-message", "require-expiration-time", "require-scheme", "require-signed-tokens", "clock-skew",
		"output-token-variable-name"}, compileValidateJwt)
	register("validate-azure-ad-token", inInbound, []string{"tenant-id", "header-name", "query-parameter-name", "token-value",
		"failed-validation-httpcode", "failed-validation-error-message", "output-token-variable-name"}, compileValidateAzureAD)
}

const defaultJwtMessage = "Invalid JWT."

type validateJwt struct {
	policy        string
	header, query string
	token         prop
	status        int
	message       string
	requireExp    bool
	scheme        string
	skew          time.Duration
	outVar        string
	keys          jwk.Set
	openid        string // configuration URL
	audiences     []string
	issuers       []string
	claims        []requiredClaim
}

type requiredClaim struct {
	name      string
	any       bool
	separator string
	values    []string
}

func compileValidateJwt(b *builder, n *Node) { compileJwt(b, n, false) }

func compileValidateAzureAD(b *builder, n *Node) { compileJwt(b, n, true) }

func compileJwt(b *builder, n *Node, azure bool) {
	b.noText(n)
	m := b.meta(n)
	s := &validateJwt{policy: n.Name, requireExp: true, keys: jwk.NewSet()}
	s.header = b.attrString(n, "header-name", false, "")
	s.query = b.attrString(n, "query-parameter-name", false, "")
	s.token = b.attrProp(n, "token-value", false)
	sources := 0
	for _, set := range []bool{s.header != "", s.query != "", s.token.set} {
		if set {
			sources++
		}
	}
	if azure && sources == 0 {
		s.header, sources = "Authorization", 1 // validate-azure-ad-token's default
		s.scheme = "Bearer"
	}
	if sources != 1 {
		b.errorf(n, ErrInvalid, "exactly one of header-name, query-parameter-name and token-value is required")
	}
	s.status = int(b.attrInt(n, "failed-validation-httpcode", false, 401, 100, 599))
	s.message = b.attrString(n, "failed-validation-error-message", false, defaultJwtMessage)
	s.outVar = b.attrString(n, "output-token-variable-name", false, "")
	if !azure {
		s.requireExp = b.attrBool(n, "require-expiration-time", true)
		s.scheme = b.attrString(n, "require-scheme", false, "")
		if !b.attrBool(n, "require-signed-tokens", true) {
			a, _ := n.Attr("require-signed-tokens")
			b.errorAt(n, a.ValuePos, ErrUnsupported, `require-signed-tokens="false" is not supported: unsigned tokens are always refused`)
		}
		s.skew = b.seconds(n, "clock-skew", false, 0)
	}
	if azure {
		tenant := b.attrString(n, "tenant-id", true, "")
		if tenant != "" {
			s.openid = "https://login.microsoftonline.com/" + tenant + "/v2.0/.well-known/openid-configuration"
		}
		b.onlyChildren(n, "audiences", "client-application-ids", "backend-application-ids", "required-claims")
	} else {
		b.onlyChildren(n, "openid-config", "issuer-signing-keys", "decryption-keys", "audiences", "issuers", "required-claims")
	}
	for _, ch := range n.Children {
		switch ch.Name {
		case "openid-config":
			b.checkAttrs(ch, "url")
			b.noChildren(ch)
			if s.openid != "" {
				b.errorf(ch, ErrUnsupported, "more than one <openid-config> is not supported")
			}
			s.openid = b.attrString(ch, "url", true, "")
		case "issuer-signing-keys":
			b.checkAttrs(ch)
			b.onlyChildren(ch, "key")
			for _, k := range ch.Children {
				if k.Name == "key" {
					b.signingKey(k, s.keys)
				}
			}
		case "decryption-keys":
			b.errorf(ch, ErrUnsupported, "encrypted tokens (<decryption-keys>) are not supported")
		case "audiences", "client-application-ids", "issuers":
			b.checkAttrs(ch)
			want := map[string]string{"audiences": "audience", "client-application-ids": "application-id", "issuers": "issuer"}[ch.Name]
			b.onlyChildren(ch, want)
			for _, v := range ch.Children {
				if v.Name != want {
					continue
				}
				b.checkAttrs(v)
				b.noChildren(v)
				val := strings.TrimSpace(b.subst(v, v.TextPos, v.Text))
				switch ch.Name {
				case "issuers":
					s.issuers = append(s.issuers, val)
				case "audiences":
					s.audiences = append(s.audiences, val)
				default: // client-application-ids: the azp / appid claim
					s.claims = append(s.claims, requiredClaim{name: "azp|appid", any: true, values: []string{val}})
				}
			}
		case "backend-application-ids":
			b.errorf(ch, ErrUnsupported, "<backend-application-ids> is not supported; use <audiences>")
		case "required-claims":
			b.checkAttrs(ch)
			b.onlyChildren(ch, "claim")
			for _, cl := range ch.Children {
				if cl.Name != "claim" {
					continue
				}
				b.checkAttrs(cl, "name", "match", "separator")
				b.onlyChildren(cl, "value")
				rc := requiredClaim{name: b.attrString(cl, "name", true, ""), any: b.attrEnum(cl, "match", "all", "all", "any") == "any"}
				if a, ok := cl.Attr("separator"); ok {
					rc.separator = a.Value // as written: " " is the usual one
				}
				for _, v := range cl.Children {
					if v.Name == "value" {
						b.checkAttrs(v)
						b.noChildren(v)
						rc.values = append(rc.values, strings.TrimSpace(b.subst(v, v.TextPos, v.Text)))
					}
				}
				s.claims = append(s.claims, rc)
			}
		}
	}
	if s.openid == "" && s.keys.Len() == 0 {
		b.errorf(n, ErrInvalid, "needs <issuer-signing-keys> or <openid-config> to check signatures")
	}
	b.emit(instr{op: opStep, step: s, meta: m, flow: s.openid != ""})
}

// signingKey adds an <issuer-signing-keys><key> to set.
func (b *builder) signingKey(k *Node, set jwk.Set) {
	b.checkAttrs(k, "id", "certificate-id", "n", "e")
	b.noChildren(k)
	if _, ok := k.Attr("certificate-id"); ok {
		b.errorf(k, ErrUnsupported, "certificate-id keys are not supported (the snapshot carries no certificates): put the base64 certificate or n/e in the key")
		return
	}
	var key jwk.Key
	var err error
	nAttr, hasN := k.Attr("n")
	if b.cp.opts.Offline && (strings.Contains(k.Text, "{{") || hasN && strings.Contains(nAttr.Value, "{{")) {
		// Checking without a snapshot: the key is a named value we do not
		// have; a placeholder stands in for it.
		if key, err = jwk.Import([]byte("offline placeholder signing key")); err == nil {
			set.AddKey(key)
		}
		return
	}
	eAttr, hasE := k.Attr("e")
	switch {
	case hasN || hasE:
		if !hasN || !hasE {
			b.errorf(k, ErrInvalid, "an RSA key needs both n and e")
			return
		}
		nb, err1 := base64.RawURLEncoding.DecodeString(strings.TrimRight(b.subst(k, nAttr.ValuePos, nAttr.Value), "="))
		eb, err2 := base64.RawURLEncoding.DecodeString(strings.TrimRight(b.subst(k, eAttr.ValuePos, eAttr.Value), "="))
		if err1 != nil || err2 != nil || len(eb) > 8 {
			b.errorf(k, ErrInvalid, "n and e must be base64url")
			return
		}
		key, err = jwk.Import(&rsa.PublicKey{N: new(big.Int).SetBytes(nb), E: int(new(big.Int).SetBytes(eb).Int64())})
	default:
		text := strings.TrimSpace(b.subst(k, k.TextPos, k.Text))
		raw, derr := base64.StdEncoding.DecodeString(text)
		if derr != nil {
			if raw, derr = base64.RawStdEncoding.DecodeString(strings.TrimRight(text, "=")); derr != nil {
				b.errorAt(k, k.TextPos, ErrInvalid, "the key is not base64")
				return
			}
		}
		if cert, cerr := x509.ParseCertificate(raw); cerr == nil {
			key, err = jwk.Import(cert.PublicKey)
		} else {
			key, err = jwk.Import(raw) // a symmetric key (HS256/384/512)
		}
	}
	if err != nil {
		b.errorf(k, ErrInvalid, "the key cannot be used: %v", err)
		return
	}
	if id, ok := k.Attr("id"); ok {
		key.Set(jwk.KeyIDKey, id.Value)
	}
	set.AddKey(key)
}

// jwtError is a failed validation: it goes to on-error and leaves the
// policy's status and message as the response.
type jwtError struct {
	status  int
	message string
	reason  string
}

func (e *jwtError) Error() string { return e.reason }
func (e *jwtError) Unwrap() error { return ErrEval }
func (e *jwtError) refusal() (int, string, []byte) {
	return e.status, "Unauthorized", []byte(`{"statusCode":` + strconv.Itoa(e.status) + `,"message":` + strconv.Quote(e.message) + `}`)
}

func (s *validateJwt) fail(reason string) (flow, error) {
	return flowNext, &jwtError{status: s.status, message: s.message, reason: reason}
}

func (s *validateJwt) run(c *Context) (flow, error) {
	st := c.pipe.state
	keys := s.keys
	if s.openid != "" {
		e, f, err := s.openidKeys(c, st)
		if f != flowNext || err != nil {
			return f, err
		}
		if e == nil {
			return s.fail("JWT Validation Failed: the signing keys of " + s.openid + " could not be fetched")
		}
		keys = e.set
	}
	raw, ok, err := s.extract(c)
	if err != nil {
		return flowNext, err
	}
	if !ok {
		return s.fail("JWT not present.")
	}
	now := st.now()
	opts := []jwt.ParseOption{
		jwt.WithKeySet(keys, jws.WithInferAlgorithmFromKey(true), jws.WithRequireKid(false)),
		jwt.WithValidate(true), jwt.WithAcceptableSkew(s.skew), jwt.WithClock(jwt.ClockFunc(func() time.Time { return now })),
	}
	if s.requireExp {
		opts = append(opts, jwt.WithRequiredClaim(jwt.ExpirationKey))
	}
	tok, err := jwt.ParseString(raw, opts...)
	if err != nil {
		return s.fail("JWT Validation Failed: " + err.Error())
	}
	if len(s.audiences) > 0 {
		aud, _ := tok.Audience()
		if !anyIn(aud, s.audiences) {
			return s.fail("JWT Validation Failed: Audience validation failed.")
		}
	}
	if len(s.issuers) > 0 {
		iss, _ := tok.Issuer()
		if !anyIn([]string{iss}, s.issuers) {
			return s.fail("JWT Validation Failed: Issuer validation failed.")
		}
	}
	for _, rc := range s.claims {
		if !rc.satisfied(tok) {
			return s.fail("JWT Validation Failed: Claim value mismatch: " + rc.name + ".")
		}
	}
	if s.outVar != "" {
		j, _ := ParseJwt(raw)
		c.SetVariable(s.outVar, JwtValue(j))
	}
	return flowNext, nil
}

// extract finds the token; ok is false when there is none.
func (s *validateJwt) extract(c *Context) (string, bool, error) {
	var v string
	switch {
	case s.header != "":
		h, ok := c.Request.Headers.Get(s.header)
		if !ok {
			return "", false, nil
		}
		v = strings.TrimSpace(h)
		scheme := s.scheme
		if scheme == "" {
			scheme = "Bearer" // accepted when present, as APIM does
			if len(v) > len(scheme) && strings.EqualFold(v[:len(scheme)], scheme) && v[len(scheme)] == ' ' {
				v = strings.TrimSpace(v[len(scheme)+1:])
			}
		} else {
			if !(len(v) > len(scheme) && strings.EqualFold(v[:len(scheme)], scheme) && v[len(scheme)] == ' ') {
				return "", false, nil
			}
			v = strings.TrimSpace(v[len(scheme)+1:])
		}
	case s.query != "":
		q, ok := c.Request.Query.Get(s.query)
		if !ok {
			return "", false, nil
		}
		v = q
	default:
		t, err := s.token.str(c)
		if err != nil {
			return "", false, err
		}
		v = strings.TrimSpace(t)
	}
	return v, v != "", nil
}

// openidKeys returns the cached keys of the configuration, or asks for them
// to be fetched (flowCall, twice: the configuration, then its jwks_uri).
func (s *validateJwt) openidKeys(c *Context, st *State) (*jwksEntry, flow, error) {
	now := st.now()
	cs := &c.calls
	if cs.done {
		resp, cerr := cs.resp, cs.err
		phase, issuer := cs.phase, cs.note
		*cs = callState{}
		fail := func(msg string) (*jwksEntry, flow, error) {
			st.jwks.failed(s.openid, msg, now)
			return st.jwks.get(s.openid), flowNext, nil // the last good set, if any
		}
		if cerr != nil {
			return fail(cerr.Error())
		}
		if resp.StatusCode != 200 {
			return fail(fmt.Sprintf("status %d", resp.StatusCode))
		}
		if phase == 0 {
			uri, issuer, err := parseDiscovery(resp.Body)
			if err != nil {
				return fail(err.Error())
			}
			cs.call = &HTTPCall{Method: "GET", URL: uri, Timeout: 10 * time.Second, Policy: s.policy}
			cs.phase, cs.note = 1, issuer
			return nil, flowCall, nil
		}
		set, err := jwk.Parse(resp.Body)
		if err != nil {
			return fail("JWKS: " + err.Error())
		}
		e := &jwksEntry{set: set, issuer: issuer, fetched: now}
		st.jwks.put(s.openid, e)
		return e, flowNext, nil
	}
	e, fetch := st.jwks.needsFetch(s.openid, now)
	if !fetch {
		return e, flowNext, nil
	}
	cs.call = &HTTPCall{Method: "GET", URL: s.openid, Timeout: 10 * time.Second, Policy: s.policy}
	return nil, flowCall, nil
}

func anyIn(have, want []string) bool {
	for _, h := range have {
		for _, w := range want {
			if h == w {
				return true
			}
		}
	}
	return false
}

// satisfied checks a required claim: present, and holding all (or any) of
// the values; a string claim is split by separator when one is given.
func (rc *requiredClaim) satisfied(tok jwt.Token) bool {
	var have []string
	for _, name := range strings.Split(rc.name, "|") {
		var v any
		if err := tok.Get(name, &v); err != nil {
			continue
		}
		switch x := v.(type) {
		case string:
			if rc.separator != "" {
				have = append(have, strings.Split(x, rc.separator)...)
			} else {
				have = append(have, x)
			}
		case []any:
			for _, e := range x {
				have = append(have, fmt.Sprint(e))
			}
		case []string:
			have = append(have, x...)
		case bool:
			have = append(have, strconv.FormatBool(x))
		default:
			have = append(have, fmt.Sprint(x))
		}
	}
	if len(have) == 0 {
		return false
	}
	if len(rc.values) == 0 {
		return true
	}
	for _, w := range rc.values {
		found := anyIn(have, []string{w})
		if rc.any && found {
			return true
		}
		if !rc.any && !found {
			return false
		}
	}
	return !rc.any
}
