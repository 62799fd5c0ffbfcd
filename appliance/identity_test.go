package appliance

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apimgw/apimgw/netstack"
	"github.com/apimgw/apimgw/policy"
	"github.com/apimgw/apimgw/wire"
)

// The token endpoints are Azure's (outside this repository): httptest
// servers on loopback stand in for IMDS, Azure Arc's HIMDS and App Service,
// answering as those document.

func tokenJSON(tok string, expiresOn any) string {
	switch v := expiresOn.(type) {
	case int64:
		return `{"access_token":"` + tok + `","expires_on":` + strconv.FormatInt(v, 10) + `,"token_type":"Bearer"}`
	}
	return `{"access_token":"` + tok + `","expires_on":"` + expiresOn.(string) + `","token_type":"Bearer"}`
}

// TestTokenSourceProtocols: each protocol sends what its endpoint expects
// and reads its answer; Arc's challenge file is read only from the agent's
// token directory.
func TestTokenSourceProtocols(t *testing.T) {
	exp := time.Now().Add(time.Hour).Unix()
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "challenge.key")
	if err := os.WriteFile(keyFile, []byte("arc-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "other.key")
	os.WriteFile(outside, []byte("nope"), 0o600)
	var realm atomic.Value
	realm.Store(keyFile)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch r.URL.Path {
		case "/imds":
			if r.Header.Get("Metadata") != "true" || q.Get("api-version") != "2018-02-01" || q.Get("resource") != "https://vault.azure.net" {
				http.Error(w, "bad imds request "+r.URL.RawQuery, 400)
				return
			}
			io.WriteString(w, tokenJSON("imds-"+q.Get("client_id"), strconv.FormatInt(exp, 10)))
		case "/app":
			if r.Header.Get("X-IDENTITY-HEADER") != "app-secret" || q.Get("api-version") != "2019-08-01" {
				http.Error(w, "bad app-service request", 400)
				return
			}
			io.WriteString(w, tokenJSON("app", exp))
		case "/arc":
			if q.Get("api-version") != "2020-06-01" || r.Header.Get("Metadata") != "true" {
				http.Error(w, "bad arc request", 400)
				return
			}
			if r.Header.Get("Authorization") != "Basic arc-secret" {
				w.Header().Set("WWW-Authenticate", "Basic realm="+realm.Load().(string))
				w.WriteHeader(401)
				return
			}
			io.WriteString(w, `{"access_token":"arc","expires_in":"3599"}`)
		case "/broken":
			io.WriteString(w, `{"error":"invalid_resource"}`)
		default:
			http.Error(w, `{"error":"identity not found"}`, 400)
		}
	}))
	t.Cleanup(srv.Close)
	t.Setenv("IDENTITY_HEADER", "app-secret")
	req := policy.TokenRequest{Resource: "https://vault.azure.net"}
	for _, c := range []struct {
		name     string
		cfg      IdentityConfig
		req      policy.TokenRequest
		want     string
		errHas   string
		setRealm string
	}{
		{name: "imds", cfg: IdentityConfig{Endpoint: srv.URL + "/imds"}, req: req, want: "imds-"},
		{name: "imds user-assigned", cfg: IdentityConfig{Endpoint: srv.URL + "/imds"}, req: policy.TokenRequest{Resource: req.Resource, ClientID: "c-9"}, want: "imds-c-9"},
		{name: "app-service", cfg: IdentityConfig{Protocol: IdentityAppService, Endpoint: srv.URL + "/app"}, req: req, want: "app"},
		{name: "arc challenge", cfg: IdentityConfig{Protocol: IdentityArc, Endpoint: srv.URL + "/arc", ArcTokenDir: dir}, req: req, want: "arc"},
		{name: "arc realm outside the token directory", cfg: IdentityConfig{Protocol: IdentityArc, Endpoint: srv.URL + "/arc", ArcTokenDir: dir}, req: req,
			setRealm: outside, errHas: "is not a .key file in"},
		{name: "arc user-assigned", cfg: IdentityConfig{Protocol: IdentityArc, Endpoint: srv.URL + "/arc", ArcTokenDir: dir}, req: policy.TokenRequest{Resource: "r", ClientID: "c"},
			errHas: "only the system-assigned identity"},
		{name: "endpoint error", cfg: IdentityConfig{Endpoint: srv.URL + "/nothing"}, req: req, errHas: "answered 400"},
		{name: "no token in the answer", cfg: IdentityConfig{Endpoint: srv.URL + "/broken"}, req: req, errHas: "no access_token"},
		{name: "unreachable", cfg: IdentityConfig{Endpoint: "http://127.0.0.1:1/x"}, req: req, errHas: "connect"},
	} {
		realm.Store(keyFile)
		if c.setRealm != "" {
			realm.Store(c.setRealm)
		}
		src, err := NewTokenSource(c.cfg)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		tok, err := src.Token(context.Background(), c.req)
		switch {
		case c.errHas != "":
			if err == nil || !strings.Contains(err.Error(), c.errHas) {
				t.Errorf("%s: %v, want an error with %q", c.name, err, c.errHas)
			}
		case err != nil:
			t.Errorf("%s: %v", c.name, err)
		case tok.AccessToken != c.want || time.Until(tok.ExpiresOn) < 50*time.Minute:
			t.Errorf("%s: %+v, want %s expiring in about an hour", c.name, tok, c.want)
		}
	}
	if _, err := NewTokenSource(IdentityConfig{Protocol: "msi"}); err == nil {
		t.Error("an unknown protocol was accepted")
	}
}

// TestManagedIdentityThroughTheGateway: on the real engine, the token is
// fetched off the loop from a stand-in IMDS once and reused; when the
// endpoint fails, on-error sees context.LastError with the policy's Source
// and the gateway answers what on-error says; ignore-error goes on without
// a token.
func TestManagedIdentityThroughTheGateway(t *testing.T) {
	var issued, failing atomic.Int32
	imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() != 0 || r.URL.Query().Get("resource") == "https://down.test" {
			http.Error(w, `{"error":"invalid_request"}`, 500)
			return
		}
		n := issued.Add(1)
		io.WriteString(w, tokenJSON("tok"+strconv.Itoa(int(n)), strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)))
	}))
	t.Cleanup(imds.Close)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "auth="+r.Header.Get("Authorization"))
	}))
	t.Cleanup(backend.Close)
	snap := &wire.Snapshot{ProtocolVersion: wire.ProtocolVersion, Version: 1,
		APIs: []wire.API{{ID: "m", Path: "m", ServiceURL: backend.URL, Protocols: []string{"http"},
			Operations: []wire.Operation{
				{ID: "ok", Method: "GET", URLTemplate: "/ok", Policy: `<policies><inbound><authentication-managed-identity resource="https://storage.azure.com/"/></inbound></policies>`},
				{ID: "down", Method: "GET", URLTemplate: "/down", Policy: `<policies><inbound><authentication-managed-identity resource="https://down.test" id="mi"/></inbound>
<on-error><return-response><set-status code="503" reason="No token"/><set-body>@(context.LastError.Source + "|" + context.LastError.PolicyId + "|" + context.LastError.Message)</set-body></return-response></on-error></policies>`},
				{ID: "lenient", Method: "GET", URLTemplate: "/lenient", Policy: `<policies><inbound><authentication-managed-identity resource="https://down.test" ignore-error="true"/></inbound></policies>`},
			}}}}
	base := serveWithTokens(t, snap, IdentityConfig{Endpoint: imds.URL + "/metadata/identity/oauth2/token"})
	for i := 0; i < 5; i++ {
		if st, body := httpGet(t, base+"/ok"); st != 200 || body != "auth=Bearer tok1" {
			t.Fatalf("request %d: %d %q", i, st, body)
		}
	}
	if n := issued.Load(); n != 1 {
		t.Fatalf("%d tokens fetched for 5 requests, want 1 (cached)", n)
	}
	st, body := httpGet(t, base+"/down")
	if st != 503 || !strings.HasPrefix(body, "authentication-managed-identity|mi|Unable to obtain a managed identity access token for resource 'https://down.test'") {
		t.Fatalf("down: %d %q", st, body)
	}
	if st, body := httpGet(t, base+"/lenient"); st != 200 || body != "auth=" {
		t.Fatalf("ignore-error: %d %q", st, body)
	}
	// The endpoint goes away: the cached token keeps serving.
	failing.Store(1)
	if st, body := httpGet(t, base+"/ok"); st != 200 || body != "auth=Bearer tok1" {
		t.Fatalf("offline: %d %q", st, body)
	}
}

// serveWithTokens serves snap on a one-loop engine with the given token source.
func serveWithTokens(t *testing.T, snap *wire.Snapshot, id IdentityConfig) string {
	t.Helper()
	if err := snap.Seal(); err != nil {
		t.Fatal(err)
	}
	c, err := Compile(snap, policy.NewState(nil))
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := NewTokenSource(id)
	if err != nil {
		t.Fatal(err)
	}
	h := &Handler{Tokens: tokens}
	h.Swap(c)
	s := netstack.New(netstack.Config{Addr: "127.0.0.1:0", Loops: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, h)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return "http://" + s.Addr().String() + "/" + snap.APIs[0].Path
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestTokenSourceSharesFetches: requests for the same token while one is
// being fetched wait for it instead of asking the endpoint again.
func TestTokenSourceSharesFetches(t *testing.T) {
	var hits atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		<-release
		io.WriteString(w, tokenJSON("shared", time.Now().Add(time.Hour).Unix()))
	}))
	t.Cleanup(srv.Close)
	src, err := NewTokenSource(IdentityConfig{Endpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	got := make(chan string, n)
	for i := 0; i < n; i++ {
		go func() {
			tok, err := src.Token(context.Background(), policy.TokenRequest{Resource: "r"})
			if err != nil {
				got <- err.Error()
				return
			}
			got <- tok.AccessToken
		}()
	}
	for hits.Load() == 0 || src.joined.Load() < n-1 {
		time.Sleep(time.Millisecond) // until one fetches and the others wait for it
	}
	close(release)
	for i := 0; i < n; i++ {
		if s := <-got; s != "shared" {
			t.Fatalf("request %d: %q", i, s)
		}
	}
	if h := hits.Load(); h != 1 {
		t.Fatalf("%d fetches for %d concurrent requests, want 1", h, n)
	}
}
