package status

import "time"

// ExternalCache is the state of the external (Redis) cache that the cache
// policies use for caching-type external and prefer-external: the control
// plane's /caches resource for this gateway's location. While Up is false
// lookups miss at once and stores are skipped; requests keep flowing.
type ExternalCache struct {
	ID       string    `json:"id"`
	Location string    `json:"useFromLocation"`
	Addr     string    `json:"redis"` // scheme://host:port/db, never the password
	Up       bool      `json:"up"`
	Since    time.Time `json:"since"`
	// Lookups that reached Redis: hits, misses, errors (a miss too); Down
	// missed at once because Redis was unreachable.
	Hits   int64 `json:"hits"`
	Misses int64 `json:"misses"`
	Errors int64 `json:"errors"`
	Down   int64 `json:"downMisses"`
	// Stores queued and written; Skipped were not stored (unreachable,
	// queue full, over the entry size limit).
	Stores    int64     `json:"stores"`
	Skipped   int64     `json:"skipped"`
	Fallbacks uint64    `json:"fallbacks"`
	LastError string    `json:"lastError,omitempty"`
	LastErrAt time.Time `json:"lastErrorAt,omitzero"`
}

// writeExternalCache writes the external cache's families: the
// unconfigured count always (caching-type external with no cache for this
// location), the rest when a cache is configured.
func writeExternalCache(p *promWriter, f *Facts) {
	p.counter("apimgw_policy_cache_external_unconfigured_total", "Cache policy operations with caching-type external and no external cache configured for this gateway's location (lookups missed, stores skipped).", float64(f.Policies.ExternalUnconfigured))
	ec := f.ExternalCache
	if ec == nil {
		return
	}
	p.gauge("apimgw_external_cache_up", "1 while the external cache (Redis) answers, 0 while lookups miss and stores are skipped.", boolFloat(ec.Up), "cache", ec.ID)
	p.family("apimgw_external_cache_lookups_total", "counter", "External cache lookups by outcome: hit, miss, error (a miss), down (missed at once, Redis unreachable).")
	p.sample("apimgw_external_cache_lookups_total", float64(ec.Hits), "cache", ec.ID, "outcome", "hit")
	p.sample("apimgw_external_cache_lookups_total", float64(ec.Misses), "cache", ec.ID, "outcome", "miss")
	p.sample("apimgw_external_cache_lookups_total", float64(ec.Errors), "cache", ec.ID, "outcome", "error")
	p.sample("apimgw_external_cache_lookups_total", float64(ec.Down), "cache", ec.ID, "outcome", "down")
	p.family("apimgw_external_cache_stores_total", "counter", "External cache stores and removes by outcome: queued, skipped (unreachable, queue full, too large).")
	p.sample("apimgw_external_cache_stores_total", float64(ec.Stores), "cache", ec.ID, "outcome", "queued")
	p.sample("apimgw_external_cache_stores_total", float64(ec.Skipped), "cache", ec.ID, "outcome", "skipped")
	p.counter("apimgw_external_cache_fallbacks_total", "Times the external cache stopped answering.", float64(ec.Fallbacks), "cache", ec.ID)
}

// externalCacheAlert is the page's warning while the external cache is down.
func externalCacheAlert(r *Report) []alert {
	ec := r.ExternalCache
	if ec == nil || ec.Up {
		return nil
	}
	t := "External cache " + ec.ID + " (" + ec.Addr + ") unreachable"
	if !ec.Since.IsZero() {
		t += " since " + fmtTime(ec.Since) + " (" + ago(r.GeneratedAt, ec.Since) + ")"
	}
	t += ": cache lookups miss and stores are skipped until it answers"
	if ec.LastError != "" {
		t += " (" + ec.LastError + ")"
	}
	return []alert{{"warn", t + "."}}
}
