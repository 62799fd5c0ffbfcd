package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// The external cache of cache-lookup-value, cache-store-value,
// cache-remove-value, cache-lookup and cache-store: APIM's caching-type
// internal (the built-in ValueCache), external (the external cache) and
// prefer-external (the default: the external cache when one is configured,
// else the built-in one). The appliance fills the State's ExternalCache
// (State.SetExternalCache) with the Redis of the gateway's location; the
// pipeline itself does no I/O:
//
//   - A lookup returns Outcome Call with HTTPCall.Cache set; the caller reads
//     the key off the event loop, answers with Context.CacheDone and resumes.
//     While the cache is down (ExternalCache.Up false) a lookup misses at once,
//     without a round trip: APIM's advice is a rate-limit after a lookup for
//     when the cache is unavailable, and requests keep flowing.
//   - A store or a remove is handed to ExternalCache.Set/Delete, which queue
//     it and never block: APIM documents cache-store-value as asynchronous
//     (a value may not be visible to a lookup at once). While the cache is
//     down they are skipped, and counted.
//   - caching-type external with no external cache configured for the
//     gateway's location: lookups miss and stores are skipped, counted as
//     unconfigured (ExternalCacheStats), so the status page says why nothing
//     is cached. APIM documents no error for it.
//
// Values are serialized (encodeCached) so that replicas share entries: one
// stores, another finds it, whatever the value's type among string, int,
// bool, double, null, string[], JSON (JObject, JArray, JToken), DateTime and
// a cached response; any other object fails the store with a clear error.

// ExternalCache is the external cache's back end.
type ExternalCache interface {
	// Get reads key: one round trip, so it blocks; it is called off the event
	// loop only, by whoever handles a Call outcome with HTTPCall.Cache.
	Get(ctx context.Context, key string) (val []byte, found bool, err error)
	// Set queues storing val under key for ttl, and Delete queues removing
	// key. Neither blocks; false means not queued (down, queue full, val too
	// large), which the State counts. Both keep their arguments.
	Set(key string, val []byte, ttl time.Duration) bool
	Delete(key string) bool
	// Up reports whether the cache answers now.
	Up() bool
}

// CacheLookup is an external cache read a policy needs (HTTPCall.Cache):
// get Key from Cache off the event loop, then Context.CacheDone and Resume.
type CacheLookup struct {
	Cache ExternalCache
	Key   string // may point into request buffers: copy it before the loop moves on
}

// CacheDone gives the pending CacheLookup's outcome to the pipeline (err set
// if the read failed: the lookup is then a miss). Call Resume next.
func (c *Context) CacheDone(val []byte, found bool, err error) {
	c.calls.done, c.calls.cacheVal, c.calls.cacheFound, c.calls.err = true, val, found && err == nil, err
}

// phaseCacheLookup marks c.calls as a cache lookup.
const phaseCacheLookup = 21

// ExternalCacheStats count the cache policies' use of the external cache.
type ExternalCacheStats struct {
	// Configured: the gateway has an external cache (SetExternalCache).
	Configured bool
	// Lookups asked the cache; Hits found a value; Misses did not (or it could
	// not be read: Errors); Down missed at once because the cache was down.
	Lookups, Hits, Misses, Errors, Down int64
	// Stores and Removes were queued; Skipped were not (down, queue full,
	// too large).
	Stores, Removes, Skipped int64
	// Unconfigured counts caching-type external operations with no external
	// cache configured (lookups missed, stores skipped).
	Unconfigured int64
	// Undecodable values found under a key were not ours (or of another
	// version): a miss.
	Undecodable int64
}

type extBox struct{ c ExternalCache }

// externalState is the State's external cache and its counters.
type externalState struct {
	p                                                atomic.Pointer[extBox]
	lookups, hits, misses, errors, down              atomic.Int64
	stores, removes, skipped, unconfigured, undecode atomic.Int64
}

// SetExternalCache makes the cache policies use ec for caching-type external
// and prefer-external (nil: none configured, the default). Safe at any time;
// a request keeps the cache it started a lookup with.
func (s *State) SetExternalCache(ec ExternalCache) {
	if ec == nil {
		s.external.p.Store(nil)
		return
	}
	s.external.p.Store(&extBox{ec})
}

// ExternalCacheStats returns the external cache counters.
func (s *State) ExternalCacheStats() ExternalCacheStats {
	e := &s.external
	return ExternalCacheStats{Configured: e.p.Load() != nil, Lookups: e.lookups.Load(), Hits: e.hits.Load(), Misses: e.misses.Load(),
		Errors: e.errors.Load(), Down: e.down.Load(), Stores: e.stores.Load(), Removes: e.removes.Load(), Skipped: e.skipped.Load(),
		Unconfigured: e.unconfigured.Load(), Undecodable: e.undecode.Load()}
}

// cachingKind is a compiled caching-type.
type cachingKind uint8

const (
	cachePreferExternal cachingKind = iota
	cacheExternal
	cacheInternal
)

func cachingType(b *builder, n *Node) cachingKind {
	switch b.attrEnum(n, "caching-type", "prefer-external", "prefer-external", "external", "internal") {
	case "external":
		return cacheExternal
	case "internal":
		return cacheInternal
	}
	return cachePreferExternal
}

// pick returns the external cache a policy of kind k uses now (nil with
// internal true: the built-in cache; nil with internal false: external
// wanted and none configured, counted).
func (s *State) pick(k cachingKind) (ec ExternalCache, internal bool) {
	if k == cacheInternal {
		return nil, true
	}
	if b := s.external.p.Load(); b != nil {
		return b.c, false
	}
	if k == cachePreferExternal {
		return nil, true
	}
	s.external.unconfigured.Add(1)
	return nil, false
}

// extLookup starts an external lookup of key (flowCall), or reports a miss at
// once (ok false) when the cache is down or not configured.
func extLookup(c *Context, ec ExternalCache, key, policy string) (flow, bool) {
	e := &c.pipe.state.external
	if ec == nil {
		return flowNext, false
	}
	e.lookups.Add(1)
	if !ec.Up() {
		e.down.Add(1)
		e.misses.Add(1)
		return flowNext, false
	}
	c.calls = callState{call: &HTTPCall{Policy: policy, Cache: &CacheLookup{Cache: ec, Key: key}}, phase: phaseCacheLookup}
	return flowCall, true
}

// extLookupDone takes a lookup's answer (the step runs again on Resume):
// the value, or ok false for a miss.
func extLookupDone(c *Context) (val []byte, ok bool) {
	st, e := c.calls, &c.pipe.state.external
	c.calls = callState{}
	switch {
	case st.err != nil:
		e.errors.Add(1)
		e.misses.Add(1)
		return nil, false
	case !st.cacheFound:
		e.misses.Add(1)
		return nil, false
	}
	e.hits.Add(1)
	return st.cacheVal, true
}

// extStore queues a store (d > 0).
func extStore(s *State, ec ExternalCache, key string, val []byte, d time.Duration) {
	if ec == nil {
		return // unconfigured: counted by pick
	}
	if !ec.Up() || !ec.Set(strings.Clone(key), val, d) {
		s.external.skipped.Add(1)
		return
	}
	s.external.stores.Add(1)
}

// extRemove queues a remove.
func extRemove(s *State, ec ExternalCache, key string) {
	if ec == nil {
		return
	}
	if !ec.Up() || !ec.Delete(strings.Clone(key)) {
		s.external.skipped.Add(1)
		return
	}
	s.external.removes.Add(1)
}

// The serialized form of a cached value: cacheMagic, a type byte, the payload.
const cacheMagic = "apimgw1"

// cachedResponse is the payload of a cached response ('r').
type cachedResponse struct {
	Status  int         `json:"s"`
	Reason  string      `json:"r,omitempty"`
	Headers [][2]string `json:"h,omitempty"`
	Body    []byte      `json:"b,omitempty"`
	// Expires is when the entry expires (Unix ms), for Cache-Control max-age.
	Expires int64 `json:"e,omitempty"`
}

// encodeCached serializes v for the external cache; expires is only kept for
// responses.
func encodeCached(v Value, expires time.Time) ([]byte, error) {
	b := []byte(cacheMagic)
	switch v.k {
	case kNull:
		return append(b, 'n'), nil
	case kBool:
		if v.b {
			return append(b, 'b', '1'), nil
		}
		return append(b, 'b', '0'), nil
	case kInt:
		return strconv.AppendInt(append(b, 'i'), v.i, 10), nil
	case kDouble:
		return strconv.AppendFloat(append(b, 'd'), math.Float64frombits(uint64(v.i)), 'g', -1, 64), nil
	case kString:
		return append(append(b, 's'), v.s...), nil
	case kStrings:
		a, _ := json.Marshal(v.a)
		return append(append(b, 'a'), a...), nil
	}
	switch o := v.o.(type) {
	case *jNode:
		return append(append(b, 'j'), o.render(false)...), nil
	case dateTime:
		b = append(b, 't')
		if o.offset {
			b = append(b, '+')
		} else {
			b = append(b, '-')
		}
		return o.t.AppendFormat(b, time.RFC3339Nano), nil
	case *responseValue:
		cr := cachedResponse{Status: o.StatusCode, Reason: o.Reason, Body: o.Body, Expires: expires.UnixMilli()}
		for _, h := range o.Headers.List {
			cr.Headers = append(cr.Headers, [2]string{h.Name, h.Value})
		}
		p, err := json.Marshal(&cr)
		if err != nil {
			return nil, err
		}
		return append(append(b, 'r'), p...), nil
	}
	return nil, evalErr("a value of type %s cannot be stored in the external cache (string, number, bool, string[], JSON, DateTime and responses can)", v.o.typeName())
}

// decodeCached is encodeCached's inverse; expires is set for responses.
func decodeCached(c *Context, b []byte) (v Value, expires time.Time, err error) {
	s, ok := strings.CutPrefix(string(b), cacheMagic)
	if !ok || s == "" {
		return Value{}, time.Time{}, fmt.Errorf("not a value stored by this gateway version")
	}
	tag, p := s[0], s[1:]
	switch tag {
	case 'n':
		return Value{}, time.Time{}, nil
	case 'b':
		return BoolValue(p == "1"), time.Time{}, nil
	case 'i':
		n, err := strconv.ParseInt(p, 10, 64)
		return IntValue(n), time.Time{}, err
	case 'd':
		f, err := strconv.ParseFloat(p, 64)
		return doubleValue(f), time.Time{}, err
	case 's':
		return StringValue(p), time.Time{}, nil
	case 'a':
		var a []string
		err := json.Unmarshal([]byte(p), &a)
		return Value{k: kStrings, a: a}, time.Time{}, err
	case 'j':
		j, err := parseJSON(c, p)
		if err != nil {
			return Value{}, time.Time{}, err
		}
		return objValue(j), time.Time{}, nil
	case 't':
		if p == "" {
			break
		}
		t, err := time.Parse(time.RFC3339Nano, p[1:])
		return objValue(dateTime{t: t, offset: p[0] == '+'}), time.Time{}, err
	case 'r':
		var cr cachedResponse
		if err := json.Unmarshal([]byte(p), &cr); err != nil {
			return Value{}, time.Time{}, err
		}
		hs := make([]Header, len(cr.Headers))
		for i, h := range cr.Headers {
			hs[i] = Header{Name: h[0], Value: h[1]}
		}
		return ResponseValue(cr.Status, cr.Reason, hs, cr.Body), time.UnixMilli(cr.Expires), nil
	}
	return Value{}, time.Time{}, fmt.Errorf("unknown type %q", tag)
}
