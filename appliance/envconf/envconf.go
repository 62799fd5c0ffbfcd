package envconf

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// DefaultPath is where apimgw looks for env.conf unless --config says otherwise.
const DefaultPath = "/etc/apimgw/env.conf"

// Defaults (docs/interfaces.md §1 and docs/configuration.md).
const (
	DefaultListenHTTP    = ":8080"
	DefaultListenHTTPS   = ":8081"
	DefaultStatusListen  = "127.0.0.1:8090"
	DefaultStorePath     = "/var/lib/apimgw/apimgw.db"
	DefaultLogsStd       = "text"
	DefaultLogLevel      = "info"
	DefaultQueueMaxBytes = 256 << 20
	DefaultBodyMaxBytes  = 4 << 20
	// DefaultBodyMaxTotalBytes is policy.body.max-total-bytes' default: a
	// quarter of the 512 MiB box the systemd unit is sized for.
	DefaultBodyMaxTotalBytes  = 128 << 20
	DefaultIntegrationTimeout = 100 * time.Second // Azure's 00:01:40
	DefaultHeartbeatInterval  = 60 * time.Second
	DefaultSnapshotsKeep      = 10
	// DefaultCommitInterval is telemetry.queue.commit-interval's default.
	// Every commit is a bbolt transaction with two fdatasyncs; each blocking
	// call makes the Go runtime's sysmon take the P back and poll at 20 µs
	// for a while, so at 100 commits a second the gateway paid 1.23× the
	// CPU per request at a fixed rate it pays at 10 (make bench-commit;
	// docs/benchmarks.md, "The group commit's cost"). 100 ms is what a power cut or a SIGKILL
	// can take with it (docs/reliability.md).
	DefaultCommitInterval = 100 * time.Millisecond
	// DefaultScheduling is process.scheduling's default: SCHED_BATCH, so
	// that the event loops are not woken ahead of the peer that woke them
	// and find more work per wake-up (docs/benchmarks.md, "The loops'
	// wake-ups: SCHED_BATCH").
	DefaultScheduling = "batch"
	// DefaultIdentityProtocol is policy.managed-identity.protocol's default:
	// Azure's Instance Metadata Service.
	DefaultIdentityProtocol = "imds"
	// DefaultRateLimitMaxKeys is policy.rate-limit.max-keys' default (the
	// same as policy.DefaultMaxKeys).
	DefaultRateLimitMaxKeys = 65536
	// MinQueueMaxBytes is the smallest telemetry queue budget accepted.
	MinQueueMaxBytes = 1 << 20
)

// maxLine bounds one line (a token is ~130 bytes; 64 KiB is generous).
const maxLine = 64 << 10

// Config is a parsed env.conf. Parse fills every field, defaults included; the
// zero Config is not meaningful. A Config is a value: the appliance parses a
// new one on every reload and compares.
type Config struct {
	// File is the name the config was read from (for messages).
	File string

	// Endpoint is the control plane base URL (config.service.endpoint),
	// normalized: a scheme-less Azure value gets https://, no trailing slash.
	// "" when unset (standalone mode).
	Endpoint string
	// Token is the parsed config.service.auth, nil when unset.
	Token *Token
	// DisableCertificateValidation is
	// config.service.endpoint.disableCertificateValidation.
	DisableCertificateValidation bool
	// CAFile is config.service.ca: a PEM bundle to trust for the control plane
	// ("" means the system roots).
	CAFile string
	// BackendCAFile is backend.tls.ca: a PEM bundle trusted for https
	// backends in addition to the system roots and the control plane's CAs.
	BackendCAFile string
	// IntegrationTimeout bounds one request to the control plane
	// (config.service.integration.timeout; Azure's TimeSpan or a Go duration).
	IntegrationTimeout time.Duration
	// LocalPath is config.local.path: standalone mode from a snapshot file.
	LocalPath string
	// AuthFile is config.service.auth.file: the token is read from this file
	// (a mounted Kubernetes Secret) instead of config.service.auth, and
	// re-read whenever the file changes. "" when unset.
	AuthFile string
	// GatewayName is gateway.name, or the token's gateway id when unset.
	GatewayName string

	ListenHTTP  string // listen.http, ":8080"
	ListenHTTPS string // listen.https, ":8081"; "" means off
	// TLSCertFile and TLSKeyFile are listen.https.certificate and
	// listen.https.key: the PEM certificate chain and key the HTTPS listener
	// serves. Without them the HTTPS listener stays off (with a warning).
	TLSCertFile, TLSKeyFile string
	StatusListen            string // status.listen, "127.0.0.1:8090"

	StorePath      string        // store.path
	SnapshotsKeep  int           // store.snapshots.keep, 10
	QueueMaxBytes  int64         // telemetry.queue.max-bytes, 256 MiB
	CommitInterval time.Duration // telemetry.queue.commit-interval, 100ms

	LogsStd  string // telemetry.logs.std: text, json or none
	LogLevel string // telemetry.logs.std.level: all, debug, info, warn, error, fatal

	HeartbeatInterval time.Duration // heartbeat.interval, 60s
	// RateLimitMaxKeys is policy.rate-limit.max-keys: how many counter keys
	// each rate-limit(-by-key) and quota(-by-key) policy keeps, 65536.
	RateLimitMaxKeys int
	// RedisURL is policy.rate-limit.redis.url: the Redis through which
	// replicas share rate-limit and quota counters ("" means local
	// counters). It may hold a password: Settings shows it redacted.
	RedisURL string
	// RedisPasswordFile is policy.rate-limit.redis.password.file: the Redis
	// password is read from this file (it wins over one in the URL).
	RedisPasswordFile string
	// RedisCAFile is policy.rate-limit.redis.ca: a PEM bundle trusted for a
	// rediss:// Redis instead of the system roots.
	RedisCAFile string
	// RedisApproximate is policy.rate-limit.redis.mode=approximate: replicas
	// decide from their own view and sync in the background (no request
	// waits for Redis, bursts overshoot by up to (N-1) x limit). The default,
	// exact, admits calls from leases Redis grants (appliance/shared).
	RedisApproximate bool
	// BodyMaxBytes is policy.body.max-bytes: the most request or response
	// body bytes buffered for policies that read a body (4 MiB).
	BodyMaxBytes int64
	// BodyMaxTotalBytes is policy.body.max-total-bytes: the most memory all
	// requests together hold in buffered bodies and the copies policies make
	// of them (128 MiB); over it a request is answered 503.
	BodyMaxTotalBytes int64
	// ForwardedProto is Azure's net.server.http.forwarded.proto.enabled.
	ForwardedProto bool
	// IdentityProtocol and IdentityEndpoint are policy.managed-identity.protocol
	// (imds, arc or app-service; "imds") and policy.managed-identity.endpoint
	// (the token endpoint; "" means the protocol's default): where
	// authentication-managed-identity gets its tokens.
	IdentityProtocol string
	IdentityEndpoint string
	// Scheduling is process.scheduling: "batch" (the default) puts the
	// gateway's threads under Linux's SCHED_BATCH policy, "inherit" keeps
	// the policy the process was started with.
	Scheduling string

	// Ignored lists the Azure keys present in the file that apimgw accepts
	// for compatibility but does not act on, in file order.
	Ignored []string
	// Warnings are unknown keys, duplicates and doubtful combinations.
	Warnings []Warning
	// Sources says where each key that was set came from (a line of the
	// file or an environment variable); keys left at their default are
	// absent. Settings reports them for the status page.
	Sources map[string]Source
	// FileRead is false when there was no env.conf and the environment
	// alone configured the gateway.
	FileRead bool
}

// Mode is how the gateway gets its configuration.
type Mode int

const (
	// ModeConnected: pulled from the control plane at Endpoint.
	ModeConnected Mode = iota
	// ModeStandalone: read from the snapshot file at LocalPath.
	ModeStandalone
)

func (m Mode) String() string {
	if m == ModeStandalone {
		return "standalone"
	}
	return "connected"
}

// Mode reports standalone when config.local.path is set.
func (c *Config) Mode() Mode {
	if c.LocalPath != "" {
		return ModeStandalone
	}
	return ModeConnected
}

// Warning is something worth logging that does not stop the gateway.
type Warning struct {
	File string
	Line int
	Key  string
	// Env is true when the key came from an environment variable (Key is
	// its name).
	Env bool
	Msg string
}

func (w Warning) String() string {
	if w.Env {
		return fmt.Sprintf("environment variable %s: %s", w.Key, w.Msg)
	}
	if w.Line == 0 {
		return fmt.Sprintf("%s: %s: %s", w.File, w.Key, w.Msg)
	}
	return fmt.Sprintf("%s:%d: %s: %s", w.File, w.Line, w.Key, w.Msg)
}

// Load reads the env.conf at path and the process environment
// (LoadEnv(path, os.Environ())).
func Load(path string) (*Config, error) {
	return LoadEnv(path, os.Environ())
}

// LoadEnv reads the env.conf at path and then the environment variables in
// environ ("key=value", as os.Environ gives them) whose names are env.conf
// keys: a variable overrides the file's line for the same key (Sources and a
// warning say so). A missing file is no error when at least one variable is
// a key: that is how a container is configured (docker run --env-file, a
// Kubernetes ConfigMap through envFrom).
func LoadEnv(path string, environ []string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("envconf: %w", err)
		}
		if !hasEnvKey(environ) {
			return nil, fmt.Errorf("envconf: %w, and no environment variable is an env.conf key (config.service.endpoint, config.service.auth, config.local.path, …)", err)
		}
		return parse(path, nil, false, environ)
	}
	return parse(path, data, true, environ)
}

// hasEnvKey reports whether one of the variables is an env.conf key, or
// looks like a mistyped one (then the error that follows names it).
func hasEnvKey(environ []string) bool {
	for _, e := range envEntries(environ) {
		if _, known := keys[e.key]; known {
			return true
		}
		if _, close := suggest(e.key); close {
			return true
		}
	}
	return false
}

// defaults returns a Config with every default set.
func defaults(name string) *Config {
	return &Config{
		File:               name,
		IntegrationTimeout: DefaultIntegrationTimeout,
		ListenHTTP:         DefaultListenHTTP,
		ListenHTTPS:        DefaultListenHTTPS,
		StatusListen:       DefaultStatusListen,
		StorePath:          DefaultStorePath,
		SnapshotsKeep:      DefaultSnapshotsKeep,
		QueueMaxBytes:      DefaultQueueMaxBytes,
		RateLimitMaxKeys:   DefaultRateLimitMaxKeys,
		CommitInterval:     DefaultCommitInterval,
		LogsStd:            DefaultLogsStd,
		LogLevel:           DefaultLogLevel,
		HeartbeatInterval:  DefaultHeartbeatInterval,
		Sources:            map[string]Source{},
		BodyMaxBytes:       DefaultBodyMaxBytes,
		BodyMaxTotalBytes:  DefaultBodyMaxTotalBytes,
		IdentityProtocol:   DefaultIdentityProtocol,
		Scheduling:         DefaultScheduling,
	}
}

// Parse parses env.conf content; name is used in messages. It returns every
// line error it finds (joined; each is a *LineError naming name:line), so one
// run shows all mistakes. On error no Config is returned. The environment is
// not read (LoadEnv does that).
func Parse(name string, data []byte) (*Config, error) {
	return parse(name, data, true, nil)
}

// entry is one key=value from a line of the file or from a variable.
type entry struct {
	key, val string
	src      Source
}

// parse reads the file's lines (when fileRead) and then the environment's
// variables, applying them in that order so a variable overrides a line.
func parse(name string, data []byte, fileRead bool, environ []string) (*Config, error) {
	c := defaults(name)
	c.FileRead = fileRead
	var errs []error
	fail := func(src Source, key string, err error) {
		if len(errs) < 50 {
			errs = append(errs, &LineError{File: name, Line: src.Line, Key: key, Env: src.Env, Err: err})
		}
	}
	var entries []entry
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // editors on Windows
	lineNo := 0
	for len(data) > 0 {
		lineNo++
		var raw []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			raw, data = data[:i], data[i+1:]
		} else {
			raw, data = data, nil
		}
		src := Source{File: name, Line: lineNo}
		if len(raw) > maxLine {
			fail(src, "", fmt.Errorf("%w: line is %d bytes long (limit %d)", ErrMalformed, len(raw), maxLine))
			continue
		}
		line := strings.TrimSpace(string(raw))
		if line == "" || line[0] == '#' {
			continue
		}
		eq := strings.IndexByte(line, '=')
		if eq < 0 {
			fail(src, "", fmt.Errorf("%w: expected key=value, got %q", ErrMalformed, clip(line)))
			continue
		}
		key := strings.TrimSpace(line[:eq])
		val := unquote(strings.TrimSpace(line[eq+1:]))
		if key == "" {
			fail(src, "", fmt.Errorf("%w: missing key before '=' in %q", ErrMalformed, clip(line)))
			continue
		}
		if !validKey(key) {
			fail(src, "", fmt.Errorf("%w: key %q may only hold letters, digits and . _ -", ErrMalformed, clip(key)))
			continue
		}
		entries = append(entries, entry{key, val, src})
	}
	entries = append(entries, envEntries(environ)...)

	var guesses []guess
	for _, e := range entries {
		spec, known := keys[e.key]
		if !known {
			// Any variable may be in the environment (PATH, HOME): only
			// those that look like a mistyped key are worth a word.
			g, close := suggest(e.key)
			if e.src.Env && !close {
				continue
			}
			msg := "unknown key, ignored"
			switch {
			case g != "" && strings.EqualFold(g, e.key):
				msg = fmt.Sprintf("unknown key, ignored (keys are case-sensitive: did you mean %s?)", g)
			case g != "":
				msg = fmt.Sprintf("unknown key, ignored (did you mean %s?)", g)
				guesses = append(guesses, guess{typed: e.key, meant: g, src: e.src})
			}
			c.Warnings = append(c.Warnings, Warning{File: name, Line: e.src.Line, Key: e.key, Env: e.src.Env, Msg: msg})
			continue
		}
		if prev, dup := c.Sources[e.key]; dup {
			msg := fmt.Sprintf("set again (first on line %d); the last value wins", prev.Line)
			if e.src.Env {
				msg = fmt.Sprintf("also set on %s; the environment variable wins", prev)
			}
			c.Warnings = append(c.Warnings, Warning{File: name, Line: e.src.Line, Key: e.key, Env: e.src.Env, Msg: msg})
			if e.src.Env {
				e.src.Over = prev.String()
			}
		}
		c.Sources[e.key] = e.src
		if spec.set == nil {
			c.Ignored = append(c.Ignored, e.key)
			continue
		}
		if err := spec.set(c, e.val); err != nil {
			fail(e.src, e.key, err)
			continue
		}
	}
	if len(errs) == 0 {
		errs = c.finish(guesses)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// envEntries picks the variables of environ whose names could be keys (they
// hold a '.'; env.conf keys all do), in a fixed order.
func envEntries(environ []string) []entry {
	var out []entry
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.Contains(k, ".") || !validKey(k) {
			continue
		}
		out = append(out, entry{key: k, val: unquote(strings.TrimSpace(v)), src: Source{Env: true}})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// finish applies cross-key rules once every line and variable is read.
// guesses are the unknown keys that look like known ones.
func (c *Config) finish(guesses []guess) []error {
	var errs []error
	if c.AuthFile != "" {
		if _, both := c.Sources["config.service.auth"]; both && c.Token != nil {
			errs = append(errs, c.errAt("config.service.auth.file", fmt.Errorf("%w: set either config.service.auth (%s) or config.service.auth.file, not both", ErrInvalidValue, c.Sources["config.service.auth"])))
		} else if err := c.readAuthFile(); err != nil {
			errs = append(errs, c.errAt("config.service.auth.file", err))
		}
	}
	if c.BodyMaxTotalBytes < c.BodyMaxBytes {
		errs = append(errs, c.errAt("policy.body.max-total-bytes", fmt.Errorf("%w: %d bytes is less than policy.body.max-bytes (%d bytes): a body of the size one request may buffer could never be buffered",
			ErrInvalidValue, c.BodyMaxTotalBytes, c.BodyMaxBytes)))
	}
	if _, set := c.Sources["policy.rate-limit.redis.mode"]; set && c.RedisURL == "" {
		errs = append(errs, c.errAt("policy.rate-limit.redis.mode", fmt.Errorf("%w: it chooses how counters are shared through Redis, and policy.rate-limit.redis.url is not set (counters are local)", ErrInvalidValue)))
	}
	if c.Endpoint == "" && c.LocalPath == "" {
		msg := "set config.service.endpoint and config.service.auth (connected to a control plane), or config.local.path (standalone)"
		for _, g := range guesses {
			switch g.meant {
			case "config.service.endpoint", "config.local.path":
				msg += fmt.Sprintf("; %s sets %s, which is not a key: did you mean %s?", g.src, g.typed, g.meant)
			}
		}
		errs = append(errs, &LineError{File: c.File, Err: fmt.Errorf("%w: %s", ErrNoSource, msg)})
	}
	if c.Endpoint != "" && c.Token == nil && c.LocalPath == "" && c.AuthFile == "" {
		msg := "required with config.service.endpoint (the gateway token from the control plane), or config.service.auth.file naming a file that holds it"
		for _, g := range guesses {
			if strings.HasPrefix(g.meant, "config.service.auth") {
				msg += fmt.Sprintf("; %s sets %s, which is not a key: did you mean %s?", g.src, g.typed, g.meant)
			}
		}
		errs = append(errs, &LineError{File: c.File, Key: "config.service.auth", Err: fmt.Errorf("%w: %s", ErrToken, msg)})
	}
	for _, g := range guesses {
		// A mistyped listener key leaves the listener on a default that
		// listens on every interface: say so, it may not be what was meant.
		if def, wide := allInterfaces[g.meant]; wide {
			if _, set := c.Sources[g.meant]; !set {
				c.Warnings = append(c.Warnings, Warning{File: c.File, Line: g.src.Line, Key: g.typed, Env: g.src.Env,
					Msg: fmt.Sprintf("%s is not set, so it keeps its default %s: listening on all interfaces", g.meant, def)})
			}
		}
	}
	if c.Endpoint != "" && c.LocalPath != "" {
		c.Warnings = append(c.Warnings, Warning{File: c.File, Key: "config.local.path", Msg: "set together with config.service.endpoint: standalone mode, the control plane is not asked for config"})
	}
	if c.Token != nil {
		switch {
		case c.GatewayName == "":
			c.GatewayName = c.Token.GatewayID
		case c.GatewayName != c.Token.GatewayID:
			c.Warnings = append(c.Warnings, Warning{File: c.File, Line: c.Sources["gateway.name"].Line, Key: "gateway.name", Env: c.Sources["gateway.name"].Env,
				Msg: fmt.Sprintf("%q differs from the token's gateway id %q (%s); the control plane authenticates the token's id", c.GatewayName, c.Token.GatewayID, c.tokenSource())})
		}
	}
	if c.DisableCertificateValidation && c.CAFile != "" {
		c.Warnings = append(c.Warnings, Warning{File: c.File, Key: "config.service.ca", Msg: "has no effect while config.service.endpoint.disableCertificateValidation is true"})
	}
	return errs
}

// allInterfaces are the listener keys whose default binds every interface.
var allInterfaces = map[string]string{
	"listen.http":  DefaultListenHTTP,
	"listen.https": DefaultListenHTTPS,
}

// errAt is an error about key, placed where key was set.
func (c *Config) errAt(key string, err error) error {
	src := c.Sources[key]
	return &LineError{File: c.File, Line: src.Line, Key: key, Env: src.Env, Err: err}
}

// tokenSource says where the token came from, for messages.
func (c *Config) tokenSource() string {
	if c.AuthFile != "" {
		return "file " + c.AuthFile
	}
	if src := c.Sources["config.service.auth"]; !src.Env {
		return fmt.Sprintf("line %d", src.Line)
	}
	return "environment"
}

// readAuthFile reads the token from config.service.auth.file: the whole file,
// blanks and line ends around it ignored (a Kubernetes Secret's value, or
// "GatewayKey …" as the portal shows it).
func (c *Config) readAuthFile() error {
	data, err := os.ReadFile(c.AuthFile)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrToken, err)
	}
	if len(data) > maxLine {
		return fmt.Errorf("%w: %s is %d bytes; a token is about 130", ErrToken, c.AuthFile, len(data))
	}
	t, err := ParseToken(string(data))
	if err != nil {
		return fmt.Errorf("%s: %w", c.AuthFile, err)
	}
	c.Token = &t
	return nil
}

// keySpec says what a key does; set == nil marks an Azure key apimgw accepts
// without acting on it.
type keySpec struct {
	set func(c *Config, v string) error
}

var keys = map[string]keySpec{
	// Azure's keys that apimgw honours.
	"config.service.endpoint": {func(c *Config, v string) error { return setEndpoint(c, v) }},
	"config.service.auth":     {setAuth},
	"config.service.auth.file": {func(c *Config, v string) error {
		c.AuthFile = v // read in finish, once every key is known
		return nil
	}},
	"config.service.endpoint.disableCertificateValidation": {func(c *Config, v string) error {
		return parseBoolInto(&c.DisableCertificateValidation, v)
	}},
	"config.service.integration.timeout": {func(c *Config, v string) error {
		return parseDurationInto(&c.IntegrationTimeout, v, time.Second, 24*time.Hour)
	}},
	"gateway.name": {func(c *Config, v string) error { c.GatewayName = v; return nil }},
	"telemetry.logs.std": {func(c *Config, v string) error {
		return oneOf(&c.LogsStd, v, DefaultLogsStd, "text", "json", "none")
	}},
	"telemetry.logs.std.level": {func(c *Config, v string) error {
		return oneOf(&c.LogLevel, strings.ToLower(v), DefaultLogLevel, "all", "debug", "info", "warn", "error", "fatal")
	}},
	"net.server.http.forwarded.proto.enabled": {func(c *Config, v string) error { return parseBoolInto(&c.ForwardedProto, v) }},

	// apimgw's own keys.
	"config.service.ca":        {func(c *Config, v string) error { c.CAFile = v; return nil }},
	"backend.tls.ca":           {func(c *Config, v string) error { c.BackendCAFile = v; return nil }},
	"config.local.path":        {func(c *Config, v string) error { c.LocalPath = v; return nil }},
	"listen.http":              {func(c *Config, v string) error { return setAddr(&c.ListenHTTP, v, DefaultListenHTTP, false) }},
	"listen.https":             {func(c *Config, v string) error { return setAddr(&c.ListenHTTPS, v, "", true) }},
	"listen.https.certificate": {func(c *Config, v string) error { c.TLSCertFile = v; return nil }},
	"listen.https.key":         {func(c *Config, v string) error { c.TLSKeyFile = v; return nil }},
	"status.listen":            {func(c *Config, v string) error { return setAddr(&c.StatusListen, v, DefaultStatusListen, false) }},
	"store.path": {func(c *Config, v string) error {
		if v == "" {
			v = DefaultStorePath
		}
		c.StorePath = v
		return nil
	}},
	"store.snapshots.keep": {func(c *Config, v string) error {
		if v == "" {
			c.SnapshotsKeep = DefaultSnapshotsKeep
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return fmt.Errorf("%w: %q is not a whole number from 1 to 1000", ErrInvalidValue, clip(v))
		}
		c.SnapshotsKeep = n
		return nil
	}},
	"telemetry.queue.max-bytes": {func(c *Config, v string) error {
		if v == "" {
			c.QueueMaxBytes = DefaultQueueMaxBytes
			return nil
		}
		n, err := ParseSize(v)
		if err != nil {
			return err
		}
		if n < MinQueueMaxBytes {
			return fmt.Errorf("%w: %s is below the minimum of 1MiB", ErrInvalidValue, v)
		}
		c.QueueMaxBytes = n
		return nil
	}},
	"policy.rate-limit.max-keys": {func(c *Config, v string) error {
		if v == "" {
			c.RateLimitMaxKeys = DefaultRateLimitMaxKeys
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10_000_000 {
			return fmt.Errorf("%w: %q is not a whole number from 1 to 10000000", ErrInvalidValue, clip(v))
		}
		c.RateLimitMaxKeys = n
		return nil
	}},
	// Replicas with the same value share rate-limit and quota counters
	// through this Redis (appliance/shared). Empty means local counters.
	"policy.rate-limit.redis.url": {func(c *Config, v string) error {
		if v == "" {
			c.RedisURL = ""
			return nil
		}
		if err := checkRedisURL(v); err != nil {
			return err
		}
		c.RedisURL = v
		return nil
	}},
	"policy.rate-limit.redis.password.file": {func(c *Config, v string) error {
		c.RedisPasswordFile = v
		return nil
	}},
	"policy.rate-limit.redis.ca": {func(c *Config, v string) error {
		c.RedisCAFile = v
		return nil
	}},
	"policy.rate-limit.redis.mode": {func(c *Config, v string) error {
		switch v {
		case "", "exact":
			c.RedisApproximate = false
		case "approximate":
			c.RedisApproximate = true
		default:
			return fmt.Errorf("%w: %q: exact (the default: calls admitted from leases Redis grants, never beyond the limit) or approximate (decided locally, synced in the background) expected", ErrInvalidValue, clip(v))
		}
		return nil
	}},
	"telemetry.queue.commit-interval": {func(c *Config, v string) error {
		return parseDurationInto(&c.CommitInterval, v, time.Millisecond, 10*time.Second)
	}},
	"policy.body.max-bytes": {func(c *Config, v string) error {
		if v == "" {
			c.BodyMaxBytes = DefaultBodyMaxBytes
			return nil
		}
		n, err := ParseSize(v)
		if err != nil {
			return err
		}
		if n < 1<<10 || n > 1<<30 {
			return fmt.Errorf("%w: %s is not between 1KiB and 1GiB", ErrInvalidValue, v)
		}
		c.BodyMaxBytes = n
		return nil
	}},
	"policy.body.max-total-bytes": {func(c *Config, v string) error {
		if v == "" {
			c.BodyMaxTotalBytes = DefaultBodyMaxTotalBytes
			return nil
		}
		n, err := ParseSize(v)
		if err != nil {
			return err
		}
		if n < 1<<20 || n > 1<<40 {
			return fmt.Errorf("%w: %s is not between 1MiB and 1TiB", ErrInvalidValue, v)
		}
		c.BodyMaxTotalBytes = n
		return nil
	}},
	"policy.managed-identity.protocol": {func(c *Config, v string) error {
		return oneOf(&c.IdentityProtocol, v, DefaultIdentityProtocol, "imds", "arc", "app-service")
	}},
	"policy.managed-identity.endpoint": {func(c *Config, v string) error {
		if v == "" {
			c.IdentityEndpoint = ""
			return nil
		}
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%w: %q is not an http:// or https:// URL", ErrInvalidValue, clip(v))
		}
		c.IdentityEndpoint = v
		return nil
	}},
	"process.scheduling": {func(c *Config, v string) error {
		return oneOf(&c.Scheduling, v, DefaultScheduling, "batch", "inherit")
	}},
	"heartbeat.interval": {func(c *Config, v string) error {
		return parseDurationInto(&c.HeartbeatInterval, v, time.Second, time.Hour)
	}},
}

// Azure self-hosted gateway keys (settings reference, v2) that apimgw accepts
// but does not act on: they concern Microsoft Entra auth, multi-instance
// sync, Kubernetes, Azure Monitor/StatsD/OpenTelemetry, syslog, and TLS knobs
// of Azure's .NET runtime.
var azureIgnored = []string{
	"config.service.auth.azureAd.tenantId",
	"config.service.auth.azureAd.clientId",
	"config.service.auth.azureAd.clientSecret",
	"config.service.auth.azureAd.certificatePath",
	"config.service.auth.azureAd.authority",
	"config.service.auth.tokenAudience",
	"neighborhood.host",
	"neighborhood.heartbeat.port",
	"policy.rate-limit.sync.port",
	"k8s.ingress.enabled",
	"k8s.ingress.namespace",
	"k8s.ingress.dns.suffix",
	"k8s.ingress.config.path",
	"telemetry.metrics.local",
	"telemetry.metrics.local.statsd.endpoint",
	"telemetry.metrics.local.statsd.sampling",
	"telemetry.metrics.local.statsd.tag-format",
	"telemetry.metrics.cloud",
	"observability.opentelemetry.enabled",
	"observability.opentelemetry.collector.uri",
	"observability.opentelemetry.system-metrics.enabled",
	"observability.opentelemetry.histogram.buckets",
	"telemetry.logs.std.color",
	"telemetry.logs.local",
	"telemetry.logs.local.localsyslog.endpoint",
	"telemetry.logs.local.localsyslog.facility",
	"telemetry.logs.local.rfc5424.endpoint",
	"telemetry.logs.local.rfc5424.facility",
	"telemetry.logs.local.journal.endpoint",
	"telemetry.logs.local.json.endpoint",
	"certificates.local.ca.enabled",
	"net.server.tls.ciphers.allowed-suites",
	"net.client.tls.ciphers.allowed-suites",
	"security.certificate-revocation.validation.enabled",
	"Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Backend.Protocols.Tls13",
	"Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Backend.Protocols.Tls12",
	"Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Backend.Protocols.Tls11",
	"Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Backend.Protocols.Tls10",
	"Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Backend.Protocols.Ssl30",
	"logs.applicationinsights.endpoint",
}

func init() {
	for _, k := range azureIgnored {
		keys[k] = keySpec{}
	}
}

// Keys returns every key env.conf understands (honoured and accepted), sorted.
func Keys() []string {
	out := make([]string, 0, len(keys))
	for k := range keys {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Honoured reports whether apimgw acts on key (false for unknown keys and for
// Azure keys accepted only for compatibility).
func Honoured(key string) bool {
	spec, ok := keys[key]
	return ok && spec.set != nil
}

func caseInsensitive(key string) string {
	for k := range keys {
		if strings.EqualFold(k, key) {
			return k
		}
	}
	return ""
}

func validKey(k string) bool {
	for i := 0; i < len(k); i++ {
		b := k[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '.' || b == '_' || b == '-') {
			return false
		}
	}
	return true
}

// unquote strips one pair of matching surrounding quotes, so values copied
// from a Kubernetes ConfigMap ("…") work.
func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1]
	}
	return v
}

// clip shortens a value for an error message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}

func setEndpoint(c *Config, v string) error {
	if v == "" {
		c.Endpoint = ""
		return nil
	}
	raw := v
	if !strings.Contains(v, "://") {
		// Azure's v2 value is a bare host: contoso.configuration.azure-api.net
		v = "https://" + v
	}
	u, err := url.Parse(v)
	if err != nil {
		return fmt.Errorf("%w: %q is not a URL: %v", ErrInvalidValue, clip(raw), err)
	}
	if u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("%w: %q has no host", ErrInvalidValue, clip(raw))
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return fmt.Errorf("%w: %q: http:// is allowed only for a loopback control plane (tests); use https://", ErrInvalidValue, clip(raw))
		}
	default:
		return fmt.Errorf("%w: %q: scheme must be https", ErrInvalidValue, clip(raw))
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%w: %q: bad port %q", ErrInvalidValue, clip(raw), p)
		}
	}
	if u.User != nil {
		return fmt.Errorf("%w: %q: credentials belong in config.service.auth, not the URL", ErrInvalidValue, clip(raw))
	}
	u.Fragment = ""
	u.Path = strings.TrimRight(u.Path, "/")
	c.Endpoint = u.String()
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func setAuth(c *Config, v string) error {
	if v == "" {
		c.Token = nil
		return nil
	}
	if strings.EqualFold(v, "azureAdApp") {
		return fmt.Errorf("%w: azureAdApp (Microsoft Entra ID authentication) is not supported by apimgw; put the gateway token from the control plane here", ErrUnsupported)
	}
	t, err := ParseToken(v)
	if err != nil {
		return err
	}
	c.Token = &t
	return nil
}

// setAddr parses host:port (host optional, port 0–65535; a bare port number
// means all interfaces). An empty value gives def, which is "" (off) for
// listen.https.
func setAddr(dst *string, v, def string, emptyIsOff bool) error {
	if v == "" {
		if emptyIsOff {
			*dst = ""
		} else {
			*dst = def
		}
		return nil
	}
	if _, err := strconv.Atoi(v); err == nil {
		v = ":" + v
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return fmt.Errorf("%w: %q is not host:port: %v", ErrInvalidValue, clip(v), addrErr(err))
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%w: %q: port %q is not a number from 0 to 65535", ErrInvalidValue, clip(v), port)
	}
	if strings.ContainsAny(host, " /") {
		return fmt.Errorf("%w: %q: bad host %q", ErrInvalidValue, clip(v), host)
	}
	*dst = net.JoinHostPort(host, port)
	return nil
}

func addrErr(err error) string {
	var ae *net.AddrError
	if errors.As(err, &ae) {
		return ae.Err
	}
	return err.Error()
}

// ParseBool accepts true/false, yes/no, on/off, 1/0 (any case).
func ParseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "yes", "on", "1":
		return true, nil
	case "false", "no", "off", "0":
		return false, nil
	}
	return false, fmt.Errorf("%w: %q is not a boolean (true or false)", ErrInvalidValue, clip(v))
}

func parseBoolInto(dst *bool, v string) error {
	if v == "" {
		*dst = false
		return nil
	}
	b, err := ParseBool(v)
	if err != nil {
		return err
	}
	*dst = b
	return nil
}

func oneOf(dst *string, v, def string, allowed ...string) error {
	if v == "" {
		*dst = def
		return nil
	}
	for _, a := range allowed {
		if v == a {
			*dst = v
			return nil
		}
	}
	return fmt.Errorf("%w: %q is not one of %s", ErrInvalidValue, clip(v), strings.Join(allowed, ", "))
}

var sizeUnits = map[string]float64{
	"": 1, "b": 1,
	"k": 1e3, "kb": 1e3, "ki": 1 << 10, "kib": 1 << 10,
	"m": 1e6, "mb": 1e6, "mi": 1 << 20, "mib": 1 << 20,
	"g": 1e9, "gb": 1e9, "gi": 1 << 30, "gib": 1 << 30,
	"t": 1e12, "tb": 1e12, "ti": 1 << 40, "tib": 1 << 40,
}

// ParseSize parses a byte size: a number (decimals allowed) and an optional
// unit, case-insensitive: B; KiB/MiB/GiB/TiB (or Ki, Mi, …) are powers of
// 1024; KB/MB/GB/TB (or K, M, …) powers of 1000. "256MiB", "1.5 GiB", "1048576".
func ParseSize(v string) (int64, error) {
	s := strings.TrimSpace(v)
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
	mult, ok := sizeUnits[unit]
	if num == "" || !ok {
		return 0, fmt.Errorf("%w: %q is not a size (like 256MiB, 1GiB or a number of bytes)", ErrInvalidValue, clip(v))
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q is not a size: bad number %q", ErrInvalidValue, clip(v), num)
	}
	b := f * mult
	if b >= 1<<62 {
		return 0, fmt.Errorf("%w: %q is too large", ErrInvalidValue, clip(v))
	}
	return int64(b), nil
}

// ParseDuration accepts a Go duration ("90s", "1m30s") or Azure's .NET
// TimeSpan ("00:01:40", "1.02:00:00" for a day and two hours).
func ParseDuration(v string) (time.Duration, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return d, nil
	}
	days := 0
	rest := v
	if dot := strings.IndexByte(rest, '.'); dot >= 0 && dot < strings.IndexByte(rest+":", ':') {
		n, err := strconv.Atoi(rest[:dot])
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%w: %q is not a duration (like 90s or 00:01:30)", ErrInvalidValue, clip(v))
		}
		days, rest = n, rest[dot+1:]
	}
	parts := strings.Split(rest, ":")
	if len(parts) != 3 {
		return 0, fmt.Errorf("%w: %q is not a duration (like 90s or 00:01:30)", ErrInvalidValue, clip(v))
	}
	h, err1 := strconv.Atoi(parts[0])
	m, err2 := strconv.Atoi(parts[1])
	sec, err3 := strconv.ParseFloat(parts[2], 64)
	if err1 != nil || err2 != nil || err3 != nil || h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec >= 60 {
		return 0, fmt.Errorf("%w: %q is not a duration (like 90s or 00:01:30)", ErrInvalidValue, clip(v))
	}
	return time.Duration(days)*24*time.Hour + time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec*float64(time.Second)), nil
}

func parseDurationInto(dst *time.Duration, v string, lo, hi time.Duration) error {
	if v == "" {
		return nil // keep the default set before parsing
	}
	d, err := ParseDuration(v)
	if err != nil {
		return err
	}
	if d < lo || d > hi {
		return fmt.Errorf("%w: %s is outside %s to %s", ErrInvalidValue, v, lo, hi)
	}
	*dst = d
	return nil
}

// checkRedisURL accepts redis://[user:password@]host[:port][/db] and
// rediss://… (TLS).
func checkRedisURL(v string) error {
	u, err := url.Parse(v)
	if err != nil {
		return fmt.Errorf("%w: not a URL: redis://host:port/db expected", ErrInvalidValue)
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return fmt.Errorf("%w: scheme %q: redis:// or rediss:// expected", ErrInvalidValue, clip(u.Scheme))
	}
	if u.Hostname() == "" {
		return fmt.Errorf("%w: no host: redis://host:port/db expected", ErrInvalidValue)
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		if n, err := strconv.Atoi(db); err != nil || n < 0 {
			return fmt.Errorf("%w: database %q is not a number", ErrInvalidValue, clip(db))
		}
	}
	if u.RawQuery != "" {
		return fmt.Errorf("%w: query parameters are not supported (timeouts are the gateway's own)", ErrInvalidValue)
	}
	return nil
}

// RedactURL returns a URL with its password replaced by "***".
func RedactURL(v string) string {
	u, err := url.Parse(v)
	if err != nil || u.User == nil {
		return v
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "***")
	}
	return strings.Replace(u.String(), "%2A%2A%2A", "***", 1)
}
