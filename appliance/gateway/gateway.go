// Package gateway is the apimgw daemon's composition root: it reads env.conf,
// opens the store, compiles and serves a snapshot (from the store, a local file
// or the control plane), runs the data plane, the status page and the systemd
// integration, and reloads on changes. It holds the wiring, not the logic: each
// part lives in its own package.
package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apimgw/apimgw/appliance"
	"github.com/apimgw/apimgw/appliance/agent"
	"github.com/apimgw/apimgw/appliance/envconf"
	"github.com/apimgw/apimgw/appliance/shared"
	"github.com/apimgw/apimgw/appliance/status"
	"github.com/apimgw/apimgw/appliance/telemetry"
	"github.com/apimgw/apimgw/netstack"
	"github.com/apimgw/apimgw/policy"
	"github.com/apimgw/apimgw/store"
	"github.com/apimgw/apimgw/systemd"
	"github.com/apimgw/apimgw/wire"
)

// Options are what the command line gives the gateway.
type Options struct {
	// ConfigPath is env.conf.
	ConfigPath string
	// Version is the build's version, reported everywhere.
	Version string
	// ReadyGrace is how long the gateway waits for a first configuration
	// before it tells systemd it is ready anyway (serving 503 and retrying),
	// so that a box that cannot reach its control plane still starts. Default 20 s.
	ReadyGrace time.Duration
}

// Gateway is the running daemon.
type Gateway struct {
	opts     Options
	log      *slog.Logger
	level    *slog.LevelVar
	store    *store.Store
	state    *policy.State
	shared   *shared.Counters // nil: local counters
	caches   *shared.CacheSwitch
	handler  *appliance.Handler
	tracer   *appliance.TraceLog // the trace policy's output, to the log
	server   *netstack.Server
	recorder *status.Recorder
	host     *status.HostCollector
	pipe     *telemetry.Pipeline
	agent    *agent.Agent // nil unless connected to a control plane
	notifier *systemd.Notifier
	started  time.Time

	mu        sync.Mutex // guards what follows
	cfg       *envconf.Config
	applied   applied
	lastErr   string
	lastErrAt time.Time
	activity  string
	listeners []status.Listener
	ready     bool

	watcher *envconf.Watcher
	watched string // the paths the watcher watches, joined
}

type applied struct {
	version string
	at      time.Time
	origin  string
}

// Run starts the gateway and serves until ctx is done, then drains and stops.
// reload receives a value on SIGHUP. The error is a startup failure (bad
// env.conf, unusable store, a listen address taken).
func Run(ctx context.Context, opts Options, reload <-chan struct{}) error {
	if opts.ReadyGrace <= 0 {
		opts.ReadyGrace = 20 * time.Second
	}
	cfg, err := envconf.Load(opts.ConfigPath)
	if err != nil {
		return err
	}
	level := new(slog.LevelVar)
	level.Set(logLevel(cfg.LogLevel))
	h, err := systemd.NewLogHandler(systemd.LogOptions{Format: cfg.LogsStd, Level: level, Identifier: "apimgw"})
	if err != nil {
		return err
	}
	log := slog.New(h)
	slog.SetDefault(log)
	for _, w := range cfg.Warnings {
		log.Warn("env.conf: " + w.String())
	}
	g := &Gateway{opts: opts, log: log, level: level, cfg: cfg, started: time.Now(), notifier: systemd.NewNotifier()}
	return g.run(ctx, reload)
}

// logLevel maps telemetry.logs.std.level to slog's levels.
func logLevel(s string) slog.Level {
	switch s {
	case "all", "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error", "fatal":
		return slog.LevelError
	}
	return slog.LevelInfo
}

func (g *Gateway) run(ctx context.Context, reload <-chan struct{}) error {
	cfg := g.cfg
	g.applyScheduling(cfg.Scheduling) // sched.go; before the loops' threads start
	st, err := store.Open(cfg.StorePath, store.Options{QueueMaxBytes: cfg.QueueMaxBytes, KeepSnapshots: cfg.SnapshotsKeep,
		CommitInterval: cfg.CommitInterval, Logger: g.log})
	if err != nil {
		return err
	}
	g.store = st
	defer st.Close()
	if s := st.Status(); s.QuarantinedTo != "" {
		g.setError(fmt.Sprintf("store was damaged and moved to %s: %s", s.QuarantinedTo, s.QuarantineReason))
	}

	g.state = policy.NewState(nil)
	g.state.SetMaxKeys(cfg.RateLimitMaxKeys)
	g.restoreCounters()
	if cfg.RedisURL != "" {
		sc, err := shared.New(g.state, shared.Options{URL: cfg.RedisURL, PasswordFile: cfg.RedisPasswordFile, CAFile: cfg.RedisCAFile,
			Approximate: cfg.RedisApproximate, Logger: g.log})
		if err != nil {
			return fmt.Errorf("policy.rate-limit.redis.url: %w", err)
		}
		defer sc.Close()
		g.shared = sc
		g.state.SetShared(sc)
	}
	g.caches = shared.NewCacheSwitch(g.state, shared.CacheOptions{Logger: g.log}) // the snapshot's external cache
	defer g.caches.Close()
	g.tracer = appliance.NewTraceLog(g.log, appliance.TraceOptions{})
	defer g.tracer.Close()
	g.handler = &appliance.Handler{Tracer: g.tracer, BodyLimit: int(cfg.BodyMaxBytes), BodyBudget: cfg.BodyMaxTotalBytes}
	g.handler.SetForwardedProto(cfg.ForwardedProto)
	tokens, err := appliance.NewTokenSource(appliance.IdentityConfig{Protocol: cfg.IdentityProtocol, Endpoint: cfg.IdentityEndpoint})
	if err != nil {
		return err
	}
	g.handler.Tokens = tokens // authentication-managed-identity
	g.server = netstack.New(netstack.Config{Addr: cfg.ListenHTTP, Logger: g.log}, g.handler)
	g.recorder = status.NewRecorder(g.server.Loops(), nil)
	// After 30 s without a finished request the rings give their pages back
	// (telemetry.Options.IdleRelease), the queue its grown commit buffers,
	// and the Go heap its free pages: a load run leaves it at its GOGC goal,
	// twice what stays live, and the runtime's background scavenger only
	// returns what is beyond about that.
	// The executable's pages go too (textpages.go): what the load touched
	// comes back from the page cache when traffic does.
	idle, err := idleRelease()
	if err != nil {
		g.log.Warn(err.Error())
	}
	g.pipe = telemetry.New(st, telemetry.Options{Loops: g.server.Loops(), Logger: g.log, IdleRelease: idle, OnIdle: func() {
		st.TrimBuffers()
		debug.FreeOSMemory()
		g.releasePages("idle")
	}})
	g.handler.OnDone = func(r *appliance.Record) {
		g.recorder.Shard(r.Loop).Observe(r.API, r.Operation, r.Status, r.Total)
		g.pipe.OnDone(r)
	}
	g.host = status.NewHostCollector(cfg.StorePath, 0)

	// A configuration before the listeners, so the first request is served.
	g.setActivity("loading configuration")
	g.loadInitial()

	if err := g.server.Start(); err != nil {
		return err
	}
	g.addListener("http", g.server.Addr().String(), "http")
	g.log.Info("data plane listening", "addr", g.server.Addr().String())
	if err := g.startTLS(cfg); err != nil {
		g.server.Shutdown(context.Background())
		return err
	}

	statusSrv, err := status.New(status.Config{Source: g, Recorder: g.recorder, Host: g.host, Logger: g.log})
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	runCtx, cancel := context.WithCancel(context.Background())
	defer func() {
		cancel()
		wg.Wait()
	}()
	if cfg.StatusListen != "" {
		ln, err := net.Listen("tcp", cfg.StatusListen)
		if err != nil {
			g.server.Shutdown(context.Background())
			return fmt.Errorf("status page: listen %s: %w", cfg.StatusListen, err)
		}
		g.addListener("status", ln.Addr().String(), "http")
		g.log.Info("status page listening", "addr", ln.Addr().String())
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := statusSrv.Run(runCtx, ln); err != nil {
				g.log.Error("status page stopped", "err", err)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		wd := &systemd.Watchdog{Notifier: g.notifier, Check: g.server.Ping, Logger: g.log}
		if err := wd.Run(runCtx); err != nil {
			g.log.Error("watchdog", "err", err)
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		g.checkpointLoop(runCtx)
	}()

	g.watch(cfg)
	defer g.stopWatching()

	stopAgent, err := g.startAgent()
	if err != nil {
		g.server.Shutdown(context.Background())
		return err
	}
	defer stopAgent()

	g.announceReady(runCtx, &wg)
	// Start-up goes on after the apply released the binary's pages: the
	// listeners, the status page, the watchdog and the agent run their first
	// code, and grow their stacks, on their own goroutines, and every fault
	// maps 64 KiB around it (docs/benchmarks.md, "Idle footprint, fourth
	// pass"). Once that has settled, release again.
	settle := time.AfterFunc(startupSettle, func() { g.releasePages("start-up settled") })
	defer settle.Stop()

	for {
		select {
		case <-ctx.Done():
			return g.stop(stopAgent)
		case <-reload:
			g.notifier.Reloading("reloading env.conf and configuration")
			g.reload("")
			g.notifier.Ready(g.activityLine())
		}
	}
}

// watchPaths are the files whose change reloads cfg: env.conf, the token
// file (config.service.auth.file) and the standalone snapshot file.
func watchPaths(cfg *envconf.Config) []string {
	return append(cfg.WatchPaths(), cfg.LocalPath)
}

// watch (re)starts the watcher of env.conf, the token file and the standalone
// snapshot file. It runs on the watcher's goroutine when one of those paths
// changes, so the old watcher is closed from a new goroutine (Close waits for
// callbacks).
func (g *Gateway) watch(cfg *envconf.Config) {
	paths := watchPaths(cfg)
	w, err := envconf.NewWatcher(paths, func(path string) {
		g.log.Info("file changed", "path", path)
		g.reload(path)
	}, envconf.WatchOptions{Logger: g.log})
	if err != nil {
		g.log.Warn("not watching env.conf for changes", "err", err)
	}
	g.mu.Lock()
	old := g.watcher
	g.watcher, g.watched = w, strings.Join(paths, "\n")
	g.mu.Unlock()
	if old != nil {
		go old.Close()
	}
}

func (g *Gateway) stopWatching() {
	g.mu.Lock()
	w := g.watcher
	g.watcher = nil
	g.mu.Unlock()
	if w != nil {
		w.Close()
	}
}

// announceReady tells systemd READY once a configuration is loaded, or after
// the grace period without one (the gateway then answers 503 and keeps trying).
func (g *Gateway) announceReady(ctx context.Context, wg *sync.WaitGroup) {
	if g.handler.Current() != nil {
		g.markReady()
		return
	}
	g.setActivity("no configuration yet: answering 503")
	wg.Add(1)
	go func() {
		defer wg.Done()
		deadline := time.NewTimer(g.opts.ReadyGrace)
		defer deadline.Stop()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if g.handler.Current() != nil {
					g.markReady()
					return
				}
			case <-deadline.C:
				g.markReady()
				return
			}
		}
	}()
}

func (g *Gateway) markReady() {
	g.mu.Lock()
	g.ready = true
	g.mu.Unlock()
	if err := g.notifier.Ready(g.activityLine()); err != nil {
		g.log.Warn("sd_notify READY", "err", err)
	}
}

// startTLS starts the HTTPS listener when listen.https and a certificate are
// configured. A listen.https without a certificate (the default address) is
// only a warning: there is nothing to serve it with.
func (g *Gateway) startTLS(cfg *envconf.Config) error {
	if cfg.ListenHTTPS == "" {
		return nil
	}
	if cfg.TLSCertFile == "" || cfg.TLSKeyFile == "" {
		g.log.Warn("HTTPS listener off: set listen.https.certificate and listen.https.key (or listen.https= to silence this)", "listen.https", cfg.ListenHTTPS)
		return nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
	if err != nil {
		return fmt.Errorf("listen.https: %w", err)
	}
	addr, err := g.server.ServeTLS(cfg.ListenHTTPS, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		return err
	}
	g.addListener("https", addr.String(), "HTTP/1.1 and HTTP/2 (ALPN h2) over TLS")
	g.log.Info("data plane listening (TLS)", "addr", addr.String())
	return nil
}

// startAgent starts the sync agent in hybrid mode. The returned function
// stops it and waits for it (idempotent; a no-op in standalone mode).
func (g *Gateway) startAgent() (stop func(), err error) {
	noop := func() {}
	cfg := g.config()
	if cfg.LocalPath != "" || cfg.Endpoint == "" {
		return noop, nil
	}
	ag, err := agent.New(agent.Config{
		Endpoint:                     cfg.Endpoint,
		Token:                        func() *envconf.Token { return g.config().Token },
		GatewayID:                    cfg.GatewayName,
		CAFile:                       cfg.CAFile,
		DisableCertificateValidation: cfg.DisableCertificateValidation,
		RequestTimeout:               cfg.IntegrationTimeout,
		HeartbeatInterval:            cfg.HeartbeatInterval,
		Store:                        g.store,
		Pipeline:                     g.pipe,
		Apply:                        g.Apply,
		Current: func() (uint64, string) {
			if c := g.handler.Current(); c != nil {
				return c.Snapshot.Version, c.Snapshot.Checksum
			}
			return 0, ""
		},
		Version: g.opts.Version,
		Host:    agent.HostFromCollector(g.host, cfg.StorePath),
		Logger:  g.log,
	})
	if err != nil {
		return noop, err
	}
	g.mu.Lock()
	g.agent = ag
	g.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := ag.Run(ctx); err != nil && ctx.Err() == nil {
			g.log.Error("sync agent stopped", "err", err)
		}
	}()
	g.log.Info("syncing with the control plane", "endpoint", cfg.Endpoint, "gateway", cfg.GatewayName)
	return func() {
		cancel()
		<-done
	}, nil
}

// stop drains the data plane, flushes telemetry to disk, then stops the agent.
func (g *Gateway) stop(stopAgent func()) error {
	g.setActivity("draining")
	g.notifier.Stopping("draining in-flight requests")
	g.log.Info("stopping: draining in-flight requests")
	err := g.server.Shutdown(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if perr := g.pipe.Close(ctx); perr != nil {
		g.log.Error("flushing telemetry", "err", perr)
	}
	stopAgent()
	g.saveCounters()
	if ferr := g.store.Flush(ctx); ferr != nil {
		g.log.Error("flushing the store", "err", ferr)
	}
	g.log.Info("stopped")
	return err
}

// loadInitial serves what is available at start: the local snapshot file in
// standalone mode, else the newest snapshot in the store (cold start offline).
func (g *Gateway) loadInitial() {
	cfg := g.config()
	if cfg.LocalPath != "" {
		if err := g.loadLocal(cfg.LocalPath); err == nil {
			return
		} else {
			g.setError(err.Error())
			g.log.Error("standalone snapshot not loaded; trying the store", "path", cfg.LocalPath, "err", err)
		}
	}
	cur, err := g.store.CurrentSnapshot()
	if err != nil {
		if !errors.Is(err, store.ErrNoSnapshot) {
			g.setError("reading the stored snapshot: " + err.Error())
			g.log.Error("reading the stored snapshot", "err", err)
		} else {
			g.log.Warn("no stored configuration: answering 503 until one arrives")
		}
		return
	}
	if err := g.apply(cur.Data, "store", false); err != nil {
		g.setError("stored snapshot " + cur.Version + " does not compile: " + err.Error())
		g.log.Error("stored snapshot does not compile", "version", cur.Version, "err", err)
		return
	}
	g.log.Info("serving the stored configuration", "version", cur.Version, "accepted", cur.AcceptedAt)
}

// loadLocal reads, compiles, stores and serves the standalone snapshot file.
func (g *Gateway) loadLocal(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("standalone snapshot: %w", err)
	}
	if err := g.apply(data, "file", true); err != nil {
		return fmt.Errorf("standalone snapshot %s: %w", path, err)
	}
	return nil
}

// Apply is the sync agent's entry point: a candidate snapshot from the control
// plane is checked, compiled (dry run), stored, then swapped in. On any error
// nothing changes and the last good configuration keeps serving.
func (g *Gateway) Apply(ctx context.Context, raw []byte) error {
	return g.apply(raw, "control-plane", true)
}

func (g *Gateway) apply(raw []byte, origin string, persist bool) error {
	defer tightenGC()()
	var snap *wire.Snapshot
	var err error
	if origin == "control-plane" {
		snap, err = wire.Decode(raw) // a control plane always seals its snapshots
	} else {
		snap, err = wire.DecodeLocal(raw)
	}
	if err != nil {
		return err
	}
	appliance.InternSnapshot(snap) // one copy of each repeated policy document
	version := strconv.FormatUint(snap.Version, 10)
	if persist && g.servesSameContent(snap) {
		// The same version and content, built again (e.g. by a control plane
		// that stamped a new generatedAt after a restart): nothing to compile,
		// store or swap, and no second history row.
		g.log.Debug("snapshot already served", "version", version, "origin", origin)
		return nil
	}
	compiled, err := appliance.CompileWith(snap, g.state, appliance.Options{BackendCAFile: g.config().BackendCAFile})
	if err != nil {
		return err
	}
	if persist {
		facts := store.SnapshotFacts{Origin: origin, APIs: len(snap.APIs)}
		if _, err := g.store.PutSnapshotFacts(version, raw, facts); err != nil {
			return fmt.Errorf("storing snapshot %s: %w", version, err)
		}
	}
	if err := g.caches.Use(snap.Cache); err != nil {
		return err
	}
	g.handler.Swap(compiled)
	for _, w := range compiled.Warnings {
		g.log.Warn("snapshot "+version, "warning", w)
	}
	g.mu.Lock()
	g.applied = applied{version: version, at: time.Now(), origin: origin}
	g.mu.Unlock()
	g.setActivity(fmt.Sprintf("serving snapshot %s (%d APIs)", version, len(snap.APIs)))
	g.log.Info("configuration applied", "version", version, "origin", origin, "apis", len(snap.APIs), "compile", compiled.CompileTime)
	g.notifier.Status(g.activityLine())
	// Compiling a large snapshot leaves several times its live size as
	// garbage; give it back to the OS now rather than keep it counted in RSS
	// for minutes (the appliance profile is 512 MiB for everything).
	debug.FreeOSMemory()
	// And the binary's pages that start-up and the compile touched
	// (textpages.go).
	g.releasePages("snapshot applied")
	return nil
}

// releasePages gives the executable's read-only pages back to the page
// cache (releaseBinaryPages); when says why, for the debug log.
func (g *Gateway) releasePages(when string) {
	n, err := releaseBinaryPages()
	if err != nil {
		g.log.Debug("binary pages not released", "when", when, "error", err)
		return
	}
	g.log.Debug("binary pages released", "when", when, "bytes", n)
}

// servesSameContent reports whether the snapshot being served has the same
// gateway, version and content as snap (wire.ContentDigest: everything but
// generatedAt and the checksum).
func (g *Gateway) servesSameContent(snap *wire.Snapshot) bool {
	cur := g.handler.Current()
	if cur == nil || cur.Snapshot == nil || cur.Snapshot.Version != snap.Version {
		return false
	}
	a, err1 := cur.Snapshot.ContentDigest()
	b, err2 := snap.ContentDigest()
	return err1 == nil && err2 == nil && a == b
}

// reload re-reads env.conf (and the standalone snapshot). path is the file
// that changed, or "" for everything (SIGHUP).
func (g *Gateway) reload(path string) {
	cfg, err := envconf.Load(g.opts.ConfigPath)
	if err != nil {
		g.setError("env.conf not reloaded: " + err.Error())
		g.log.Error("env.conf not reloaded; keeping the running settings", "err", err)
		return
	}
	old := g.config()
	backendCA := false
	for _, k := range cfg.Changed(old) {
		if envconf.RestartOnly(k) {
			g.log.Warn("env.conf: this change takes effect after a restart", "key", k)
		}
		backendCA = backendCA || k == "backend.tls.ca"
	}
	g.mu.Lock()
	g.cfg = cfg
	rewatch := strings.Join(watchPaths(cfg), "\n") != g.watched
	g.mu.Unlock()
	g.level.Set(logLevel(cfg.LogLevel))
	g.handler.SetForwardedProto(cfg.ForwardedProto)
	g.state.SetMaxKeys(cfg.RateLimitMaxKeys)
	if ag := g.currentAgent(); ag != nil {
		ag.Kick() // a new token is used at once
	}
	if rewatch {
		g.watch(cfg)
	}
	if backendCA {
		g.recompileForBackendCA() // backend_ca.go
	}
	if cfg.LocalPath != "" && (path == "" || path == cfg.LocalPath || cfg.LocalPath != old.LocalPath) {
		if err := g.loadLocal(cfg.LocalPath); err != nil {
			g.setError(err.Error())
			g.log.Error("standalone snapshot not applied; the previous one keeps serving", "err", err)
		}
	}
}

func (g *Gateway) currentAgent() *agent.Agent {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.agent
}

func (g *Gateway) config() *envconf.Config {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cfg
}

func (g *Gateway) setError(msg string) {
	g.mu.Lock()
	g.lastErr, g.lastErrAt = msg, time.Now()
	g.mu.Unlock()
}

func (g *Gateway) setActivity(a string) {
	g.mu.Lock()
	g.activity = a
	g.mu.Unlock()
}

func (g *Gateway) activityLine() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.activity
}

func (g *Gateway) addListener(name, addr, proto string) {
	g.mu.Lock()
	g.listeners = append(g.listeners, status.Listener{Name: name, Addr: addr, Protocol: proto})
	g.mu.Unlock()
}

// Counters: quota state is checkpointed to the store so that quotas survive a
// restart.

const counterSep = "\n"

func (g *Gateway) restoreCounters() {
	cs, err := g.store.LoadCounters()
	if err != nil {
		g.log.Error("loading quota counters", "err", err)
		return
	}
	qs := make([]policy.QuotaCounter, 0, len(cs))
	for _, c := range cs {
		pol, key, ok := strings.Cut(c.Key, counterSep)
		if !ok {
			continue
		}
		qs = append(qs, policy.QuotaCounter{Policy: pol, Key: key, PeriodStart: c.WindowStart, Calls: c.Count, Bytes: c.Bytes})
	}
	if err := g.state.RestoreQuotas(qs); err != nil {
		g.log.Error("restoring quota counters", "err", err)
	}
}

func (g *Gateway) saveCounters() {
	qs := g.state.QuotaCounters()
	if len(qs) == 0 {
		return
	}
	cs := make([]store.Counter, 0, len(qs))
	for _, q := range qs {
		// The store drops counters whose window ended; quota periods are
		// re-learnt from the policy, so keep them for a generous year.
		cs = append(cs, store.Counter{Key: q.Policy + counterSep + q.Key, Count: q.Calls, Bytes: q.Bytes,
			WindowStart: q.PeriodStart, WindowEnd: q.PeriodStart.Add(366 * 24 * time.Hour)})
	}
	if err := g.store.SaveCounters(cs); err != nil {
		g.log.Error("saving quota counters", "err", err)
	}
}

func (g *Gateway) checkpointLoop(ctx context.Context) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g.saveCounters()
		}
	}
}
