package policy

import (
	"encoding/base64"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"
)

// This file is APIM's Jwt and BasicAuthCredentials values and the string
// extension methods AsJwt(), TryParseJwt(out Jwt), AsBasic(),
// TryParseBasic(out BasicAuthCredentials). validate-jwt shares the Jwt type:
// ParseJwt decodes the token's structure (no signature check), JwtValue wraps
// it for output-token-variable-name.

// Jwt is a decoded JSON Web Token: header and claims, as APIM's Jwt object
// exposes them. It does not say whether the signature is valid.
type Jwt struct {
	Raw    string
	Header map[string]any
	Claims map[string]any
}

func (*Jwt) typeName() string { return "Jwt" }
func (j *Jwt) String() string { return j.Raw }

// ParseJwt decodes a compact JWS ("a.b.c"); an optional "Bearer " scheme is
// stripped, as APIM's AsJwt does for Authorization header values.
func ParseJwt(s string) (*Jwt, bool) {
	s = strings.TrimSpace(s)
	if len(s) > 7 && strings.EqualFold(s[:7], "bearer ") {
		s = strings.TrimSpace(s[7:])
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 && len(parts) != 5 {
		return nil, false
	}
	j := &Jwt{Raw: s}
	if !decodeSegment(parts[0], &j.Header) || !decodeSegment(parts[1], &j.Claims) {
		return nil, false
	}
	return j, true
}

func decodeSegment(seg string, dst *map[string]any) bool {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(seg, "="))
	if err != nil {
		return false
	}
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	return d.Decode(dst) == nil && *dst != nil
}

// JwtValue wraps a Jwt as an expression value (context.Variables["jwt"]).
func JwtValue(j *Jwt) Value { return objValue(j) }

// claimStrings renders a claim's value as APIM's string[]: arrays element by
// element, other values as text.
func claimStrings(v any) []string {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return []string{x}
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			out = append(out, claimStrings(e)...)
		}
		return out
	case json.Number:
		return []string{x.String()}
	case bool:
		if x {
			return []string{"True"}
		}
		return []string{"False"}
	}
	b, _ := json.Marshal(v)
	return []string{string(b)}
}

func (j *Jwt) claim(name string) string {
	s := claimStrings(j.Claims[name])
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func (j *Jwt) timeClaim(name string) Value {
	n, ok := j.Claims[name].(json.Number)
	if !ok {
		return Value{}
	}
	f, err := strconv.ParseFloat(n.String(), 64)
	if err != nil {
		return Value{}
	}
	return objValue(dateTime{t: time.Unix(int64(f), 0).UTC()})
}

type jwtClaims struct{ j *Jwt }

func (jwtClaims) typeName() string { return "JwtClaims" }
func (jwtClaims) String() string   { return "IReadOnlyDictionary`2[System.String,System.String[]]" }

type basicAuth struct{ user, pass string }

func (*basicAuth) typeName() string { return "BasicAuthCredentials" }
func (*basicAuth) String() string   { return "BasicAuthCredentials" }

func parseBasic(s string) (*basicAuth, bool) {
	s = strings.TrimSpace(s)
	if len(s) > 6 && strings.EqualFold(s[:6], "basic ") {
		s = strings.TrimSpace(s[6:])
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, false
	}
	u, p, ok := strings.Cut(string(b), ":")
	if !ok {
		return nil, false
	}
	return &basicAuth{user: u, pass: p}, true
}

func init() {
	s := regType("string")
	s.m("AsJwt", 0, 0, "Jwt", func(c *Context, v Value, a []Value, _ string) (Value, error) {
		j, ok := ParseJwt(v.s)
		if !ok {
			return Value{}, nil
		}
		return objValue(j), nil
	})
	s.m("TryParseJwt", 1, 1, tyBool, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		j, ok := ParseJwt(v.s)
		c.x.out = Value{}
		if ok {
			c.x.out = objValue(j)
		}
		return BoolValue(ok), nil
	}, "result").out = true
	s.m("AsBasic", 0, 0, "BasicAuthCredentials", func(c *Context, v Value, a []Value, _ string) (Value, error) {
		b, ok := parseBasic(v.s)
		if !ok {
			return Value{}, nil
		}
		return objValue(b), nil
	})
	s.m("TryParseBasic", 1, 1, tyBool, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		b, ok := parseBasic(v.s)
		c.x.out = Value{}
		if ok {
			c.x.out = objValue(b)
		}
		return BoolValue(ok), nil
	}, "result").out = true

	jw := regType("Jwt")
	jp := func(name, claim string) {
		jw.p(name, tyString, func(c *Context, v Value) (Value, error) {
			j := v.o.(*Jwt)
			if _, ok := j.Claims[claim]; !ok {
				return Value{}, nil
			}
			return str(j.claim(claim)), nil
		})
	}
	jp("Id", "jti")
	jp("Issuer", "iss")
	jp("Subject", "sub")
	jw.p("Algorithm", tyString, func(c *Context, v Value) (Value, error) {
		a, _ := v.o.(*Jwt).Header["alg"].(string)
		return str(a), nil
	})
	jw.p("Type", tyString, func(c *Context, v Value) (Value, error) {
		a, _ := v.o.(*Jwt).Header["typ"].(string)
		return str(a), nil
	})
	jw.p("Audiences", "List", func(c *Context, v Value) (Value, error) {
		return objValue(stringsList(claimStrings(v.o.(*Jwt).Claims["aud"]))), nil
	})
	jw.p("ExpirationTime", "DateTime", func(c *Context, v Value) (Value, error) { return v.o.(*Jwt).timeClaim("exp"), nil })
	jw.p("NotBefore", "DateTime", func(c *Context, v Value) (Value, error) { return v.o.(*Jwt).timeClaim("nbf"), nil })
	jw.p("IssuedAt", "DateTime", func(c *Context, v Value) (Value, error) { return v.o.(*Jwt).timeClaim("iat"), nil })
	jw.p("Claims", "JwtClaims", func(c *Context, v Value) (Value, error) { return objValue(jwtClaims{j: v.o.(*Jwt)}), nil })

	jc := regType("JwtClaims", "IEnumerable")
	jc.m("GetValueOrDefault", 1, 2, tyString, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		j := v.o.(jwtClaims).j
		cl, ok := j.Claims[a[0].String()]
		if !ok {
			if len(a) == 2 {
				return a[1], nil
			}
			return Value{}, nil
		}
		return str(strings.Join(claimStrings(cl), ",")), nil
	}, "claimName", "defaultValue")
	jc.m("ContainsKey", 1, 1, tyBool, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		_, ok := v.o.(jwtClaims).j.Claims[a[0].String()]
		return BoolValue(ok), nil
	})
	jc.index = func(c *Context, v, k Value) (Value, error) {
		cl, ok := v.o.(jwtClaims).j.Claims[k.String()]
		if !ok {
			return Value{}, &thrown{typ: "KeyNotFoundException", msg: "The given key '" + k.String() + "' was not present in the dictionary."}
		}
		return Value{k: kStrings, a: claimStrings(cl)}, nil
	}
	jc.indexT = tyStrings
	jc.p("Count", tyInt, func(c *Context, v Value) (Value, error) { return IntValue(int64(len(v.o.(jwtClaims).j.Claims))), nil })
	jc.p("Keys", "List", func(c *Context, v Value) (Value, error) {
		var ks []string
		for k := range v.o.(jwtClaims).j.Claims {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		return objValue(stringsList(ks)), nil
	})
	enumerators["JwtClaims"] = func(c *Context, v Value) ([]Value, error) {
		j := v.o.(jwtClaims).j
		var ks []string
		for k := range j.Claims {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		out := make([]Value, len(ks))
		for i, k := range ks {
			out[i] = objValue(&keyValue{k: str(k), v: Value{k: kStrings, a: claimStrings(j.Claims[k])}})
		}
		return out, nil
	}

	ba := regType("BasicAuthCredentials")
	ba.p("UserId", tyString, func(c *Context, v Value) (Value, error) { return str(v.o.(*basicAuth).user), nil })
	ba.p("Password", tyString, func(c *Context, v Value) (Value, error) { return str(v.o.(*basicAuth).pass), nil })
}
