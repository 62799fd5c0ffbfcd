package shared

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/apimgw/apimgw/policy"
)

// Options configure Counters.
type Options struct {
	// URL is policy.rate-limit.redis.url: redis://[user:password@]host:port/db
	// or rediss:// (TLS, system roots).
	URL string
	// PasswordFile, when set, holds the password (a trailing newline is
	// ignored); it wins over a password in the URL.
	PasswordFile string
	// CAFile, for rediss://, is a PEM bundle trusted instead of the system
	// roots (a private CA).
	CAFile string
	// Queue bounds the updates waiting to be sent (DefaultQueue if 0). An
	// update that finds it full is counted locally only.
	Queue int
	// Timeout bounds one round trip (a batch, a probe): DefaultTimeout if 0.
	Timeout time.Duration
	// Probe is how often the connection is checked, and retried while
	// Redis is unreachable (DefaultProbe if 0).
	Probe time.Duration
	// Approximate turns leases off (policy.rate-limit.redis.mode=approximate):
	// every call is decided from the replica's own view and synced in the
	// background, so requests never wait for Redis but up to (N-1) x limit
	// calls may pass across N replicas in a burst. The default (false) is
	// exact: calls are admitted from leases granted by Redis (policy's
	// sharedlease.go), never beyond the limit.
	Approximate bool
	Logger      *slog.Logger
}

// Defaults of Options.
const (
	DefaultQueue   = 16384
	DefaultTimeout = 500 * time.Millisecond
	DefaultProbe   = time.Second
	// maxBatch is the most updates sent in one pipelined round trip.
	maxBatch = 512
	// keyPrefix starts every key apimgw writes.
	keyPrefix = "apimgw:"
)

// The scripts add an increment and return the new total in one round trip.
// A rate window starts with the first increment any replica sends and lasts
// the period (the key's expiry); a quota key names its period, and expires a
// minute after the period ends (never for a quota that never renews).
const (
	rateSource = `
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
local t = redis.call('PTTL', KEYS[1])
if t < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  t = tonumber(ARGV[2])
end
return {n, t}`
	quotaSource = `
local c = redis.call('HINCRBY', KEYS[1], 'c', ARGV[1])
local b = redis.call('HINCRBY', KEYS[1], 'b', ARGV[2])
if tonumber(ARGV[3]) > 0 and redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return {c, b}`
)

// The lease scripts grant up to ARGV[1] calls without taking the count
// beyond the limit ARGV[2], and return the grant, the count after it, and the
// rate window's time left (a quota: its bytes). A rate window still starts
// with the first grant and lasts the period (ARGV[3]); a quota key expires as
// above (ARGV[3]).
const (
	rateLeaseSource = `
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
local g = math.min(tonumber(ARGV[1]), tonumber(ARGV[2]) - n)
if g < 0 then g = 0 end
if g > 0 then n = redis.call('INCRBY', KEYS[1], g) end
local t = redis.call('PTTL', KEYS[1])
if t == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  t = tonumber(ARGV[3])
end
if t < 0 then t = 0 end
return {g, n, t}`
	quotaLeaseSource = `
local n = tonumber(redis.call('HGET', KEYS[1], 'c') or '0')
local g = math.min(tonumber(ARGV[1]), tonumber(ARGV[2]) - n)
if g < 0 then g = 0 end
if g > 0 then
  n = redis.call('HINCRBY', KEYS[1], 'c', g)
  if tonumber(ARGV[3]) > 0 and redis.call('PTTL', KEYS[1]) < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
  end
end
local b = tonumber(redis.call('HGET', KEYS[1], 'b') or '0')
return {g, n, b}`
)

// The return scripts give back a budget that was not used (at Close): a rate
// window only while its key lives, a quota period only while its hash does,
// never below 0.
const (
	rateReturnSource = `
if redis.call('PTTL', KEYS[1]) > 0 then
  local n = tonumber(redis.call('GET', KEYS[1]) or '0')
  redis.call('DECRBY', KEYS[1], math.min(n, tonumber(ARGV[1])))
end
return 0`
	quotaReturnSource = `
if redis.call('EXISTS', KEYS[1]) == 1 then
  local n = tonumber(redis.call('HGET', KEYS[1], 'c') or '0')
  redis.call('HINCRBY', KEYS[1], 'c', -math.min(n, tonumber(ARGV[1])))
end
return 0`
)

var (
	rateScript, quotaScript           = redis.NewScript(rateSource), redis.NewScript(quotaSource)
	rateLeaseScript, quotaLeaseScript = redis.NewScript(rateLeaseSource), redis.NewScript(quotaLeaseSource)
)

// Counters sends a policy.State's counter increments to Redis and gives the
// shared totals back to the State. It implements policy.SharedCounters. One
// goroutine sends queued updates in pipelined batches; while Redis is
// unreachable Add refuses at once (the State counts locally), a probe retries
// every Options.Probe, and sharing resumes when Redis answers again.
type Counters struct {
	opts   Options
	state  *policy.State
	client *redis.Client
	addr   string // host:port/db, no credentials: for the status page and logs
	queue  chan policy.CounterUpdate
	log    *slog.Logger

	up atomic.Bool

	mu        sync.Mutex
	since     time.Time // when up last changed
	lastError string
	lastErrAt time.Time

	queued, sent, failed, dropped, local, fallbacks, resumed atomic.Uint64
	batches, rttNanos                                        atomic.Uint64
	leases, granted, returned                                atomic.Uint64
	closing                                                  atomic.Bool

	// The sender's scratch space for summing a batch (sender goroutine only).
	merge  map[mergeKey]int
	merged []policy.CounterUpdate

	stop chan struct{}
	done sync.WaitGroup
}

var (
	_ policy.SharedCounters = (*Counters)(nil)
	_ policy.Leaser         = (*Counters)(nil)
)

// Stats are the counters of Counters, for the status page and /metrics.
type Stats struct {
	// Addr is host:port/db (never the password).
	Addr string
	// Sharing is true while Redis answers; false means local counters.
	Sharing bool
	// Since is when Sharing last changed.
	Since time.Time
	// Queued updates were accepted by Add; of those, Sent reached Redis; Failed were lost in a failed round trip
	// (counted locally only); Dropped found the queue full; Local were
	// refused because Redis was unreachable.
	Queued, Sent, Failed, Dropped, Local uint64
	// Fallbacks counts the switches to local counters, Resumed the returns
	// to sharing.
	Fallbacks, Resumed uint64
	// Batches is how many round trips the sender made, RoundTrip their
	// mean duration: how far one replica's view lags the others.
	Batches   uint64
	RoundTrip time.Duration
	// Exact is false in approximate mode (Options.Approximate). Leases is
	// how many of the updates sent were lease requests, Granted the calls
	// they were granted.
	Exact bool
	// Returned is the unused budget given back at Close.
	Leases, Granted, Returned uint64
	LastError                 string
	LastErrorAt               time.Time
}

// Addr returns host:port/db of a redis:// or rediss:// URL, without
// credentials.
func Addr(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "?"
	}
	return u.Scheme + "://" + u.Host + u.Path
}

// Options turns a URL and password file into go-redis options.
func clientOptions(o Options) (*redis.Options, error) {
	ro, err := redis.ParseURL(o.URL)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrConfig, Addr(o.URL), err)
	}
	if o.PasswordFile != "" {
		b, err := os.ReadFile(o.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("%w: password file: %v", ErrConfig, err)
		}
		ro.Password = strings.TrimRight(string(b), "\r\n")
	}
	if o.CAFile != "" {
		if ro.TLSConfig == nil {
			return nil, fmt.Errorf("%w: a CA file is for rediss:// (TLS), not %s", ErrConfig, Addr(o.URL))
		}
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: CA file: %v", ErrConfig, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: CA file %s holds no PEM certificate", ErrConfig, o.CAFile)
		}
		ro.TLSConfig.RootCAs = pool
	}
	// A failed round trip means local counters, not a retry.
	roundTripOptions(ro, o.Timeout, o.Timeout, 4)
	return ro, nil
}

// roundTripOptions sets what the counters and the cache share: a dial
// bounded by dial, a round trip (and a wait for a pooled connection) by rt,
// no retries, pool connections, and no client identity or maintenance
// notifications.
func roundTripOptions(ro *redis.Options, dial, rt time.Duration, pool int) {
	ro.DialTimeout = dial
	ro.ReadTimeout, ro.WriteTimeout, ro.PoolTimeout = rt, rt, rt
	ro.ContextTimeoutEnabled = true
	ro.MaxRetries = -1
	ro.PoolSize = pool
	ro.DisableIdentity = true
	ro.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
}

// New connects st to the Redis at o.URL and starts sending. It does not wait
// for Redis: until the first probe answers, counters are local. Close stops it.
func New(st *policy.State, o Options) (*Counters, error) {
	if o.Queue <= 0 {
		o.Queue = DefaultQueue
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
	ro, err := clientOptions(o)
	if err != nil {
		return nil, err
	}
	c := &Counters{opts: o, state: st, client: redis.NewClient(ro), addr: Addr(o.URL),
		queue: make(chan policy.CounterUpdate, o.Queue), log: o.Logger, merge: map[mergeKey]int{}, stop: make(chan struct{}), since: time.Now()}
	c.done.Add(2)
	go c.sender()
	go c.prober()
	return c, nil
}

// Close gives the unused lease budget back to Redis (one round trip, within
// Options.Timeout), stops the goroutines and closes the connections; updates
// still queued are dropped (they were counted locally). From its start Add
// and Lease refuse: calls are counted locally. Closing again does nothing.
func (c *Counters) Close() error {
	if c.closing.Swap(true) {
		return nil
	}
	if c.up.Load() && !c.opts.Approximate {
		c.giveBack()
	}
	close(c.stop)
	c.done.Wait()
	return c.client.Close()
}

// Add queues u (policy.SharedCounters). It never blocks.
func (c *Counters) Add(u policy.CounterUpdate) bool {
	if !c.up.Load() || c.closing.Load() {
		c.local.Add(1)
		return false
	}
	select {
	case c.queue <- u:
		c.queued.Add(1)
		return true
	default:
		c.dropped.Add(1)
		return false
	}
}

// Lease queues a lease request (policy.Leaser). It never blocks; it refuses
// in approximate mode, while Redis is unreachable and when the queue is full
// (the State then counts as without leases).
func (c *Counters) Lease(u policy.CounterUpdate) bool {
	if c.opts.Approximate {
		return false
	}
	return c.Add(u)
}

// giveBack returns the State's unused lease budget to the shared totals.
func (c *Counters) giveBack() {
	back := c.state.ReturnLeases()
	if len(back) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
	defer cancel()
	pipe := c.client.Pipeline()
	var calls uint64
	for _, u := range back {
		calls += uint64(u.Calls)
		if u.Quota {
			pipe.Eval(ctx, quotaReturnSource, []string{quotaKey(&u)}, u.Calls)
		} else {
			pipe.Eval(ctx, rateReturnSource, []string{rateKey(&u)}, u.Calls)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		c.log.Warn("unused rate-limit and quota budget not given back to Redis: it expires with its windows", "redis", c.addr, "err", err)
		return
	}
	c.returned.Add(calls)
}

// rateKey and quotaKey name an update's counter in Redis.
func rateKey(u *policy.CounterUpdate) string { return keyPrefix + "rate:" + u.Policy + "\n" + u.Key }
func quotaKey(u *policy.CounterUpdate) string {
	return keyPrefix + "quota:" + u.Policy + "\n" + u.Key + "\n" + strconv.FormatInt(u.PeriodStart.Unix(), 10)
}

// Sharing reports whether counters are shared now.
func (c *Counters) Sharing() bool { return c.up.Load() }

// Stats returns the counts so far.
func (c *Counters) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := Stats{Addr: c.addr, Sharing: c.up.Load(), Since: c.since, Queued: c.queued.Load(), Sent: c.sent.Load(), Failed: c.failed.Load(),
		Dropped: c.dropped.Load(), Local: c.local.Load(), Fallbacks: c.fallbacks.Load(), Resumed: c.resumed.Load(),
		LastError: c.lastError, LastErrorAt: c.lastErrAt, Batches: c.batches.Load(),
		Exact: !c.opts.Approximate, Leases: c.leases.Load(), Granted: c.granted.Load(), Returned: c.returned.Load()}
	if st.Batches > 0 {
		st.RoundTrip = time.Duration(c.rttNanos.Load() / st.Batches)
	}
	return st
}

// setUp records a change between sharing and local counters.
func (c *Counters) setUp(up bool, err error) {
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
		c.resumed.Add(1)
		c.log.Info("rate-limit and quota counters shared through Redis", "redis", c.addr)
	} else {
		c.fallbacks.Add(1)
		c.log.Warn("Redis unreachable: rate-limit and quota counters are local until it answers", "redis", c.addr, "err", err)
	}
}

// prober checks Redis every Probe: it loads the scripts (a restarted Redis
// has forgotten them) and resumes sharing once they are loaded; while
// sharing, a failed PING falls back at once even without traffic.
func (c *Counters) prober() {
	defer c.done.Done()
	t := time.NewTicker(c.opts.Probe)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
		var err error
		// Through a pipeline, as the sender goes: go-redis keeps a pool of
		// its own for pipelines, and the first batch after a (re)connection
		// should not pay for the dial.
		pipe := c.client.Pipeline()
		ping := pipe.Ping(ctx)
		var loads []*redis.StringCmd
		if !c.up.Load() {
			// pipe.ScriptLoad, not Script.Load: that one would read the
			// hash from the not yet executed command.
			loads = append(loads, pipe.ScriptLoad(ctx, rateSource), pipe.ScriptLoad(ctx, quotaSource),
				pipe.ScriptLoad(ctx, rateLeaseSource), pipe.ScriptLoad(ctx, quotaLeaseSource))
		}
		_, err = pipe.Exec(ctx)
		if err == nil {
			err = ping.Err()
		}
		for _, l := range loads {
			if err == nil {
				err = l.Err()
			}
		}
		cancel()
		c.setUp(err == nil, err)
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
	}
}

// sender sends queued updates in batches of up to maxBatch, one pipelined
// round trip each, and applies the totals to the State.
func (c *Counters) sender() {
	defer c.done.Done()
	batch := make([]policy.CounterUpdate, 0, maxBatch)
	cmds := make([]*redis.Cmd, 0, maxBatch)
	for {
		select {
		case <-c.stop:
			return
		case u := <-c.queue:
			batch = append(batch[:0], u)
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case u := <-c.queue:
				batch = append(batch, u)
			default:
				break fill
			}
		}
		cmds = c.send(batch, cmds[:0])
	}
}

// send adds one batch to Redis in one pipelined round trip. Updates of the
// same counter are summed first, so a hot key costs one script call per
// batch however many calls it had.
func (c *Counters) send(batch []policy.CounterUpdate, cmds []*redis.Cmd) []*redis.Cmd {
	clear(c.merge)
	merged := c.merged[:0]
	for _, u := range batch {
		if u.Lease { // each lease request has its own answer
			merged = append(merged, u)
			continue
		}
		k := mergeKey{quota: u.Quota, policy: u.Policy, key: u.Key, start: u.PeriodStart.Unix()}
		if i, ok := c.merge[k]; ok {
			merged[i].Calls += u.Calls
			merged[i].Bytes += u.Bytes
			continue
		}
		c.merge[k] = len(merged)
		merged = append(merged, u)
	}
	c.merged = merged
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
	defer cancel()
	now := time.Now()
	pipe := c.client.Pipeline()
	for i := range merged {
		cmds = append(cmds, c.command(ctx, pipe, &merged[i], now))
	}
	_, err := pipe.Exec(ctx)
	c.batches.Add(1)
	c.rttNanos.Add(uint64(time.Since(now)))
	var failed error
	for i, cmd := range cmds {
		if merged[i].Lease {
			g, cerr := grant(&merged[i], cmd)
			if cerr != nil && failed == nil {
				failed = cerr
			}
			c.leases.Add(1)
			c.granted.Add(uint64(g.Granted))
			if cerr != nil {
				// Down first, so the waiting requests find local counters.
				c.setUp(false, cerr)
			}
			c.state.ApplyLease(merged[i], g, cerr != nil)
			continue
		}
		t, cerr := total(&merged[i], cmd)
		if cerr != nil {
			if failed == nil {
				failed = cerr
			}
			c.state.ApplyShared(merged[i], policy.CounterTotal{}, true)
			continue
		}
		c.state.ApplyShared(merged[i], t, false)
	}
	if failed != nil {
		c.failed.Add(uint64(len(batch)))
		if err == nil {
			err = failed
		}
		c.setUp(false, err)
	} else {
		c.sent.Add(uint64(len(batch)))
	}
	return cmds
}

// mergeKey names one counter within a batch.
type mergeKey struct {
	quota       bool
	policy, key string
	start       int64
}

// command queues the script of one update on pipe.
func (c *Counters) command(ctx context.Context, pipe redis.Pipeliner, u *policy.CounterUpdate, now time.Time) *redis.Cmd {
	if u.Lease {
		return c.leaseCommand(ctx, pipe, u, now)
	}
	if !u.Quota {
		return pipe.EvalSha(ctx, rateScript.Hash(), []string{keyPrefix + "rate:" + u.Policy + "\n" + u.Key},
			u.Calls, max(1, u.Period.Milliseconds()))
	}
	var expire int64
	if u.Period > 0 {
		expire = max(1, u.PeriodStart.Add(u.Period).Sub(now).Milliseconds()+60_000)
	}
	return pipe.EvalSha(ctx, quotaScript.Hash(),
		[]string{keyPrefix + "quota:" + u.Policy + "\n" + u.Key + "\n" + strconv.FormatInt(u.PeriodStart.Unix(), 10)},
		u.Calls, u.Bytes, expire)
}

// leaseCommand queues the lease script of one lease request on pipe.
func (c *Counters) leaseCommand(ctx context.Context, pipe redis.Pipeliner, u *policy.CounterUpdate, now time.Time) *redis.Cmd {
	if !u.Quota {
		return pipe.EvalSha(ctx, rateLeaseScript.Hash(), []string{keyPrefix + "rate:" + u.Policy + "\n" + u.Key},
			u.Calls, u.Limit, max(1, u.Period.Milliseconds()))
	}
	var expire int64
	if u.Period > 0 {
		expire = max(1, u.PeriodStart.Add(u.Period).Sub(now).Milliseconds()+60_000)
	}
	return pipe.EvalSha(ctx, quotaLeaseScript.Hash(),
		[]string{keyPrefix + "quota:" + u.Policy + "\n" + u.Key + "\n" + strconv.FormatInt(u.PeriodStart.Unix(), 10)},
		u.Calls, u.Limit, expire)
}

// grant reads a lease script's answer.
func grant(u *policy.CounterUpdate, cmd *redis.Cmd) (policy.LeaseGrant, error) {
	vals, err := cmd.Int64Slice()
	if err != nil {
		return policy.LeaseGrant{}, err
	}
	if len(vals) != 3 {
		return policy.LeaseGrant{}, errors.New("shared: unexpected lease script answer")
	}
	g := policy.LeaseGrant{Granted: vals[0], Total: vals[1]}
	if u.Quota {
		g.Bytes = vals[2]
	} else {
		g.Left = time.Duration(vals[2]) * time.Millisecond
	}
	return g, nil
}

// total reads a script's answer.
func total(u *policy.CounterUpdate, cmd *redis.Cmd) (policy.CounterTotal, error) {
	vals, err := cmd.Int64Slice()
	if err != nil {
		return policy.CounterTotal{}, err
	}
	if len(vals) != 2 {
		return policy.CounterTotal{}, errors.New("shared: unexpected script answer")
	}
	if u.Quota {
		return policy.CounterTotal{Calls: vals[0], Bytes: vals[1]}, nil
	}
	return policy.CounterTotal{Calls: vals[0], Left: time.Duration(vals[1]) * time.Millisecond}, nil
}
