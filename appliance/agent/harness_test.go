package agent_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apimgw/apimgw/appliance"
	"github.com/apimgw/apimgw/appliance/agent"
	"github.com/apimgw/apimgw/appliance/envconf"
	"github.com/apimgw/apimgw/appliance/telemetry"
	"github.com/apimgw/apimgw/controlplane"
	"github.com/apimgw/apimgw/policy"
	"github.com/apimgw/apimgw/store"
	"github.com/apimgw/apimgw/wire"
)

const adminToken = "agent-test-admin-token-0123456789"

// syncBuffer collects log output from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// seen is one gateway request as the control plane received it.
type seen struct {
	Path, Auth, IfNoneMatch string
	Status                  int
}

// controlPlane is the real control plane (package controlplane: its bbolt
// store under t.TempDir() and its HTTP handler) on a real 127.0.0.1 socket,
// behind a thin recorder that logs the gateway requests and can make the
// path between gateway and control plane fail after the control plane has
// done its work (as a proxy losing the answer would).
type controlPlane struct {
	t    testing.TB
	tls  *tls.Config // serve HTTPS with this
	dir  string
	addr string // host:port, kept across restarts
	URL  string

	mu    sync.Mutex
	store *controlplane.Store
	srv   *http.Server
	log   []seen
	// loseAnswers > 0: that many telemetry answers are replaced by 502
	// after the control plane stored the batch.
	loseAnswers atomic.Int32
	// hold, when set: telemetry answers wait until it is closed, after the
	// control plane stored the batch (an answer slow on the way back);
	// held counts the answers waiting.
	hold atomic.Pointer[chan struct{}]
	held atomic.Int32
}

func startControlPlane(t testing.TB) *controlPlane {
	t.Helper()
	c := &controlPlane{t: t, dir: t.TempDir(), addr: "127.0.0.1:0"}
	c.start()
	t.Cleanup(c.stop)
	return c
}

// start opens the store and listens (on the same port after a stop).
func (c *controlPlane) start() {
	c.t.Helper()
	st, err := controlplane.Open(filepath.Join(c.dir, controlplane.DataFile), controlplane.Options{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		c.t.Fatalf("controlplane.Open: %v", err)
	}
	var ln net.Listener
	for i := 0; ; i++ {
		ln, err = net.Listen("tcp", c.addr)
		if err == nil {
			break
		}
		if i > 50 {
			c.t.Fatalf("listen %s: %v", c.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.addr = ln.Addr().String()
	c.URL = "http://" + c.addr
	if c.tls != nil {
		ln = tls.NewListener(ln, c.tls)
		c.URL = "https://" + c.addr
	}
	h := controlplane.NewHandler(st, controlplane.HandlerOptions{AdminToken: adminToken,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	srv := &http.Server{Handler: c.wrap(h), ReadHeaderTimeout: 10 * time.Second}
	c.mu.Lock()
	c.store, c.srv = st, srv
	c.mu.Unlock()
	go srv.Serve(ln)
}

// stop closes the listener, every connection (pending long-polls too) and
// the store: the control plane is gone.
func (c *controlPlane) stop() {
	c.mu.Lock()
	st, srv := c.store, c.srv
	c.store, c.srv = nil, nil
	c.mu.Unlock()
	if srv == nil {
		return
	}
	st.Close()
	srv.Close()
}

func (c *controlPlane) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/gateway/") {
			h.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		if r.URL.Path == wire.PathConfig {
			// long-polls must stream: no recorder
			sw := &statusSniffer{ResponseWriter: w}
			h.ServeHTTP(sw, r)
			c.note(r, sw.status)
			return
		}
		h.ServeHTTP(rec, r)
		status := rec.Code
		if ch := c.hold.Load(); ch != nil && r.URL.Path == wire.PathTelemetry {
			c.held.Add(1)
			<-*ch
			c.held.Add(-1)
		}
		if r.URL.Path == wire.PathTelemetry && status == 200 && c.loseAnswers.Add(-1) >= 0 {
			status = http.StatusBadGateway
			rec = httptest.NewRecorder()
			rec.WriteHeader(status)
			rec.WriteString(`{"error":{"code":"BadGateway","message":"test: answer lost after the control plane stored the batch"}}`)
		}
		c.note(r, status)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		w.Write(rec.Body.Bytes())
	})
}

type statusSniffer struct {
	http.ResponseWriter
	status int
}

func (s *statusSniffer) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusSniffer) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = 200
	}
	return s.ResponseWriter.Write(b)
}

func (c *controlPlane) note(r *http.Request, status int) {
	c.mu.Lock()
	c.log = append(c.log, seen{Path: r.URL.Path, Auth: r.Header.Get("Authorization"), IfNoneMatch: r.Header.Get("If-None-Match"), Status: status})
	c.mu.Unlock()
}

func (c *controlPlane) requests(path string) []seen {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []seen
	for _, s := range c.log {
		if s.Path == path {
			out = append(out, s)
		}
	}
	return out
}

// admin calls the management API and fails the test on an unexpected status.
func (c *controlPlane) admin(method, path string, body any, want int) []byte {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	client := http.DefaultClient
	if c.tls != nil {
		client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	}
	resp, err := client.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if want != 0 && resp.StatusCode != want {
		c.t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, out, want)
	}
	return out
}

type props map[string]any

// setupGateway creates gateway gw with API "echo" (GET /test) assigned and
// returns a fresh token for it.
func (c *controlPlane) setupGateway(gw string) string {
	c.t.Helper()
	c.admin("PUT", "/gateways/"+gw, props{"properties": props{"locationData": props{"name": "edge"}, "description": "test"}}, 0)
	c.admin("PUT", "/apis/echo", props{"properties": props{"displayName": "Echo", "path": "echo", "serviceUrl": "http://127.0.0.1:9",
		"protocols": []string{"http"}, "subscriptionRequired": false}}, 0)
	c.admin("PUT", "/apis/echo/operations/get", props{"properties": props{"displayName": "get", "method": "GET", "urlTemplate": "/test"}}, 0)
	c.admin("PUT", "/gateways/"+gw+"/apis/echo", props{}, 0)
	return c.token(gw, "primary", time.Now().Add(24*time.Hour))
}

func (c *controlPlane) token(gw, keyType string, expiry time.Time) string {
	c.t.Helper()
	out := c.admin("POST", "/gateways/"+gw+"/generateToken", props{"keyType": keyType, "expiry": expiry.UTC().Format(time.RFC3339)}, 200)
	var v struct{ Value string }
	if err := json.Unmarshal(out, &v); err != nil || v.Value == "" {
		c.t.Fatalf("generateToken: %s", out)
	}
	return v.Value
}

// setPolicy puts an API-scope policy (a config change for the gateway).
func (c *controlPlane) setPolicy(api, xml string, want int) { // want: 200, 201 or 0 (created or updated)
	c.t.Helper()
	out := c.admin("PUT", "/apis/"+api+"/policies/policy", props{"properties": props{"format": "rawxml", "value": xml}}, 0)
	_ = out
	_ = want
}

// calls returns the control plane's report count of requests for gw.
func (c *controlPlane) calls(gw string) int64 {
	c.t.Helper()
	out := c.admin("GET", "/reports/byGateway", nil, 200)
	var v struct {
		Value []struct {
			Name           string `json:"name"`
			CallCountTotal int64  `json:"callCountTotal"`
		} `json:"value"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		c.t.Fatalf("report: %v: %s", err, out)
	}
	for _, r := range v.Value {
		if r.Name == gw {
			return r.CallCountTotal
		}
	}
	return 0
}

func (c *controlPlane) gatewayStatus(gw string) controlplane.GatewayStatus {
	c.t.Helper()
	out := c.admin("GET", "/gateways/"+gw, nil, 200)
	var v struct {
		Properties struct {
			Status controlplane.GatewayStatus `json:"status"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		c.t.Fatalf("gateway: %v: %s", err, out)
	}
	return v.Properties.Status
}

// gateway is the gateway side as the composition root wires it: a real store,
// the real compiler as the dry run, an atomic swap, the telemetry pipeline and
// the agent.
type gateway struct {
	t        *testing.T
	path     string
	Store    *store.Store
	Pipeline *telemetry.Pipeline
	Agent    *agent.Agent
	Logs     *syncBuffer

	state   *policy.State
	cur     atomic.Pointer[appliance.Compiled]
	token   atomic.Pointer[envconf.Token]
	applied atomic.Int32
	cancel  context.CancelFunc
	done    chan struct{}
}

type gwOpt func(*agent.Config)

func newGateway(t *testing.T, endpoint, token, path string, opts ...gwOpt) *gateway {
	t.Helper()
	return newGatewayStore(t, endpoint, token, path, store.Options{}, opts...)
}

// newGatewayStore is newGateway with the store opened with sopts (its
// Logger is set here).
func newGatewayStore(t *testing.T, endpoint, token, path string, sopts store.Options, opts ...gwOpt) *gateway {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "apimgw.db")
	}
	g := &gateway{t: t, path: path, Logs: &syncBuffer{}, state: policy.NewState(time.Now)}
	if token != "" {
		g.setToken(token)
	}
	sopts.Logger = slog.New(slog.NewTextHandler(g.Logs, nil))
	st, err := store.Open(path, sopts)
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	g.Store = st
	// Start from the newest stored snapshot, as the appliance does.
	if snap, err := st.CurrentSnapshot(); err == nil {
		if err := g.apply(context.Background(), snap.Data, false); err != nil {
			t.Fatalf("stored snapshot: %v", err)
		}
	}
	g.Pipeline = telemetry.New(st, telemetry.Options{Loops: 2})
	cfg := agent.Config{
		Endpoint: endpoint, Token: g.token.Load, Store: st, Pipeline: g.Pipeline,
		Apply:   func(ctx context.Context, raw []byte) error { return g.apply(ctx, raw, true) },
		Current: g.current, Version: "test", LongPollWait: 5 * time.Second,
		BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond, UploadInterval: 20 * time.Millisecond,
		HeartbeatInterval: time.Hour, RequestTimeout: 10 * time.Second,
		Logger: slog.New(slog.NewTextHandler(g.Logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, o := range opts {
		o(&cfg)
	}
	a, err := agent.New(cfg)
	if err != nil {
		t.Fatalf("agent.New: %v", err)
	}
	g.Agent = a
	t.Cleanup(g.stop)
	return g
}

func (g *gateway) run() {
	ctx, cancel := context.WithCancel(context.Background())
	g.cancel, g.done = cancel, make(chan struct{})
	go func() {
		defer close(g.done)
		g.Agent.Run(ctx)
	}()
}

// stop ends the agent, flushes the pipeline and closes the store, as a clean
// shutdown does.
func (g *gateway) stop() {
	if g.cancel != nil {
		g.cancel()
		<-g.done
		g.cancel = nil
	}
	if g.Store != nil {
		g.Pipeline.Close(context.Background())
		g.Store.Close()
		g.Store = nil
	}
}

func (g *gateway) setToken(s string) {
	tok, err := envconf.ParseToken(s)
	if err != nil {
		g.t.Fatalf("ParseToken: %v", err)
	}
	g.token.Store(&tok)
}

// apply is the composition root's Apply: decode and check, compile (dry
// run), store, swap.
func (g *gateway) apply(_ context.Context, raw []byte, persist bool) error {
	snap, err := wire.Decode(raw)
	if err != nil {
		return err
	}
	c, err := appliance.Compile(snap, g.state)
	if err != nil {
		return err
	}
	if persist {
		if _, err := g.Store.PutSnapshot(strconv.FormatUint(snap.Version, 10), raw); err != nil {
			return err
		}
	}
	g.cur.Store(c)
	g.applied.Add(1)
	return nil
}

func (g *gateway) current() (uint64, string) {
	if c := g.cur.Load(); c != nil {
		return c.Snapshot.Version, c.Snapshot.Checksum
	}
	return 0, ""
}

// record offers n finished requests to the telemetry pipeline, as the
// handler does on its loops.
func (g *gateway) record(n int) {
	now := time.Now()
	for i := range n {
		r := appliance.Record{Loop: i % 2, Time: now.Add(time.Duration(i) * time.Microsecond), API: "echo", Operation: "get",
			PathTemplate: "/test", Method: "GET", Status: 200, BackendStatus: 200, Total: time.Millisecond,
			Backend: 500 * time.Microsecond, BytesIn: 100, BytesOut: 200, ClientIP: "127.0.0.1"}
		if i%10 == 9 {
			r.Status = 0 // the client left before the answer: reported as 499
		}
		g.Pipeline.OnDone(&r)
	}
	if err := g.Pipeline.Flush(context.Background()); err != nil {
		g.t.Fatalf("pipeline flush: %v", err)
	}
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool, show ...func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			extra := ""
			for _, s := range show {
				extra += "\n" + s()
			}
			t.Fatalf("timed out after %s waiting for %s%s", timeout, what, extra)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

var _ = errors.Is
var _ = fmt.Sprintf

// withSmallBatches makes the uploader send many batches, two in flight.
func withSmallBatches(c *agent.Config) { c.BatchRecords, c.UploadsInFlight = 97, 2 }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
