package shared

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/apimgw/apimgw/policy"
	"github.com/apimgw/apimgw/wire"
)

// Cache is the external cache of the cache policies (policy.ExternalCache)
// on the Redis of a /caches resource (wire.ExternalCache). Get is one round
// trip on the caller's goroutine (the appliance's call workers, never an
// event loop); Set and Delete queue and one goroutine writes them in
// pipelined batches. While Redis does not answer, Up is false — lookups miss
// at once and stores are skipped — and a probe every CacheOptions.Probe
// brings it back. Entries are shared by every gateway replica on the same
// Redis: keys are "apimgw:cache:" and the policy's key (its SHA-256 when
// longer than MaxCacheKeyBytes), values policy's serialized form.
type Cache struct {
	opts   CacheOptions
	client *redis.Client
	addr   string // host:port/db, for the status page and logs
	queue  chan cacheWrite
	log    *slog.Logger

	up atomic.Bool

	mu        sync.Mutex
	since     time.Time
	lastError string
	lastErrAt time.Time

	gets, hits, misses, errs, sets, dels, dropped, tooLarge, failed, fallbacks atomic.Uint64

	stop chan struct{}
	done sync.WaitGroup
}

var _ policy.ExternalCache = (*Cache)(nil)

// CacheOptions configure a Cache.
type CacheOptions struct {
	// Cache is the snapshot's cache resource (its connection string is a
	// secret: never logged).
	Cache wire.ExternalCache
	// MaxEntryBytes bounds one stored value (DefaultMaxEntryBytes if 0): a
	// larger one is not stored (counted as too large).
	MaxEntryBytes int
	// Queue bounds the writes waiting (DefaultCacheQueue if 0); a write
	// that finds it full is dropped (counted).
	Queue int
	// Timeout bounds one round trip (the connection string's syncTimeout,
	// else DefaultTimeout) and a dial (connectTimeout, else the same).
	Timeout time.Duration
	// Probe is how often an unreachable Redis is tried again (DefaultProbe).
	Probe  time.Duration
	Logger *slog.Logger
}

// Defaults of CacheOptions.
const (
	DefaultMaxEntryBytes = 4 << 20
	DefaultCacheQueue    = 4096
	// MaxCacheKeyBytes is the longest policy key used as it is in Redis.
	MaxCacheKeyBytes = 512
	cachePrefix      = keyPrefix + "cache:"
)

// ErrCacheDown fails a Get while Redis is unreachable.
var ErrCacheDown = errors.New("shared: external cache unreachable")

// CacheStats are a Cache's counters, for the status page and /metrics.
type CacheStats struct {
	ID, Location string
	// Addr is host:port/db (never the password).
	Addr string
	// Up: Redis answers; Since is when Up last changed.
	Up    bool
	Since time.Time
	// Gets round trips: Hits, Misses, Errors (failed: a miss).
	Gets, Hits, Misses, Errors uint64
	// Sets and Dels written; Failed were lost in a failed round trip;
	// Dropped found the queue full; TooLarge were over MaxEntryBytes.
	Sets, Dels, Failed, Dropped, TooLarge uint64
	// Fallbacks counts the times Redis stopped answering.
	Fallbacks   uint64
	LastError   string
	LastErrorAt time.Time
}

type cacheWrite struct {
	key string
	val []byte // nil: delete
	ttl time.Duration
}

// cacheClientOptions turns a connection string into go-redis options.
func cacheClientOptions(o CacheOptions) (*redis.Options, string, error) {
	rc, err := wire.ParseRedisConnectionString(o.Cache.ConnectionString)
	if err != nil {
		return nil, "", fmt.Errorf("%w: cache %s: %v", ErrConfig, o.Cache.ID, err)
	}
	ro := &redis.Options{Addr: rc.Addr, Username: rc.User, Password: rc.Password, DB: rc.DB}
	if rc.SSL {
		host, _, _ := net.SplitHostPort(rc.Addr)
		if rc.SSLHost != "" {
			host = rc.SSLHost
		}
		ro.TLSConfig = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	rt := o.Timeout
	if rc.SyncTimeout > 0 {
		rt = rc.SyncTimeout
	}
	dial := rt
	if rc.ConnectTimeout > 0 {
		dial = rc.ConnectTimeout
	}
	roundTripOptions(ro, dial, rt, 16) // a failed round trip is a miss, not a retry
	scheme := "redis://"
	if rc.SSL {
		scheme = "rediss://"
	}
	return ro, fmt.Sprintf("%s%s/%d", scheme, rc.Addr, rc.DB), nil
}

// NewCache connects to the cache's Redis. It does not wait: until the first
// probe answers, Up is false. Close stops it.
func NewCache(o CacheOptions) (*Cache, error) {
	if o.MaxEntryBytes <= 0 {
		o.MaxEntryBytes = DefaultMaxEntryBytes
	}
	if o.Queue <= 0 {
		o.Queue = DefaultCacheQueue
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Probe <= 0 {
		o.Probe = DefaultProbe
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	ro, addr, err := cacheClientOptions(o)
	if err != nil {
		return nil, err
	}
	c := &Cache{opts: o, client: redis.NewClient(ro), addr: addr, queue: make(chan cacheWrite, o.Queue), log: o.Logger,
		stop: make(chan struct{}), since: time.Now()}
	c.done.Add(2)
	go c.writer()
	go c.prober()
	return c, nil
}

// Close stops the goroutines and the connections; queued writes are dropped.
func (c *Cache) Close() error {
	close(c.stop)
	c.done.Wait()
	return c.client.Close()
}

// redisKey is the Redis key of a policy key.
func redisKey(key string) string {
	if len(key) > MaxCacheKeyBytes {
		sum := sha256.Sum256([]byte(key))
		return cachePrefix + "sha256:" + hex.EncodeToString(sum[:])
	}
	return cachePrefix + key
}

// Up reports whether Redis answers (policy.ExternalCache).
func (c *Cache) Up() bool { return c.up.Load() }

// Get reads key: one round trip on the calling goroutine, bounded by the
// timeout (policy.ExternalCache). A failure marks the cache down.
func (c *Cache) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if !c.up.Load() {
		return nil, false, ErrCacheDown
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	c.gets.Add(1)
	// GETRANGE, not GET: a value someone else wrote under our prefix is
	// read only up to the entry limit (one byte past it tells it is larger).
	// A missing key reads as "", which no value of ours is.
	b, err := c.client.GetRange(ctx, redisKey(key), 0, int64(c.opts.MaxEntryBytes)).Bytes()
	switch {
	case err != nil && !errors.Is(err, redis.Nil):
		c.errs.Add(1)
		c.setUp(false, err)
		return nil, false, err
	case len(b) == 0 || len(b) > c.opts.MaxEntryBytes:
		c.misses.Add(1)
		return nil, false, nil
	}
	c.hits.Add(1)
	return b, true, nil
}

// Set queues key=val for ttl (policy.ExternalCache); it never blocks.
func (c *Cache) Set(key string, val []byte, ttl time.Duration) bool {
	if len(val) > c.opts.MaxEntryBytes {
		c.tooLarge.Add(1)
		return false
	}
	return c.enqueue(cacheWrite{key: key, val: val, ttl: ttl})
}

// Delete queues removing key (policy.ExternalCache); it never blocks.
func (c *Cache) Delete(key string) bool { return c.enqueue(cacheWrite{key: key}) }

func (c *Cache) enqueue(w cacheWrite) bool {
	if !c.up.Load() {
		return false
	}
	select {
	case c.queue <- w:
		return true
	default:
		c.dropped.Add(1)
		return false
	}
}

// Stats returns the counts so far.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return CacheStats{ID: c.opts.Cache.ID, Location: c.opts.Cache.UseFromLocation, Addr: c.addr, Up: c.up.Load(), Since: c.since,
		Gets: c.gets.Load(), Hits: c.hits.Load(), Misses: c.misses.Load(), Errors: c.errs.Load(),
		Sets: c.sets.Load(), Dels: c.dels.Load(), Failed: c.failed.Load(), Dropped: c.dropped.Load(), TooLarge: c.tooLarge.Load(),
		Fallbacks: c.fallbacks.Load(), LastError: c.lastError, LastErrorAt: c.lastErrAt}
}

func (c *Cache) setUp(up bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.lastError, c.lastErrAt = err.Error(), time.Now()
	}
	if c.up.Load() == up {
		return
	}
	c.up.Store(up)
	c.since = time.Now()
	if up {
		c.log.Info("external cache answers: cache policies use it", "cache", c.opts.Cache.ID, "redis", c.addr)
	} else {
		c.fallbacks.Add(1)
		c.log.Warn("external cache unreachable: lookups miss and stores are skipped until it answers", "cache", c.opts.Cache.ID, "redis", c.addr, "err", err)
	}
}

// prober pings Redis every Probe and sets Up from the answer.
func (c *Cache) prober() {
	defer c.done.Done()
	t := time.NewTicker(c.opts.Probe)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
		err := c.client.Ping(ctx).Err()
		cancel()
		c.setUp(err == nil, err)
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
	}
}

// writer sends queued writes in pipelined batches of up to maxBatch.
func (c *Cache) writer() {
	defer c.done.Done()
	batch := make([]cacheWrite, 0, maxBatch)
	for {
		select {
		case <-c.stop:
			return
		case w := <-c.queue:
			batch = append(batch[:0], w)
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case w := <-c.queue:
				batch = append(batch, w)
			default:
				break fill
			}
		}
		c.write(batch)
	}
}

func (c *Cache) write(batch []cacheWrite) {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
	defer cancel()
	pipe := c.client.Pipeline()
	sets, dels := 0, 0
	for _, w := range batch {
		if w.val == nil {
			pipe.Del(ctx, redisKey(w.key))
			dels++
			continue
		}
		pipe.Set(ctx, redisKey(w.key), w.val, max(w.ttl, time.Millisecond))
		sets++
	}
	if _, err := pipe.Exec(ctx); err != nil {
		c.failed.Add(uint64(len(batch)))
		c.setUp(false, err)
		return
	}
	c.sets.Add(uint64(sets))
	c.dels.Add(uint64(dels))
}

// CacheSwitch keeps the State's external cache in step with the snapshot
// served: Use with the snapshot's cache (nil: none) opens a Cache when it
// changes and closes the one it replaces. Safe for concurrent use.
type CacheSwitch struct {
	state *policy.State
	opts  CacheOptions

	mu   sync.Mutex
	cur  *Cache
	conf wire.ExternalCache
}

// NewCacheSwitch returns a switch for st; o is the template of every Cache
// it opens (o.Cache is ignored).
func NewCacheSwitch(st *policy.State, o CacheOptions) *CacheSwitch {
	return &CacheSwitch{state: st, opts: o}
}

// Use makes ec the cache policies' external cache. The same cache (id,
// connection string) is kept as it is, with its connections.
func (s *CacheSwitch) Use(ec *wire.ExternalCache) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ec == nil {
		if s.cur != nil {
			s.state.SetExternalCache(nil)
			s.cur.Close()
			s.cur, s.conf = nil, wire.ExternalCache{}
		}
		return nil
	}
	if s.cur != nil && s.conf == *ec {
		return nil
	}
	o := s.opts
	o.Cache = *ec
	c, err := NewCache(o)
	if err != nil {
		return err
	}
	old := s.cur
	s.cur, s.conf = c, *ec
	s.state.SetExternalCache(c)
	if old != nil {
		old.Close()
	}
	return nil
}

// Stats returns the current cache's counters; false when there is none.
func (s *CacheSwitch) Stats() (CacheStats, bool) {
	if s == nil {
		return CacheStats{}, false
	}
	s.mu.Lock()
	c := s.cur
	s.mu.Unlock()
	if c == nil {
		return CacheStats{}, false
	}
	return c.Stats(), true
}

// Close closes the current cache.
func (s *CacheSwitch) Close() error { return s.Use(nil) }
