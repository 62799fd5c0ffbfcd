package status

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

// TokenWarning is how long before the gateway token expires the page warns.
const TokenWarning = 7 * 24 * time.Hour

// Config configures a Server. Only Source is required.
type Config struct {
	Source Source
	// Recorder feeds request metrics to /metrics and per-API traffic to the
	// page; nil shows APIs without traffic figures.
	Recorder *Recorder
	// Host collects host facts; nil means NewHostCollector on the Source's
	// StorePath (read from the first Facts call).
	Host *HostCollector
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Refresh is how often the page reloads itself; 0 means 5s.
	Refresh time.Duration
	// AllowedHosts are extra Host header names the server answers (besides
	// IP literals, localhost and the machine's host name), e.g. a tunnel's
	// name. Others get 403: a guard against DNS rebinding.
	AllowedHosts []string
	// Logger gets rollback actions and errors; nil means slog.Default().
	Logger *slog.Logger
}

// Server is the status page. It is an http.Handler, safe for concurrent use;
// it holds no goroutines of its own (Run adds an http.Server around it).
type Server struct {
	cfg     Config
	csrf    string // per-process token for the rollback form
	allowed map[string]bool
	hostMu  sync.Mutex
	mux     *http.ServeMux

	flashMu sync.Mutex
	flash   *flash
}

// flash is the result of the last rollback, shown on the page for a minute.
type flash struct {
	At      time.Time
	OK      bool
	Message string
}

// Report is what the page, /status.json and /metrics show: the Source's facts
// and what the server adds to them.
type Report struct {
	Facts
	GeneratedAt   time.Time `json:"generatedAt"`
	UptimeSeconds float64   `json:"uptimeSeconds"`
	// TokenState is "ok", "expiring" (within TokenWarning), "expired" or ""
	// without a token; TokenExpiresInSeconds is negative once expired.
	TokenState            string    `json:"tokenState,omitempty"`
	TokenExpiresInSeconds float64   `json:"tokenExpiresInSeconds,omitempty"`
	TelemetryOldestAgeSec float64   `json:"telemetryOldestAgeSeconds"`
	Traffic               []Traffic `json:"traffic"`
	TrafficWindowSeconds  float64   `json:"trafficWindowSeconds"`
	Host                  HostFacts `json:"host"`
}

// Traffic is one API with its traffic over the window.
type Traffic struct {
	API
	APIWindow
}

// New checks the config and returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Source == nil {
		return nil, ErrNoSource
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	var tok [16]byte
	if _, err := rand.Read(tok[:]); err != nil {
		return nil, fmt.Errorf("status: csrf token: %w", err)
	}
	s := &Server{cfg: cfg, csrf: hex.EncodeToString(tok[:]), allowed: map[string]bool{"localhost": true}}
	if h, err := os.Hostname(); err == nil && h != "" {
		s.allowed[strings.ToLower(h)] = true
	}
	for _, h := range cfg.AllowedHosts {
		s.allowed[strings.ToLower(h)] = true
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.page)
	mux.HandleFunc("GET /status.json", s.json)
	mux.HandleFunc("GET /metrics", s.metrics)
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("POST /rollback", s.rollback)
	s.mux = mux
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.hostAllowed(r.Host) {
		http.Error(w, fmt.Sprintf("%v: %q (add it to the allowed hosts or use an IP address)", ErrForbiddenHost, r.Host), http.StatusForbidden)
		return
	}
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	s.mux.ServeHTTP(w, r)
}

func (s *Server) hostAllowed(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if host == "" || net.ParseIP(host) != nil {
		return true
	}
	return s.allowed[host]
}

// Run serves s on ln until ctx is done, then shuts down gracefully (up to 5s).
// It returns nil after a shutdown caused by ctx.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("status: serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
	}
	<-errc
	return nil
}

// Report gathers the facts, host facts and traffic into one Report.
func (s *Server) Report(ctx context.Context) *Report {
	f := s.cfg.Source.Facts(ctx)
	now := s.cfg.Now()
	r := &Report{Facts: f, GeneratedAt: now}
	r.ControlPlane.LastErrorActive = errorActive(&r.Facts)
	if !f.StartedAt.IsZero() {
		r.UptimeSeconds = now.Sub(f.StartedAt).Seconds()
	}
	if f.Token != nil {
		left := f.Token.Expiry.Sub(now)
		r.TokenExpiresInSeconds = left.Seconds()
		switch {
		case left <= 0:
			r.TokenState = "expired"
		case left <= TokenWarning:
			r.TokenState = "expiring"
		default:
			r.TokenState = "ok"
		}
	}
	if f.Telemetry.Records > 0 && !f.Telemetry.Oldest.IsZero() {
		r.TelemetryOldestAgeSec = now.Sub(f.Telemetry.Oldest).Seconds()
	}
	if r.APIs == nil {
		r.APIs = []API{}
	}
	if r.Listeners == nil {
		r.Listeners = []Listener{}
	}
	if r.Snapshot.History == nil {
		r.Snapshot.History = []SnapshotEntry{}
	}
	r.Traffic = s.traffic(f.APIs)
	r.TrafficWindowSeconds = WindowLength.Seconds()
	r.Host = s.host(f.StorePath).Collect(ctx)
	return r
}

func (s *Server) host(storePath string) *HostCollector {
	s.hostMu.Lock()
	defer s.hostMu.Unlock()
	if s.cfg.Host == nil {
		s.cfg.Host = NewHostCollector(storePath, 0)
	}
	return s.cfg.Host
}

// traffic joins the APIs of the snapshot with the recorder's window; traffic
// for IDs that are not in the snapshot (404s, an API removed a minute ago) is
// listed after them.
func (s *Server) traffic(apis []API) []Traffic {
	var win map[string]APIWindow
	if s.cfg.Recorder != nil {
		win = s.cfg.Recorder.Window()
	}
	out := make([]Traffic, 0, len(apis)+len(win))
	seen := map[string]bool{}
	for _, a := range apis {
		w := win[a.ID]
		w.API = a.ID
		out = append(out, Traffic{API: a, APIWindow: w})
		seen[a.ID] = true
	}
	var extra []string
	for id := range win {
		if !seen[id] {
			extra = append(extra, id)
		}
	}
	sort.Strings(extra)
	for _, id := range extra {
		name := id
		if id == "" {
			name = "(no API matched)"
		}
		out = append(out, Traffic{API: API{ID: id, Name: name}, APIWindow: win[id]})
	}
	return out
}

func (s *Server) json(w http.ResponseWriter, r *http.Request) {
	rep := s.Report(r.Context())
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		s.cfg.Logger.Warn("status: write /status.json", "err", err)
	}
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	rep := s.Report(r.Context())
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	if err := writeMetrics(w, rep, s.cfg.Recorder); err != nil {
		s.cfg.Logger.Warn("status: write /metrics", "err", err)
	}
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	f := s.cfg.Source.Facts(r.Context())
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if f.Ready {
		fmt.Fprintln(w, "ready")
		return
	}
	reason := f.NotReadyReason
	if reason == "" {
		reason = "not ready"
	}
	w.WriteHeader(http.StatusServiceUnavailable)
	fmt.Fprintln(w, "not ready:", reason)
}

// rollback handles POST /rollback from the page's form (fields version and
// csrf) or from a script (header X-Apimgw-Action: rollback, JSON body
// {"version":"…"}; a custom header cannot be sent cross-site without a CORS
// preflight, which this server never grants).
func (s *Server) rollback(w http.ResponseWriter, r *http.Request) {
	scripted := r.Header.Get("X-Apimgw-Action") == "rollback"
	fail := func(code int, err error) {
		s.cfg.Logger.Warn("status: rollback refused", "err", err, "remote", r.RemoteAddr)
		if scripted {
			writeJSONError(w, code, err)
			return
		}
		if code == http.StatusForbidden {
			http.Error(w, err.Error(), code)
			return
		}
		s.setFlash(false, err.Error())
		http.Redirect(w, r, "/", http.StatusSeeOther)
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
		fail(http.StatusForbidden, ErrCrossSite)
		return
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		if !sameOrigin(o, r.Host) {
			fail(http.StatusForbidden, fmt.Errorf("%w: origin %s", ErrCrossSite, o))
			return
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	var version string
	if scripted {
		var body struct {
			Version string `json:"version"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			fail(http.StatusBadRequest, fmt.Errorf("status: rollback body: %w", err))
			return
		}
		version = body.Version
	} else {
		if err := r.ParseForm(); err != nil {
			fail(http.StatusBadRequest, fmt.Errorf("status: rollback form: %w", err))
			return
		}
		if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(s.csrf)) != 1 {
			fail(http.StatusForbidden, fmt.Errorf("%w: missing or stale form token (reload the page)", ErrCrossSite))
			return
		}
		version = r.PostForm.Get("version")
	}
	version = strings.TrimSpace(version)
	if version == "" {
		fail(http.StatusBadRequest, fmt.Errorf("%w: no version given", ErrUnknownSnapshot))
		return
	}
	err := s.cfg.Source.Rollback(r.Context(), version)
	switch {
	case err == nil:
		s.cfg.Logger.Info("status: rolled back", "version", version, "remote", r.RemoteAddr)
		if scripted {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]string{"rolledBackTo": version})
			return
		}
		s.setFlash(true, "Rolled back to snapshot "+version+".")
		http.Redirect(w, r, "/", http.StatusSeeOther)
	case errors.Is(err, ErrUnknownSnapshot):
		fail(http.StatusNotFound, err)
	case errors.Is(err, ErrRollbackRefused):
		fail(http.StatusConflict, err)
	default:
		fail(http.StatusInternalServerError, fmt.Errorf("rollback to %s failed: %w", version, err))
	}
}

func sameOrigin(origin, host string) bool {
	o := strings.TrimPrefix(strings.TrimPrefix(origin, "http://"), "https://")
	return strings.EqualFold(o, host)
}

func writeJSONError(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

func (s *Server) setFlash(ok bool, msg string) {
	s.flashMu.Lock()
	s.flash = &flash{At: s.cfg.Now(), OK: ok, Message: msg}
	s.flashMu.Unlock()
}

func (s *Server) currentFlash() *flash {
	s.flashMu.Lock()
	defer s.flashMu.Unlock()
	if s.flash == nil || s.cfg.Now().Sub(s.flash.At) > time.Minute {
		return nil
	}
	f := *s.flash
	return &f
}
