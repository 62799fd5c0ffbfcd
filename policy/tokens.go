package policy

import (
	"sync"
	"time"
)

// Managed-identity access tokens (authentication-managed-identity), cached in
// the State by (client id, resource) so that a snapshot swap keeps them.

// tokenRefresh is how long before its expiry a token is fetched anew (a
// token that lives less than twice as long is refreshed at half its life).
const tokenRefresh = 5 * time.Minute

// tokenRetry is how long a failed refresh waits before the next attempt
// while the token held is still valid.
const tokenRetry = 30 * time.Second

// maxTokens bounds the cache (resource may be an expression over the
// request); past it the entry closest to expiry is dropped.
const maxTokens = 1024

type tokenCache struct {
	mu      sync.Mutex
	entries map[string]*tokenEntry
}

type tokenEntry struct {
	tok       Token
	refreshAt time.Time
	nextTry   time.Time // after a failed refresh
}

// lookup returns the cached token and whether a fetch is needed first: no
// valid token (fetch), or one due for refresh whose retry time has come
// (fetch; a failure falls back to it).
func (tc *tokenCache) lookup(key string, now time.Time) (string, bool) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	e := tc.entries[key]
	if e == nil || !now.Before(e.tok.ExpiresOn) {
		return "", true
	}
	if now.Before(e.refreshAt) || now.Before(e.nextTry) {
		return e.tok.AccessToken, false
	}
	return "", true
}

// put stores a fetched token.
func (tc *tokenCache) put(key string, t Token, now time.Time) {
	life := t.ExpiresOn.Sub(now)
	margin := tokenRefresh
	if life < 2*tokenRefresh {
		margin = life / 2
	}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.entries == nil {
		tc.entries = map[string]*tokenEntry{}
	}
	if _, ok := tc.entries[key]; !ok && len(tc.entries) >= maxTokens {
		var victim string
		var soonest time.Time
		for k, e := range tc.entries {
			if victim == "" || e.tok.ExpiresOn.Before(soonest) {
				victim, soonest = k, e.tok.ExpiresOn
			}
		}
		delete(tc.entries, victim)
	}
	tc.entries[key] = &tokenEntry{tok: t, refreshAt: t.ExpiresOn.Add(-margin)}
}

// failed records a failed fetch and returns the token held if it is still
// valid (kept while the endpoint is unreachable, until it expires).
func (tc *tokenCache) failed(key string, now time.Time) (string, bool) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	e := tc.entries[key]
	if e == nil || !now.Before(e.tok.ExpiresOn) {
		return "", false
	}
	e.nextTry = now.Add(tokenRetry)
	return e.tok.AccessToken, true
}
