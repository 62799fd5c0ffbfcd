package policy

import (
	"container/list"
	"strings"
	"sync"
	"time"
)

// ValueCache is the built-in cache of cache-store-value, cache-lookup-value,
// cache-remove-value, cache-lookup and cache-store (caching-type internal,
// and prefer-external when no external cache is configured:
// pol_cache_external.go). It lives in the State, so a snapshot
// swap keeps it. It is bounded by a byte budget (DefaultCacheBudget unless
// State.SetCacheBudget): storing past the budget evicts the least recently
// used entries; entries expire after their duration. Safe for concurrent use.
type ValueCache struct {
	mu      sync.Mutex
	budget  int64
	used    int64
	items   map[string]*list.Element
	lru     list.List // front: most recently used
	stats   CacheStats
	started bool
}

// DefaultCacheBudget is the cache's byte budget unless set otherwise.
const DefaultCacheBudget = 64 << 20

// CacheStats are the cache's counters, for /metrics.
type CacheStats struct {
	Entries   int
	Bytes     int64
	Budget    int64
	Hits      int64
	Misses    int64
	Stores    int64
	Evictions int64 // removed to stay within the budget
	Expired   int64 // removed because their duration passed
}

type cacheEntry struct {
	key     string
	val     Value
	size    int64
	expires time.Time
}

// entryOverhead approximates the memory of an entry beyond its strings.
const entryOverhead = 96

func (vc *ValueCache) init() {
	if !vc.started {
		vc.started = true
		vc.items = map[string]*list.Element{}
		if vc.budget == 0 {
			vc.budget = DefaultCacheBudget
		}
	}
}

// SetCacheBudget sets the byte budget of the State's value cache (evicting at
// once if it now holds more).
func (s *State) SetCacheBudget(n int64) {
	vc := &s.cache
	vc.mu.Lock()
	defer vc.mu.Unlock()
	vc.init()
	vc.budget = n
	vc.evict()
}

// CacheStats returns the counters of the State's value cache.
func (s *State) CacheStats() CacheStats {
	vc := &s.cache
	vc.mu.Lock()
	defer vc.mu.Unlock()
	vc.init()
	st := vc.stats
	st.Entries, st.Bytes, st.Budget = len(vc.items), vc.used, vc.budget
	return st
}

func valueSize(v Value) int64 {
	n := int64(len(v.s))
	for _, s := range v.a {
		n += int64(len(s)) + 16
	}
	if _, _, hdrs, body, ok := AsResponse(v); ok {
		n += int64(len(body))
		for _, h := range hdrs {
			n += int64(len(h.Name)+len(h.Value)) + 32
		}
	}
	return n
}

// store keeps v under key until now+d. A value larger than the whole budget is
// not stored.
func (vc *ValueCache) store(key string, v Value, d time.Duration, now time.Time) {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	vc.init()
	if e, ok := vc.items[key]; ok {
		vc.remove(e)
	}
	key = strings.Clone(key)
	if v.k == kString {
		v.s = strings.Clone(v.s) // it may point into a connection's buffer
	}
	size := int64(len(key)) + valueSize(v) + entryOverhead
	if size > vc.budget {
		return
	}
	vc.stats.Stores++
	vc.items[key] = vc.lru.PushFront(&cacheEntry{key: key, val: v, size: size, expires: now.Add(d)})
	vc.used += size
	vc.evict()
}

func (vc *ValueCache) lookup(key string, now time.Time) (Value, bool) {
	v, _, ok := vc.lookupEntry(key, now)
	return v, ok
}

// lookupEntry is lookup that also returns when the entry expires.
func (vc *ValueCache) lookupEntry(key string, now time.Time) (Value, time.Time, bool) {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	vc.init()
	e, ok := vc.items[key]
	if !ok {
		vc.stats.Misses++
		return Value{}, time.Time{}, false
	}
	ce := e.Value.(*cacheEntry)
	if !now.Before(ce.expires) {
		vc.remove(e)
		vc.stats.Expired++
		vc.stats.Misses++
		return Value{}, time.Time{}, false
	}
	vc.lru.MoveToFront(e)
	vc.stats.Hits++
	return ce.val, ce.expires, true
}

func (vc *ValueCache) delete(key string) {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	vc.init()
	if e, ok := vc.items[key]; ok {
		vc.remove(e)
	}
}

func (vc *ValueCache) remove(e *list.Element) {
	ce := e.Value.(*cacheEntry)
	vc.lru.Remove(e)
	delete(vc.items, ce.key)
	vc.used -= ce.size
}

// evict drops least recently used entries until the budget holds.
func (vc *ValueCache) evict() {
	for vc.used > vc.budget {
		e := vc.lru.Back()
		if e == nil {
			return
		}
		vc.remove(e)
		vc.stats.Evictions++
	}
}
