package appliance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apimgw/apimgw/policy"
)

// Managed-identity tokens for authentication-managed-identity. The policy
// package caches tokens and asks for one with a Call outcome
// (HTTPCall.Token); a call worker then fetches it here, off the event loop,
// from the host's token endpoint (env.conf policy.managed-identity.*):
//
//   - imds: Azure's Instance Metadata Service, GET
//     endpoint?api-version=2018-02-01&resource=…[&client_id=…] with
//     "Metadata: true" (Azure VMs, Azure Stack Hub VMs, AKS pod identity);
//   - arc: the Azure Arc agent (HIMDS, default http://127.0.0.1:40342/…):
//     the first GET (api-version=2020-06-01) is answered 401 with
//     "WWW-Authenticate: Basic realm=<file>", a file the agent wrote under
//     its token directory; the second GET sends "Authorization: Basic
//     <file contents>". System-assigned identity only;
//   - app-service: App Service / Container Apps / Functions,
//     GET IDENTITY_ENDPOINT?api-version=2019-08-01&resource=…[&client_id=…]
//     with "X-IDENTITY-HEADER: <IDENTITY_HEADER>".
//
// The answer is the token JSON those endpoints share: access_token and
// expires_on (Unix seconds, as a number or a string; else expires_in).
// Concurrent requests for the same token share one fetch.

// Token endpoint protocols (env.conf policy.managed-identity.protocol).
const (
	IdentityIMDS       = "imds"
	IdentityArc        = "arc"
	IdentityAppService = "app-service"
)

// Default endpoints.
const (
	DefaultIMDSEndpoint = "http://169.254.169.254/metadata/identity/oauth2/token"
	DefaultArcEndpoint  = "http://127.0.0.1:40342/metadata/identity/oauth2/token"
)

// ErrIdentity wraps every failure to get a managed-identity token.
var ErrIdentity = errors.New("appliance: managed identity token")

// IdentityConfig says where tokens come from.
type IdentityConfig struct {
	Protocol string // imds (default), arc or app-service
	Endpoint string // "" means the protocol's default (app-service: $IDENTITY_ENDPOINT)
	// Header is App Service's X-IDENTITY-HEADER secret ("": $IDENTITY_HEADER).
	Header string
	// ArcTokenDir is where the Arc agent writes its challenge files; the
	// realm must name a .key file directly inside it ("" means
	// /var/opt/azcmagent/tokens, the agent's directory on Linux).
	ArcTokenDir string
	// Client makes the requests (nil: a client without proxy or redirects).
	Client *http.Client
}

// TokenSource fetches managed-identity tokens. Safe for concurrent use.
type TokenSource struct {
	cfg      IdentityConfig
	mu       sync.Mutex
	inflight map[policy.TokenRequest]*tokenFetch
	joined   atomic.Int64 // requests that waited for another's fetch
}

type tokenFetch struct {
	done chan struct{}
	tok  policy.Token
	err  error
}

// NewTokenSource checks cfg and returns a source.
func NewTokenSource(cfg IdentityConfig) (*TokenSource, error) {
	switch cfg.Protocol {
	case "":
		cfg.Protocol = IdentityIMDS
	case IdentityIMDS, IdentityArc, IdentityAppService:
	default:
		return nil, fmt.Errorf("%w: protocol %q is not imds, arc or app-service", ErrIdentity, cfg.Protocol)
	}
	if cfg.Endpoint == "" {
		switch cfg.Protocol {
		case IdentityIMDS:
			cfg.Endpoint = DefaultIMDSEndpoint
		case IdentityArc:
			cfg.Endpoint = DefaultArcEndpoint
		case IdentityAppService:
			cfg.Endpoint = os.Getenv("IDENTITY_ENDPOINT")
		}
	}
	if cfg.Protocol == IdentityAppService && cfg.Header == "" {
		cfg.Header = os.Getenv("IDENTITY_HEADER")
	}
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: endpoint %q is not an http(s) URL", ErrIdentity, cfg.Endpoint)
	}
	if cfg.ArcTokenDir == "" {
		cfg.ArcTokenDir = "/var/opt/azcmagent/tokens"
	}
	if cfg.Client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = nil // IMDS and HIMDS are local; a proxy must never see the request
		cfg.Client = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return &TokenSource{cfg: cfg, inflight: map[policy.TokenRequest]*tokenFetch{}}, nil
}

// Token fetches a token for req (blocking: call it off the event loop).
// Requests for the same token made while one is in flight share it.
func (s *TokenSource) Token(ctx context.Context, req policy.TokenRequest) (policy.Token, error) {
	s.mu.Lock()
	if f := s.inflight[req]; f != nil {
		s.mu.Unlock()
		s.joined.Add(1)
		select {
		case <-f.done:
			return f.tok, f.err
		case <-ctx.Done():
			return policy.Token{}, fmt.Errorf("%w: %v", ErrIdentity, ctx.Err())
		}
	}
	f := &tokenFetch{done: make(chan struct{})}
	s.inflight[req] = f
	s.mu.Unlock()
	f.tok, f.err = s.fetch(ctx, req)
	s.mu.Lock()
	delete(s.inflight, req)
	s.mu.Unlock()
	close(f.done)
	return f.tok, f.err
}

func (s *TokenSource) fetch(ctx context.Context, req policy.TokenRequest) (policy.Token, error) {
	q := url.Values{"resource": {req.Resource}}
	hdr := http.Header{}
	switch s.cfg.Protocol {
	case IdentityIMDS:
		q.Set("api-version", "2018-02-01")
		hdr.Set("Metadata", "true")
	case IdentityAppService:
		q.Set("api-version", "2019-08-01")
		hdr.Set("X-IDENTITY-HEADER", s.cfg.Header)
	case IdentityArc:
		if req.ClientID != "" {
			return policy.Token{}, fmt.Errorf("%w: Azure Arc supports only the system-assigned identity (client-id %q given)", ErrIdentity, req.ClientID)
		}
		q.Set("api-version", "2020-06-01")
		hdr.Set("Metadata", "true")
	}
	if req.ClientID != "" {
		q.Set("client_id", req.ClientID)
	}
	target := s.cfg.Endpoint + "?" + q.Encode()
	if strings.Contains(s.cfg.Endpoint, "?") {
		target = s.cfg.Endpoint + "&" + q.Encode()
	}
	status, body, www, err := s.get(ctx, target, hdr)
	if err != nil {
		return policy.Token{}, err
	}
	if s.cfg.Protocol == IdentityArc && status == http.StatusUnauthorized {
		secret, err := s.arcSecret(www)
		if err != nil {
			return policy.Token{}, err
		}
		hdr.Set("Authorization", "Basic "+secret)
		if status, body, _, err = s.get(ctx, target, hdr); err != nil {
			return policy.Token{}, err
		}
	}
	if status != http.StatusOK {
		return policy.Token{}, fmt.Errorf("%w: the %s endpoint answered %d: %s", ErrIdentity, s.cfg.Protocol, status, clipBody(body))
	}
	return parseToken(body, time.Now())
}

func (s *TokenSource) get(ctx context.Context, target string, hdr http.Header) (int, []byte, string, error) {
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return 0, nil, "", fmt.Errorf("%w: %v", ErrIdentity, err)
	}
	r.Header = hdr.Clone()
	resp, err := s.cfg.Client.Do(r)
	if err != nil {
		return 0, nil, "", fmt.Errorf("%w: %v", ErrIdentity, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return 0, nil, "", fmt.Errorf("%w: %v", ErrIdentity, err)
	}
	return resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"), nil
}

// arcSecret reads the challenge file the Arc agent named, checking that it
// is a small .key file directly inside the agent's token directory (the
// realm comes from the network: never read another file).
func (s *TokenSource) arcSecret(www string) (string, error) {
	_, realm, ok := strings.Cut(www, "realm=")
	if !ok {
		return "", fmt.Errorf("%w: the arc endpoint's 401 has no Basic realm (WWW-Authenticate %q)", ErrIdentity, www)
	}
	realm = strings.Trim(strings.TrimSpace(realm), `"`)
	dir, err := filepath.Abs(s.cfg.ArcTokenDir)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrIdentity, err)
	}
	if filepath.Dir(filepath.Clean(realm)) != dir || filepath.Ext(realm) != ".key" {
		return "", fmt.Errorf("%w: the arc challenge file %q is not a .key file in %s", ErrIdentity, realm, dir)
	}
	fi, err := os.Stat(realm)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrIdentity, err)
	}
	if !fi.Mode().IsRegular() || fi.Size() > 4096 {
		return "", fmt.Errorf("%w: the arc challenge file %q is not a small regular file", ErrIdentity, realm)
	}
	b, err := os.ReadFile(realm)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrIdentity, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// parseToken reads the token JSON of IMDS, HIMDS and App Service.
func parseToken(body []byte, now time.Time) (policy.Token, error) {
	var t struct {
		AccessToken string          `json:"access_token"`
		ExpiresOn   json.RawMessage `json:"expires_on"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &t); err != nil {
		return policy.Token{}, fmt.Errorf("%w: the answer is not token JSON: %v", ErrIdentity, err)
	}
	if t.AccessToken == "" {
		return policy.Token{}, fmt.Errorf("%w: the answer has no access_token", ErrIdentity)
	}
	if n, ok := jsonInt(t.ExpiresOn); ok {
		return policy.Token{AccessToken: t.AccessToken, ExpiresOn: time.Unix(n, 0)}, nil
	}
	if n, ok := jsonInt(t.ExpiresIn); ok {
		return policy.Token{AccessToken: t.AccessToken, ExpiresOn: now.Add(time.Duration(n) * time.Second)}, nil
	}
	return policy.Token{}, fmt.Errorf("%w: the answer has no expires_on or expires_in in seconds", ErrIdentity)
}

// jsonInt reads 123 or "123".
func jsonInt(raw json.RawMessage) (int64, bool) {
	s := strings.Trim(strings.TrimSpace(string(raw)), `"`)
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n > 0
}

func clipBody(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
