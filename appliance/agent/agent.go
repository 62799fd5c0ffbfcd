package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/apimgw/apimgw/appliance/envconf"
	"github.com/apimgw/apimgw/appliance/telemetry"
	"github.com/apimgw/apimgw/store"
	"github.com/apimgw/apimgw/wire"
)

// Clock is the agent's view of time: backoff, heartbeat and upload waits go
// through After, timestamps through Now. Tests inject a fake one.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Defaults.
const (
	DefaultHeartbeatInterval = wire.DefaultHeartbeatInterval // 60 s
	DefaultLongPollWait      = 60 * time.Second
	DefaultRequestTimeout    = 100 * time.Second // env.conf config.service.integration.timeout
	DefaultBackoffMin        = time.Second
	DefaultBackoffMax        = 60 * time.Second
	DefaultUploadInterval    = time.Second
	DefaultBatchRecords      = 5000
	DefaultBatchBytes        = 4 << 20
	DefaultUploadsInFlight   = 2
	// TokenWarning is how far ahead of its expiry the token is warned about.
	TokenWarning = 7 * 24 * time.Hour
	// maxSnapshotBytes bounds a config snapshot body.
	maxSnapshotBytes = 64 << 20
)

// Config is what the composition root gives the agent. Endpoint, Token,
// Store and Apply are required.
type Config struct {
	// Endpoint is the control plane's base URL (env.conf
	// config.service.endpoint, normalized by envconf).
	Endpoint string
	// Token returns the current gateway token (nil: none). It is called for
	// every request, so a token changed in env.conf is used from the next
	// request on, without restart. Call Kick after a change to retry at once.
	Token func() *envconf.Token
	// GatewayID is the gateway's name for logs and status (env.conf
	// gateway.name). Messages carry the token's gateway id, which is what the
	// control plane authenticates.
	GatewayID string
	// CAFile is a PEM bundle to trust instead of the system roots
	// (config.service.ca). Read once by New.
	CAFile string
	// DisableCertificateValidation skips TLS verification of the control
	// plane (config.service.endpoint.disableCertificateValidation); New logs
	// a warning.
	DisableCertificateValidation bool
	// Proxy picks the proxy for a request. Default http.ProxyFromEnvironment
	// (HTTPS_PROXY, HTTP_PROXY, NO_PROXY).
	Proxy func(*http.Request) (*url.URL, error)
	// RequestTimeout bounds one heartbeat or telemetry request
	// (config.service.integration.timeout). Default 100 s.
	RequestTimeout time.Duration
	// LongPollWait is the ?wait= of the config long-poll. Default 60 s; the
	// request's own timeout is this plus 30 s.
	LongPollWait time.Duration
	// HeartbeatInterval is how often a heartbeat is posted (env.conf
	// heartbeat.interval). Default 60 s.
	HeartbeatInterval time.Duration
	// BackoffMin and BackoffMax bound the retry delay after failures
	// (exponential, doubled per failure, with jitter). Default 1 s and 60 s.
	BackoffMin, BackoffMax time.Duration
	// UploadInterval is how long the uploader waits when the queue is empty.
	// Default 1 s.
	UploadInterval time.Duration
	// BatchRecords and BatchBytes bound one telemetry batch (records; bytes
	// as queued). Default 5,000 and 4 MiB; at most wire.MaxTelemetryRecords.
	BatchRecords, BatchBytes int
	// UploadsInFlight is how many telemetry batches may be in flight at once
	// (they are acknowledged in order). Default 2.
	UploadsInFlight int
	// DisableGzip sends telemetry and heartbeats uncompressed.
	DisableGzip bool

	// Store is the gateway's store: the telemetry queue (Read/Ack, its
	// StoreID is the telemetry stream) and the sync metadata (last sync, last
	// error).
	Store *store.Store
	// Pipeline, if set, adds the telemetry hot path's own drops (full loop
	// buffers) to the heartbeat's dropped count.
	Pipeline *telemetry.Pipeline
	// Apply takes a candidate snapshot exactly as received (JSON). It checks
	// it (wire.Decode: protocol version, checksum, validation), compiles it
	// as a dry run, writes it to the store and swaps it in, or returns an
	// error and changes nothing. It runs on the agent's sync goroutine, one
	// call at a time.
	Apply func(ctx context.Context, raw []byte) error
	// Current returns the snapshot being served (version and checksum; 0 and
	// "" for none). The agent reports it in heartbeats and does not apply a
	// candidate with the same checksum again.
	Current func() (version uint64, checksum string)
	// Version is apimgw's version, reported in heartbeats.
	Version string
	// Host returns the host facts for heartbeats. Default: a
	// status.HostCollector on the store's file (HostFromCollector).
	Host func(ctx context.Context) wire.HostFacts
	// Clock is the time source (tests). Default the real clock.
	Clock Clock
	// Jitter returns a number in [0,1) for the backoff jitter. Default
	// math/rand/v2.Float64.
	Jitter func() float64
	// Logger gets the agent's log lines. Default slog.Default().
	Logger *slog.Logger
}

// Agent is a running (or startable) sync agent. Its methods are safe for
// concurrent use. Run runs it; Status reads its state at any time, also
// before Run and after it returned.
type Agent struct {
	cfg     Config
	base    string
	client  *http.Client
	log     *slog.Logger
	started time.Time

	kickMu sync.Mutex
	kickCh chan struct{} // closed by Kick, then replaced
	hbNow  chan struct{}

	// epoch is cancelled when the control plane is reachable again after a
	// failure: requests still waiting on connections opened before (which a
	// silent link loss may have left dead, with no reset to tell) are
	// abandoned and sent again on fresh ones. Guarded by kickMu.
	epoch       context.Context
	epochCancel context.CancelFunc

	mu sync.Mutex // guards st and the fields below
	st state
}

// state is the agent's mutable state, guarded by Agent.mu.
type state struct {
	connected      bool
	everConnected  bool
	since          time.Time
	lastSync       time.Time
	lastHeartbeat  time.Time
	lastUpload     time.Time
	lastErr        string
	lastErrAt      time.Time
	persistedErr   string
	persistedErrAt time.Time
	persistedSync  time.Time
	etag           string
	rejected       *Rejection
	failures       int
	nextRetry      time.Time
	uploaded       uint64
	duplicates     uint64
	expired        uint64
	malformed      uint64
	batches        uint64
	tokenState     TokenState
	tokenRaw       string
	applied        uint64
	hbBacklog      wire.Backlog // as reported by the last successful heartbeat
	offlineLogged  bool         // the current offline spell was logged
}

// New checks cfg, reads the CA file and returns an agent ready to Run.
func New(cfg Config) (*Agent, error) {
	if cfg.Endpoint == "" {
		return nil, fmt.Errorf("%w: no control plane endpoint", ErrConfig)
	}
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: endpoint %q is not an http(s) URL", ErrConfig, cfg.Endpoint)
	}
	if cfg.Token == nil || cfg.Store == nil || cfg.Apply == nil {
		return nil, fmt.Errorf("%w: Token, Store and Apply are required", ErrConfig)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	if cfg.Jitter == nil {
		cfg.Jitter = rand.Float64
	}
	if cfg.Current == nil {
		cfg.Current = func() (uint64, string) { return 0, "" }
	}
	if cfg.Proxy == nil {
		cfg.Proxy = http.ProxyFromEnvironment
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.RequestTimeout, DefaultRequestTimeout)
	def(&cfg.LongPollWait, DefaultLongPollWait)
	def(&cfg.HeartbeatInterval, DefaultHeartbeatInterval)
	def(&cfg.BackoffMin, DefaultBackoffMin)
	def(&cfg.BackoffMax, DefaultBackoffMax)
	def(&cfg.UploadInterval, DefaultUploadInterval)
	cfg.BackoffMax = max(cfg.BackoffMax, cfg.BackoffMin)
	if cfg.BatchRecords <= 0 {
		cfg.BatchRecords = DefaultBatchRecords
	}
	cfg.BatchRecords = min(cfg.BatchRecords, wire.MaxTelemetryRecords)
	if cfg.BatchBytes <= 0 {
		cfg.BatchBytes = DefaultBatchBytes
	}
	if cfg.UploadsInFlight <= 0 {
		cfg.UploadsInFlight = DefaultUploadsInFlight
	}
	if cfg.Host == nil {
		cfg.Host = HostFromCollector(nil, cfg.Store.Path())
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: config.service.ca: %v", ErrConfig, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: config.service.ca: %s holds no PEM certificate", ErrConfig, cfg.CAFile)
		}
		tlsCfg.RootCAs = pool
	}
	if cfg.DisableCertificateValidation {
		tlsCfg.InsecureSkipVerify = true
		cfg.Logger.Warn("agent: TLS certificate validation of the control plane is DISABLED (config.service.endpoint.disableCertificateValidation=true); anyone on the path can impersonate it",
			"endpoint", cfg.Endpoint)
	}
	tr := &http.Transport{
		Proxy:                 cfg.Proxy,
		DialContext:           (&net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsCfg,
		TLSHandshakeTimeout:   15 * time.Second,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   cfg.UploadsInFlight + 2,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	a := &Agent{
		cfg:     cfg,
		base:    strings.TrimSuffix(cfg.Endpoint, "/"),
		client:  &http.Client{Transport: tr},
		log:     cfg.Logger,
		started: cfg.Clock.Now(),
		kickCh:  make(chan struct{}),
		hbNow:   make(chan struct{}, 1),
	}
	a.st.since = a.started
	a.epoch, a.epochCancel = context.WithCancel(context.Background())
	if md, err := cfg.Store.Metadata(); err == nil {
		a.st.lastSync = md.LastSync
		a.st.lastErr, a.st.lastErrAt = md.LastError, md.LastErrorAt
		a.st.persistedErr, a.st.persistedErrAt, a.st.persistedSync = md.LastError, md.LastErrorAt, md.LastSync
	}
	return a, nil
}

// Run runs the config sync, the heartbeat and the telemetry uploader until
// ctx ends, then returns ctx's error. Call it once.
func (a *Agent) Run(ctx context.Context) error {
	a.log.Info("agent: starting", "endpoint", a.base, "gateway", a.gatewayID())
	a.checkToken()
	var wg sync.WaitGroup
	for _, loop := range []func(context.Context){a.syncLoop, a.heartbeatLoop, a.uploadLoop} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loop(ctx)
		}()
	}
	wg.Wait()
	a.client.CloseIdleConnections()
	return ctx.Err()
}

// Kick ends every backoff and idle wait at once: the sync retries, the
// uploader looks at the queue, a heartbeat is sent. Call it after env.conf
// changed (a new token) or when the network is known to be back.
func (a *Agent) Kick() {
	a.wakeAll()
	a.heartbeatSoon()
}

// renew abandons the requests in flight on old connections (errRenewed) and
// drops idle ones, so every loop continues on fresh connections.
func (a *Agent) renew() {
	a.log.Info("agent: the control plane answers again: abandoning requests on older connections")
	a.kickMu.Lock()
	a.epochCancel()
	a.epoch, a.epochCancel = context.WithCancel(context.Background())
	a.kickMu.Unlock()
	a.client.CloseIdleConnections()
}

func (a *Agent) currentEpoch() context.Context {
	a.kickMu.Lock()
	defer a.kickMu.Unlock()
	return a.epoch
}

// wakeAll ends every current sleep.
func (a *Agent) wakeAll() {
	a.kickMu.Lock()
	close(a.kickCh)
	a.kickCh = make(chan struct{})
	a.kickMu.Unlock()
}

func (a *Agent) kicked() <-chan struct{} {
	a.kickMu.Lock()
	defer a.kickMu.Unlock()
	return a.kickCh
}

// sleep waits d, or until ctx ends (false) or Kick.
func (a *Agent) sleep(ctx context.Context, d time.Duration) bool {
	k := a.kicked()
	select {
	case <-ctx.Done():
		return false
	case <-k:
	case <-a.cfg.Clock.After(d):
	}
	return ctx.Err() == nil
}

func (a *Agent) heartbeatSoon() {
	select {
	case a.hbNow <- struct{}{}:
	default:
	}
}

// backoff returns the delay after the n-th consecutive failure (n >= 1):
// BackoffMin doubled per failure up to BackoffMax, then "equal jitter" (half
// fixed, half random), so a fleet that lost its control plane at the same
// moment does not come back in lockstep.
func (a *Agent) backoff(n int) time.Duration {
	d := a.cfg.BackoffMax
	if n < 32 {
		if x := a.cfg.BackoffMin << (n - 1); x > 0 && x < d {
			d = x
		}
	}
	return d/2 + time.Duration(a.cfg.Jitter()*float64(d/2))
}

func (a *Agent) gatewayID() string {
	if t := a.cfg.Token(); t != nil {
		return t.GatewayID
	}
	return a.cfg.GatewayID
}

// succeeded notes an answer from the control plane (the connection works).
func (a *Agent) succeeded(fromHeartbeat bool) {
	now := a.cfg.Clock.Now()
	a.mu.Lock()
	was := a.st.connected
	a.st.connected, a.st.everConnected = true, true
	a.st.offlineLogged = false
	if !was {
		a.st.since = now
	}
	a.mu.Unlock()
	if !was {
		a.log.Info("agent: connected to the control plane", "endpoint", a.base)
		// This answer came on a working connection; the other loops may
		// still wait on dead ones (every caller has read its answer by now).
		a.renew()
		// Whichever loop got through first, the others need not sit out
		// their backoff: the sync and the uploader retry now.
		a.wakeAll()
		if !fromHeartbeat {
			a.heartbeatSoon() // a fresh heartbeat shows the control plane we are back
		}
	}
}

// failed records err as the last error and, for errors that mean the
// control plane cannot be used, the offline state. The move to offline is
// logged once as a warning with its cause; while offline, further failures of
// that kind only go to the debug log (every retry would otherwise log).
func (a *Agent) failed(err error, offline bool) { a.noteError(err, offline, true) }

// noteError is failed with the log line optional (for callers that logged
// the error their own way).
func (a *Agent) noteError(err error, offline, logIt bool) {
	now := a.cfg.Clock.Now()
	msg := err.Error()
	a.mu.Lock()
	was := a.st.connected
	if offline && was {
		a.st.connected = false
		a.st.since = now
	}
	announce := offline && !a.st.offlineLogged
	if offline {
		a.st.offlineLogged = true
	}
	repeat := msg == a.st.lastErr
	a.st.lastErr, a.st.lastErrAt = msg, now
	persist := msg != a.st.persistedErr || now.Sub(a.st.persistedErrAt) > time.Minute
	if persist {
		a.st.persistedErr, a.st.persistedErrAt = msg, now
	}
	a.mu.Unlock()
	switch {
	case !logIt:
	case announce:
		a.log.Warn("agent: control plane offline; serving the last good configuration and queueing telemetry until it is back",
			"endpoint", a.base, "err", msg)
	case offline || repeat:
		a.log.Debug("agent: "+strings.TrimPrefix(msg, "agent: "), "endpoint", a.base)
	default:
		a.log.Warn("agent: "+strings.TrimPrefix(msg, "agent: "), "endpoint", a.base)
	}
	if persist {
		if perr := a.cfg.Store.SetLastError(msg, now); perr != nil {
			a.log.Error("agent: cannot record the last error in the store", "err", perr)
		}
	}
}
