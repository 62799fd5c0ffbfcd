package envconf

import (
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/apimgw/apimgw/wire"
)

// TokenPrefix is the optional scheme word in front of a gateway token; the
// Authorization header the control plane expects carries it.
const TokenPrefix = "GatewayKey "

// TokenExpiryLayout is the token's expiry format (Azure's yyyyMMddHHmm, UTC).
const TokenExpiryLayout = "200601021504"

// Token is a parsed gateway token: "<gatewayId>&<yyyyMMddHHmm>&<base64 sig>".
// The signature is not verified here (only the control plane has the key);
// its form is.
type Token struct {
	// GatewayID is the gateway the token was issued for.
	GatewayID string
	// Expiry is when the token stops working (UTC, minute precision).
	Expiry time.Time
	// Signature is the base64 HMAC as written in the token.
	Signature string
	raw       string // id&expiry&sig, without the prefix
}

// ParseToken parses a token with or without the "GatewayKey " prefix.
// Surrounding blanks are ignored. An expired token parses fine (the gateway
// keeps serving and says so); check Expired.
func ParseToken(s string) (Token, error) {
	s = strings.TrimSpace(s)
	if len(s) >= len(TokenPrefix) && strings.EqualFold(s[:len(TokenPrefix)], TokenPrefix) {
		s = strings.TrimSpace(s[len(TokenPrefix):])
	}
	if s == "" {
		return Token{}, fmt.Errorf("%w: empty", ErrToken)
	}
	if strings.ContainsAny(s, " \t") {
		return Token{}, fmt.Errorf("%w: contains blanks (expected [GatewayKey ]<gatewayId>&<expiry yyyyMMddHHmm>&<signature>)", ErrToken)
	}
	parts := strings.Split(s, "&")
	if len(parts) != 3 {
		return Token{}, fmt.Errorf("%w: expected [GatewayKey ]<gatewayId>&<expiry yyyyMMddHHmm>&<signature>, found %d part(s) separated by &", ErrToken, len(parts))
	}
	id, exp, sig := parts[0], parts[1], parts[2]
	if id == "" {
		return Token{}, fmt.Errorf("%w: gateway id (before the first &) is empty", ErrToken)
	}
	if len(exp) != len(TokenExpiryLayout) || strings.Trim(exp, "0123456789") != "" {
		return Token{}, fmt.Errorf("%w: expiry %q is not yyyyMMddHHmm (12 digits, UTC)", ErrToken, clip(exp))
	}
	t, err := time.ParseInLocation(TokenExpiryLayout, exp, time.UTC)
	if err != nil {
		return Token{}, fmt.Errorf("%w: expiry %q is not a valid date and time: %v", ErrToken, exp, err)
	}
	if sig == "" {
		return Token{}, fmt.Errorf("%w: signature (after the second &) is empty", ErrToken)
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return Token{}, fmt.Errorf("%w: signature is not base64: %v", ErrToken, err)
	}
	if len(raw) != sha512.Size {
		return Token{}, fmt.Errorf("%w: signature is %d bytes, an HMAC-SHA512 is %d (token cut short when copied?)", ErrToken, len(raw), sha512.Size)
	}
	// The control plane's own parser is the final word on the form, so a
	// token accepted here is one it can verify.
	if _, err := wire.ParseToken(s); err != nil {
		return Token{}, fmt.Errorf("%w: %v", ErrToken, err)
	}
	return Token{GatewayID: id, Expiry: t, Signature: sig, raw: s}, nil
}

// Value is the token without the prefix, as the control plane issued it.
func (t Token) Value() string { return t.raw }

// Header is the Authorization header value: "GatewayKey <token>".
func (t Token) Header() string { return TokenPrefix + t.raw }

// Expired reports whether the token has expired at now.
func (t Token) Expired(now time.Time) bool { return !now.Before(t.Expiry) }

// ExpiresWithin reports whether the token expires within d of now (the
// appliance warns 7 days ahead).
func (t Token) ExpiresWithin(now time.Time, d time.Duration) bool {
	return now.Add(d).After(t.Expiry)
}

// String is safe to log: the signature is elided.
func (t Token) String() string {
	return fmt.Sprintf("%s%s&%s&<signature elided>", TokenPrefix, t.GatewayID, t.Expiry.Format(TokenExpiryLayout))
}

// Equal reports whether two tokens are the same token.
func (t Token) Equal(o Token) bool { return t.raw == o.raw }
