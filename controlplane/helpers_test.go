package controlplane

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

const testAdminToken = "test-admin-token-0123456789"

// fakeClock is an injected clock safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

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

// testServer is a real Store on a real bbolt file under t.TempDir(), served
// over real HTTP on 127.0.0.1:0.
type testServer struct {
	t      *testing.T
	dir    string
	clock  *fakeClock
	store  *Store
	srv    *http.Server
	url    string
	logs   *syncBuffer
	valid  PolicyValidator
	client *http.Client
	pgURL  string // the PostgreSQL database (make test-postgres), else ""
}

// openTestStore opens the Store of a testServer: the bbolt file in ts.dir;
// under -tags postgres (make test-postgres, pg_main_test.go) a PostgreSQL
// database of its own, the same one again on restart.
var openTestStore = func(ts *testServer, o Options) (*Store, error) {
	return Open(filepath.Join(ts.dir, DataFile), o)
}

type serverOpt func(*testServer)

func withValidator(v PolicyValidator) serverOpt { return func(ts *testServer) { ts.valid = v } }

func newTestServer(t *testing.T, opts ...serverOpt) *testServer {
	t.Helper()
	ts := &testServer{t: t, dir: t.TempDir(), clock: &fakeClock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)},
		logs: &syncBuffer{}, client: &http.Client{Timeout: 30 * time.Second}}
	for _, o := range opts {
		o(ts)
	}
	ts.start()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", ts.logs.String())
		}
		ts.stop()
		if ts.pgURL == "" {
			checkBolt(t, filepath.Join(ts.dir, DataFile))
		}
	})
	return ts
}

func (ts *testServer) start() {
	t := ts.t
	log := slog.New(slog.NewTextHandler(ts.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err := openTestStore(ts, Options{Now: ts.clock.Now, Validator: ts.valid, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.store = st
	ts.srv = &http.Server{Handler: NewHandler(st, HandlerOptions{AdminToken: testAdminToken, Logger: log, MaxWait: 20 * time.Second})}
	ts.url = "http://" + ln.Addr().String()
	go ts.srv.Serve(ln)
}

func (ts *testServer) stop() {
	if ts.store == nil {
		return
	}
	ts.store.Close()
	ts.srv.Close()
	ts.store = nil
}

// restart closes and reopens the same data file on a new port.
func (ts *testServer) restart() {
	ts.stop()
	ts.start()
}

// checkBolt runs bbolt's consistency check on the file.
func checkBolt(t *testing.T, path string) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Errorf("reopen %s: %v", path, err)
		return
	}
	defer db.Close()
	if err := db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	}); err != nil {
		t.Errorf("bbolt check: %v", err)
	}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not JSON (%v): %s", err, r.body)
	}
	return m
}

// do sends an admin request; body may be a string, []byte or any JSON value.
func (ts *testServer) do(method, path string, body any, hdr ...string) resp {
	ts.t.Helper()
	return ts.doAuth(method, path, body, "Bearer "+testAdminToken, hdr...)
}

func (ts *testServer) doAuth(method, path string, body any, auth string, hdr ...string) resp {
	ts.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, ts.url+path, rd)
	if err != nil {
		ts.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := ts.client.Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// must sends an admin request and fails the test unless the status is want.
func (ts *testServer) must(want int, method, path string, body any) resp {
	ts.t.Helper()
	r := ts.do(method, path, body)
	if r.status != want {
		ts.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.body)
	}
	return r
}

func props(p map[string]any) map[string]any { return map[string]any{"properties": p} }

// seed creates API echo (GET /items/{id}), product p1 with it, subscription
// s1 on p1, and gateway gw1 serving echo.
func (ts *testServer) seed() {
	ts.must(201, "PUT", "/apis/echo", props(map[string]any{"displayName": "Echo", "path": "echo", "serviceUrl": "http://127.0.0.1:9", "protocols": []string{"http", "https"}}))
	ts.must(201, "PUT", "/apis/echo/operations/get", props(map[string]any{"method": "GET", "urlTemplate": "/items/{id}", "templateParameters": []map[string]any{{"name": "id", "required": true}}}))
	ts.must(201, "PUT", "/products/p1", props(map[string]any{"displayName": "P1", "state": "published"}))
	ts.must(201, "PUT", "/products/p1/apis/echo", nil)
	ts.must(201, "PUT", "/subscriptions/s1", props(map[string]any{"scope": "/products/p1", "state": "active", "primaryKey": "key-one-primary", "secondaryKey": "key-one-secondary"}))
	ts.must(201, "PUT", "/gateways/gw1", props(map[string]any{"locationData": map[string]any{"name": "edge"}}))
	ts.must(201, "PUT", "/gateways/gw1/apis/echo", nil)
}

// token returns a token for gw valid for d.
func (ts *testServer) token(gw string, d time.Duration) string {
	ts.t.Helper()
	r := ts.must(200, "POST", "/gateways/"+gw+"/generateToken", map[string]any{"keyType": "primary", "expiry": ts.clock.Now().Add(d).Format(time.RFC3339)})
	return r.json(ts.t)["value"].(string)
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
