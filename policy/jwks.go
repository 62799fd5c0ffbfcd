package policy

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// Signing keys from OpenID configurations (validate-jwt openid-config,
// validate-azure-ad-token). They are fetched through the pipeline's Call
// outcome (off the event loop, by the caller), cached in the State by
// configuration URL, refreshed after jwksRefresh, and the last good set is
// kept when a refresh fails (the identity provider unreachable: the gateway
// keeps validating with the keys it has).

const jwksRefresh = time.Hour

// jwksRetry is how long a failed refresh waits before the next attempt while
// a last good set is used.
const jwksRetry = time.Minute

type jwksCache struct {
	mu      sync.Mutex
	entries map[string]*jwksEntry
}

type jwksEntry struct {
	set       jwk.Set
	issuer    string
	fetched   time.Time
	nextTry   time.Time // after a failed refresh
	lastError string
}

func (jc *jwksCache) get(url string) *jwksEntry {
	jc.mu.Lock()
	defer jc.mu.Unlock()
	if jc.entries == nil {
		return nil
	}
	e := jc.entries[url]
	if e == nil {
		return nil
	}
	cp := *e
	return &cp
}

func (jc *jwksCache) put(url string, e *jwksEntry) {
	jc.mu.Lock()
	defer jc.mu.Unlock()
	if jc.entries == nil {
		jc.entries = map[string]*jwksEntry{}
	}
	jc.entries[url] = e
}

// failed records a failed refresh of a set that is kept.
func (jc *jwksCache) failed(url, msg string, now time.Time) {
	jc.mu.Lock()
	defer jc.mu.Unlock()
	if e := jc.entries[url]; e != nil {
		e.nextTry, e.lastError = now.Add(jwksRetry), msg
	}
}

// needsFetch reports whether url's keys must be fetched before validating
// (none yet: wait for them) or may be refreshed (stale: try, fall back).
func (jc *jwksCache) needsFetch(url string, now time.Time) (e *jwksEntry, fetch bool) {
	e = jc.get(url)
	if e == nil {
		return nil, true
	}
	if now.Sub(e.fetched) < jwksRefresh || now.Before(e.nextTry) {
		return e, false
	}
	return e, true
}

func parseDiscovery(body []byte) (jwksURI, issuer string, err error) {
	var d struct {
		Issuer  string `json:"issuer"`
		JwksURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &d); err != nil {
		return "", "", fmt.Errorf("OpenID configuration is not JSON: %v", err)
	}
	if d.JwksURI == "" {
		return "", "", fmt.Errorf("OpenID configuration has no jwks_uri")
	}
	return d.JwksURI, d.Issuer, nil
}
