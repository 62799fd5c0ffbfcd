package wire

import (
	"crypto/hmac"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"strings"
	"time"
)

// Gateway tokens, as Azure's self-hosted gateway uses them:
//
//	<gatewayId>&<expiry yyyyMMddHHmm, UTC>&<base64 HMAC-SHA512(key, gatewayId + "\n" + expiry)>
//
// where key is the gateway key's UTF-8 bytes. In an Authorization header or
// env.conf the token is written "GatewayKey <token>" (prefix optional).
const (
	// TokenScheme is the Authorization scheme of gateway requests.
	TokenScheme = "GatewayKey"
	// TokenTimeLayout is the expiry layout (Go form of yyyyMMddHHmm).
	TokenTimeLayout = "200601021504"
	// MaxTokenLifetime is the longest expiry the control plane issues.
	MaxTokenLifetime = 30 * 24 * time.Hour
)

// GatewayToken is a parsed gateway token. Parsing checks only the form;
// Verify checks signature and expiry.
type GatewayToken struct {
	GatewayID string
	// Expiry is in UTC with minute precision.
	Expiry time.Time
	// expiryText is the expiry exactly as it appeared, which is what was signed.
	expiryText string
	signature  []byte
}

// ParseToken parses "<id>&<yyyyMMddHHmm>&<base64>", with or without a leading
// "GatewayKey " and surrounding spaces. Errors wrap ErrTokenMalformed and
// never include the signature.
func ParseToken(s string) (GatewayToken, error) {
	s = strings.TrimSpace(s)
	if len(s) > len(TokenScheme) && strings.EqualFold(s[:len(TokenScheme)], TokenScheme) && s[len(TokenScheme)] == ' ' {
		s = strings.TrimSpace(s[len(TokenScheme)+1:])
	}
	parts := strings.Split(s, "&")
	if len(parts) != 3 {
		return GatewayToken{}, fmt.Errorf("%w: want <gatewayId>&<yyyyMMddHHmm>&<signature>, got %d part(s)", ErrTokenMalformed, len(parts))
	}
	if err := checkID(parts[0]); err != nil {
		return GatewayToken{}, fmt.Errorf("%w: gateway id: %v", ErrTokenMalformed, err)
	}
	exp, err := time.ParseInLocation(TokenTimeLayout, parts[1], time.UTC)
	if err != nil || len(parts[1]) != len(TokenTimeLayout) {
		return GatewayToken{}, fmt.Errorf("%w: expiry %q is not yyyyMMddHHmm", ErrTokenMalformed, parts[1])
	}
	sig, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != sha512.Size {
		return GatewayToken{}, fmt.Errorf("%w: signature is not base64 of a 64-byte HMAC-SHA512", ErrTokenMalformed)
	}
	return GatewayToken{GatewayID: parts[0], Expiry: exp, expiryText: parts[1], signature: sig}, nil
}

func tokenMAC(key, gatewayID, expiry string) []byte {
	m := hmac.New(sha512.New, []byte(key))
	m.Write([]byte(gatewayID + "\n" + expiry))
	return m.Sum(nil)
}

// SignToken returns the token (without "GatewayKey ") for gatewayID expiring
// at expiry (converted to UTC and truncated to the minute), signed with key.
func SignToken(key, gatewayID string, expiry time.Time) string {
	exp := expiry.UTC().Format(TokenTimeLayout)
	return gatewayID + "&" + exp + "&" + base64.StdEncoding.EncodeToString(tokenMAC(key, gatewayID, exp))
}

// Verify checks the signature against key in constant time, then the expiry
// against now: ErrTokenSignature or ErrTokenExpired (whose message says when
// it expired). The token is expired from its expiry minute on.
func (t GatewayToken) Verify(key string, now time.Time) error {
	return t.VerifyAny([]string{key}, now)
}

// VerifyAny is Verify against several keys (a gateway's primary and
// secondary); it succeeds when one of them signed the token. Every key is
// tried, so the time taken does not reveal which one matched.
func (t GatewayToken) VerifyAny(keys []string, now time.Time) error {
	ok := false
	for _, k := range keys {
		if k != "" && hmac.Equal(tokenMAC(k, t.GatewayID, t.expiryText), t.signature) {
			ok = true
		}
	}
	if !ok {
		return ErrTokenSignature
	}
	if !now.Before(t.Expiry) {
		return fmt.Errorf("%w: gateway %q token expired at %s", ErrTokenExpired, t.GatewayID, t.Expiry.Format(time.RFC3339))
	}
	return nil
}
