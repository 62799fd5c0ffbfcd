package controlplane

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/apimgw/apimgw/wire"
)

// SubscriptionKeys is the answer of listSecrets.
type SubscriptionKeys struct {
	PrimaryKey   string `json:"primaryKey"`
	SecondaryKey string `json:"secondaryKey"`
}

// ListSecrets returns a subscription's keys.
func (s *Store) ListSecrets(sid string) (SubscriptionKeys, error) {
	e, err := subscriptionKind.get(s, sid)
	if err != nil {
		return SubscriptionKeys{}, err
	}
	return SubscriptionKeys{e.Props.PrimaryKey, e.Props.SecondaryKey}, nil
}

// RegenerateSubscriptionKey replaces the primary (secondary=false) or
// secondary key with a new random one.
func (s *Store) RegenerateSubscriptionKey(sid string, secondary bool) error {
	return s.update(func(t *txn) error {
		e, ok := t.m.subs[sid]
		if !ok {
			return notFound("Subscription %q was not found.", sid)
		}
		c := *e.Props
		if secondary {
			c.SecondaryKey = randomHex(16)
		} else {
			c.PrimaryKey = randomHex(16)
		}
		set(t, t.m.subs, bucketSubs, sid, entry[Subscription]{ETag: newETag(), Props: &c})
		return nil
	})
}

// NamedValueSecret returns a named value's value (listValue), secret or not.
func (s *Store) NamedValueSecret(id string) (string, error) {
	e, err := namedValueKind.get(s, id)
	if err != nil {
		return "", err
	}
	return e.Props.Value, nil
}

// GatewayKeys is the answer of listKeys.
type GatewayKeys struct {
	Primary   string `json:"primary"`
	Secondary string `json:"secondary"`
}

// ListGatewayKeys returns the keys a gateway's tokens are signed with.
func (s *Store) ListGatewayKeys(gw string) (GatewayKeys, error) {
	e, err := gatewayKind.get(s, gw)
	if err != nil {
		return GatewayKeys{}, err
	}
	return GatewayKeys{e.Props.PrimaryKey, e.Props.SecondaryKey}, nil
}

func parseKeyType(keyType string) (secondary bool, err error) {
	switch strings.ToLower(keyType) {
	case "", "primary":
		return false, nil
	case "secondary":
		return true, nil
	}
	return false, invalidField("keyType", "%q is not primary or secondary", keyType)
}

// RegenerateGatewayKey replaces one gateway key; tokens signed with the old
// key stop working at once.
func (s *Store) RegenerateGatewayKey(gw, keyType string) error {
	secondary, err := parseKeyType(keyType)
	if err != nil {
		return err
	}
	return s.update(func(t *txn) error {
		e, ok := t.m.gateways[gw]
		if !ok {
			return notFound("Gateway %q was not found.", gw)
		}
		c := *e.Props
		if secondary {
			c.SecondaryKey = randomKey()
		} else {
			c.PrimaryKey = randomKey()
		}
		set(t, t.m.gateways, bucketGateways, gw, entry[Gateway]{ETag: newETag(), Props: &c})
		return nil
	})
}

// GenerateToken signs a gateway token with the gateway's primary or
// secondary key. The expiry must be in the future and at most
// wire.MaxTokenLifetime ahead.
func (s *Store) GenerateToken(gw, keyType string, expiry time.Time) (string, error) {
	secondary, err := parseKeyType(keyType)
	if err != nil {
		return "", err
	}
	keys, err := s.ListGatewayKeys(gw)
	if err != nil {
		return "", err
	}
	now := s.opts.Now()
	if expiry.IsZero() {
		return "", invalidField("expiry", "is required (RFC 3339)")
	}
	if !expiry.After(now) {
		return "", invalidField("expiry", "%s is not in the future", expiry.UTC().Format(time.RFC3339))
	}
	if expiry.Sub(now) > wire.MaxTokenLifetime+time.Minute {
		return "", invalidField("expiry", "%s is more than 30 days ahead", expiry.UTC().Format(time.RFC3339))
	}
	key := keys.Primary
	if secondary {
		key = keys.Secondary
	}
	return wire.SignToken(key, gw, expiry), nil
}

// AuthenticateGateway checks a GatewayKey token (with or without the
// "GatewayKey " prefix) and returns the gateway id. Errors are *APIError
// with Kind ErrUnauthorized: code TokenExpired (the message says when) or
// InvalidToken. The signature check is constant-time and tries both keys.
//
// On a shared backend a token for a gateway (or key) this process has not
// loaded yet — created through another apimcp a moment ago — is checked
// again after catching up with the database.
func (s *Store) AuthenticateGateway(token string) (string, error) {
	gw, unknown, err := s.authenticate(token)
	if unknown && s.be.shared() {
		s.catchUp()
		gw, _, err = s.authenticate(token)
	}
	return gw, err
}

// authenticate is AuthenticateGateway on the model loaded; unknown says the
// gateway or the signature key was not found (a newer model might know it).
func (s *Store) authenticate(token string) (string, bool, error) {
	tok, err := wire.ParseToken(token)
	if err != nil {
		return "", false, &APIError{Kind: ErrUnauthorized, Code: "InvalidToken", Message: "The gateway token is malformed: " + strings.TrimPrefix(err.Error(), "wire: malformed gateway token: ")}
	}
	e, ok := s.snapshotModel().gateways[tok.GatewayID]
	if !ok {
		// Same message as a bad signature: do not reveal which gateways exist.
		return "", true, &APIError{Kind: ErrUnauthorized, Code: "InvalidToken", Message: "The gateway token is not valid."}
	}
	err = tok.VerifyAny([]string{e.Props.PrimaryKey, e.Props.SecondaryKey}, s.opts.Now())
	switch {
	case err == nil:
		return tok.GatewayID, false, nil
	case errors.Is(err, wire.ErrTokenExpired):
		return "", false, &APIError{Kind: ErrUnauthorized, Code: "TokenExpired",
			Message: fmt.Sprintf("The gateway token expired at %s; generate a new one (apimctl gateway token %s).", tok.Expiry.Format(time.RFC3339), tok.GatewayID)}
	default:
		return "", true, &APIError{Kind: ErrUnauthorized, Code: "InvalidToken", Message: "The gateway token is not valid."}
	}
}

// Snapshot returns the current snapshot of gateway gw as JSON (what
// `apimctl gw export` writes), its version and ETag.
func (s *Store) Snapshot(gw string) (body []byte, version uint64, etag string, err error) {
	pub, _, ok := s.hub.current(gw)
	if !ok {
		return nil, 0, "", notFound("Gateway %q was not found.", gw)
	}
	return pub.body, pub.version, pub.etag, nil
}
