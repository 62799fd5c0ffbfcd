package policy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// Corpus documents run end to end (policy.Simulate, as apimctl policy run
// does) against local services standing in for the ones they call: every
// backend request and every call goes over real HTTP to one loopback server,
// which answers as the named service would (the original URL travels in
// X-Original-URL). Each case checks the outcome APIM would produce.
//
// Documents that still need expression features fail to compile with
// expression errors only; they are counted, and the count is pinned
// (wantCorpusPending): when the expression language gains what they need they
// run, and the count must be lowered, so a case never silently stops running.

// wantCorpusPending is how many cases below wait for expression features.
const wantCorpusPending = 0

type corpusStep struct {
	method, path string
	headers      []string // name, value, ...
	body         string
	vars         map[string]string // preset variables
	status       int
	bodyHas      string
	backendHdr   map[string]string // on the last request to the backend ("" : absent)
	backendURL   string            // prefix of the last backend URL
	calls        int               // calls made so far in this case (all steps)
	varsWant     map[string]string
	oneWayHas    string // in the last one-way call the stand-ins received
	product      string // the caller's product (default "Starter")
	bodyLacks    string
	backendHas   map[string]string // substrings of headers on the last request to the backend
	tokens       int               // managed-identity tokens fetched so far in this case
	clientCertCN string            // the client certificate authentication-certificate chose
}

type corpusCase struct {
	name     string
	file     string
	fragment bool // the file is a <fragment>: run it from an operation policy that includes it
	named    map[string]string
	steps    []corpusStep
}

// standIns answers for the services the corpus documents call.
type standIns struct {
	mu        sync.Mutex
	jwks      []byte
	token     int
	jobPolls  int
	oneWay    []string
	backend4x bool
	mi        int    // managed-identity tokens issued
	pfx       []byte // the certificate Key Vault holds (PKCS#12, no password)
}

func (s *standIns) serve(w http.ResponseWriter, r *http.Request) {
	u := r.Header.Get("X-Original-URL")
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case strings.HasSuffix(u, "/.well-known/openid-configuration"):
		base := strings.TrimSuffix(u, "/.well-known/openid-configuration")
		json.NewEncoder(w).Encode(map[string]string{"issuer": base, "jwks_uri": base + "/discovery/keys"})
	case strings.HasSuffix(u, "/discovery/keys"):
		w.Write(s.jwks)
	case strings.HasPrefix(u, "http://169.254.169.254/metadata/identity/oauth2/token"):
		// Azure IMDS: Metadata: true, api-version and resource in the query.
		q, _ := url.Parse(u)
		if r.Header.Get("Metadata") != "true" || q.Query().Get("api-version") != "2018-02-01" {
			http.Error(w, `{"error":"invalid_request"}`, 400)
			return
		}
		s.mi++
		io.WriteString(w, `{"access_token":"mi-`+q.Query().Get("resource")+`-`+strconv.Itoa(s.mi)+`","expires_on":"`+
			strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)+`","resource":"`+q.Query().Get("resource")+`","token_type":"Bearer"}`)
	case strings.HasPrefix(u, "https://msikvtest.vault.azure.net/"):
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer mi-https://vault.azure.net-") {
			http.Error(w, `{"error":{"code":"Unauthorized"}}`, 401)
			return
		}
		value := "s3cret"
		if strings.Contains(u, "/secrets/mycert/") {
			value = base64.StdEncoding.EncodeToString(s.pfx)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"value": value, "id": u})
	case strings.HasPrefix(u, "https://idp.test/token"):
		s.token++
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"tok-`+string(rune('0'+s.token))+`","expires_in":3600,"token_type":"Bearer"}`)
	case strings.HasPrefix(u, "https://api.stackify.com/"):
		s.oneWay = append(s.oneWay, r.Header.Get("X-Stackify-Key")+" "+string(body))
	case strings.HasPrefix(u, "https://jobs.test/"):
		s.jobPolls++
		if s.jobPolls < 3 {
			w.WriteHeader(202)
			return
		}
		io.WriteString(w, "job done")
	case strings.HasPrefix(u, "http://backend.test/async"):
		w.Header().Set("Location", "https://jobs.test/job/1")
		w.WriteHeader(202)
	case strings.HasPrefix(u, "https://authz.test/"):
		status := "403"
		if r.Header.Get("Authorization") == "Bearer good" {
			status = "200"
		}
		io.WriteString(w, `{"status":`+status+`}`)
	case strings.HasPrefix(u, "https://hello-eus.azurewebsites.net"):
		w.WriteHeader(404)
	case strings.HasPrefix(u, "http://backend.test/weather"):
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"lat":1,"current":{"t":3},"minutely":[0],"hourly":[1],"daily":[2],"alerts":[],"x":2}`)
	case strings.HasPrefix(u, "http://down.test"):
		http.Error(w, "unreachable", 599) // the Forward function turns this into a connection failure
	default:
		if s.backend4x {
			w.WriteHeader(401)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"backend": u, "authorization": r.Header.Get("Authorization")})
	}
}

func TestCorpusRuns(t *testing.T) {
	dir := corpusDir(t)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	pub, _ := jwk.Import(&rsaKey.PublicKey)
	pub.Set(jwk.KeyIDKey, "entra-1")
	pub.Set(jwk.AlgorithmKey, jwa.RS256())
	set := jwk.NewSet()
	set.AddKey(pub)
	si := &standIns{}
	si.jwks, _ = json.Marshal(set)
	_, si.pfx = kvCertificate(t)
	srv := httptest.NewServer(http.HandlerFunc(si.serve))
	defer srv.Close()
	exp := time.Now().Add(time.Hour).Unix()
	entraToken := func(azp string) string {
		return signed(t, jwa.RS256(), rsaKey, "entra-1", map[string]any{"azp": azp, "exp": exp, "aud": "api://x"})
	}
	hsSecret := []byte("a-32-byte-secret-for-hs256-here!")
	hsToken := "Bearer " + signed(t, jwa.HS256(), hsSecret, "", map[string]any{"exp": exp, "sub": "ann", "permissions": []string{"sendEmail", "sendText"}})

	cases := []corpusCase{
		{name: "validate-token fragment: a token of the client app", file: "examples/oauth-proxy/oauth-proxy-validate-token-fragment.xml", fragment: true,
			named: map[string]string{"TenantId": "tenant-1", "ClientId": "client-1"},
			steps: []corpusStep{
				{path: "/", vars: map[string]string{"accessToken": entraToken("client-1")}, status: 200, calls: 2},
				{path: "/", vars: map[string]string{"accessToken": entraToken("someone-else")}, status: 401, bodyHas: `"statusCode":401`, calls: 2},
				{path: "/", vars: map[string]string{"accessToken": "garbage"}, status: 401, calls: 2},
			}},
		{name: "token-endpoint fragment", file: "examples/oauth-proxy/oauth-proxy-token-endpoint-fragment.xml", fragment: true,
			named: map[string]string{"TenantId": "tenant-1"},
			steps: []corpusStep{{path: "/", status: 200, varsWant: map[string]string{"idpTokenEndpoint": "https://login.microsoftonline.com/tenant-1/oauth2/v2.0/token"}}}},
		{name: "random load balancer, all traffic to the override", file: "examples/Random load balancer simpler.policy.xml",
			named: map[string]string{"MyTrafficSplitApp_TrafficSplitWeight": "100", "MyTrafficSplitApp_TrafficBaseUrlOverride": "http://canary.test"},
			steps: []corpusStep{{path: "/items", status: 200, backendURL: "http://canary.test/items"}}},
		{name: "random load balancer, none to the override", file: "examples/Random load balancer simpler.policy.xml",
			named: map[string]string{"MyTrafficSplitApp_TrafficSplitWeight": "0", "MyTrafficSplitApp_TrafficBaseUrlOverride": "http://canary.test"},
			steps: []corpusStep{{path: "/items", status: 200, backendURL: "http://backend.test/items"}}},
		{name: "OAuth2 token from AAD forwarded to the backend", file: "examples/Get OAuth2 access token from AAD and forward it to the backend.policy.xml",
			named: map[string]string{"authorizationServer": "https://idp.test/token", "clientId": "c", "scope": "s", "clientSecret": "x"},
			steps: []corpusStep{{path: "/items", headers: []string{"Ocp-Apim-Subscription-Key", "k"}, status: 200, calls: 1,
				backendHdr: map[string]string{"Authorization": "Bearer tok-1", "Ocp-Apim-Subscription-Key": ""}}}},
		{name: "backend OAuth2 with cache", file: "examples/Backend OAuth2 Authentication With Cache.policy.xml",
			named: map[string]string{"authorizationServer": "https://idp.test/token", "clientId": "c", "scope": "s", "clientSecret": "x"},
			steps: []corpusStep{
				{path: "/a", status: 200, calls: 1, backendHdr: map[string]string{"Authorization": "Bearer tok-1"}},
				{path: "/b", status: 200, calls: 1, backendHdr: map[string]string{"Authorization": "Bearer tok-1"}},
			}},
		{name: "custom error message for validate-jwt", file: "examples/Use custom error messages for jwt-validate policy with on-error handler.policy.xml",
			named: map[string]string{"base64-encoded-hashing-secret": base64.StdEncoding.EncodeToString(hsSecret)},
			steps: []corpusStep{
				{path: "/", status: 401, bodyHas: "Unauthorized. Access token is missing or invalid."},
				{path: "/", headers: []string{"Authorization", hsToken}, status: 200},
			}},
		{name: "basic authentication", file: "examples/Perform basic authentication.policy.xml",
			named: map[string]string{"UserId": "ann", "Password": "pw"},
			steps: []corpusStep{
				{path: "/", status: 401, bodyHas: "Not authorized"},
				{path: "/", headers: []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("ann:wrong"))}, status: 401},
				{path: "/", headers: []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("ann:pw"))}, status: 200,
					backendHdr: map[string]string{"Authorization": ""}},
			}},
		{name: "log errors to Stackify", file: "examples/Log errors to Stackify.policy.xml",
			named: map[string]string{"stackify-api-key": "sk-1", "environment-name": "prod", "app-name": "shop"},
			steps: []corpusStep{{path: "/down", status: 502, calls: 1, oneWayHas: `sk-1 {`}}},
		{name: "mask async calls as synchronous", file: "examples/Mask async calls as synchronous.policy.xml",
			steps: []corpusStep{{path: "/async", status: 200, bodyHas: "job done", calls: 3}}},
		{name: "forward gateway hostname", file: "examples/Forward gateway hostname to backend for generating correct urls in responses.policy.xml",
			steps: []corpusStep{{path: "/", headers: []string{"Host", "gw.test"}, status: 200, backendHas: map[string]string{"Forwarded": ";host=gw.test;"}}}},
		{name: "external authorizer, cached", file: "examples/Authorize requests using external authorizer.policy.xml",
			named: map[string]string{"authorizer-url": "https://authz.test/check"},
			steps: []corpusStep{
				{path: "/", headers: []string{"Host", "gw.test"}, status: 401},
				{path: "/", headers: []string{"Authorization", "Bearer good"}, status: 200, calls: 1},
				{path: "/", headers: []string{"Authorization", "Bearer good"}, status: 200, calls: 1},
				{path: "/", headers: []string{"Authorization", "Bearer bad"}, status: 403, calls: 2},
			}},
		{name: "extract value from XML", file: "examples/Extract value from XML.xml",
			steps: []corpusStep{{path: "/", status: 200, bodyHas: "ABCDEF123456789"}}},
		{name: "filter on IP address behind Application Gateway", file: "examples/Filter on IP Address when using Application Gateway.policy.xml",
			named: map[string]string{"ipValidated": "validated"},
			steps: []corpusStep{
				{path: "/", headers: []string{"X-Forwarded-For", "10.1.2.3"}, status: 200, backendHdr: map[string]string{"X-Forwarded-For": "10.1.2.3"}},
				{path: "/", headers: []string{"X-Forwarded-For", "8.8.8.8"}, status: 403, bodyHas: "Unauthorized"},
			}},
		{name: "back-end API redundancy: fail over on 404", file: "examples/Back-end API redundancy.policy.xml",
			steps: []corpusStep{{path: "/hello", status: 200, backendURL: "https://hello-weu.azurewebsites.net/hello"}}},
		{name: "filter response content by product", file: "examples/Filter response content based on product name.policy.xml",
			steps: []corpusStep{
				{path: "/weather", status: 200, bodyHas: `"x"`, bodyLacks: `"hourly"`},
				{path: "/weather", product: "Unlimited", status: 200, bodyHas: `"hourly"`},
			}},
		{name: "parse a JWT with expressions", file: "examples/Parse a JWT token using expressions.xml",
			named: map[string]string{"signing-key": base64.StdEncoding.EncodeToString(hsSecret)},
			steps: []corpusStep{
				{path: "/", headers: []string{"Authorization", hsToken}, status: 200},
				{path: "/", status: 401},
			}},
		{name: "Power Query access request", file: "examples/Handle Power Query access request to custom API.policy.xml",
			named: map[string]string{"AADTenantId": "tenant-1"},
			steps: []corpusStep{
				{path: "/", headers: []string{"Authorization", "Bearer"}, status: 401},
				{path: "/", method: "POST", headers: []string{"Authorization", "Bearer " + signed(t, jwa.RS256(), rsaKey, "entra-1", map[string]any{
					"aud": "https://your-custom-apim-domain", "iss": "https://sts.windows.net/tenant-1/", "scp": "user_impersonation other", "exp": exp})}, status: 200, calls: 2},
				{path: "/", method: "POST", headers: []string{"Authorization", "Bearer " + entraToken("x")}, status: 401, calls: 2},
			}},
		{name: "route requests based on size", file: "examples/Route requests based on size.policy.xml",
			named: map[string]string{"alternate-path-and-query": "/big", "alternate-host": "http://bulk.test"},
			steps: []corpusStep{
				{path: "/msg", method: "POST", headers: []string{"Content-Length", "10"}, body: "0123456789", status: 200, backendURL: "http://backend.test/msg"},
				{path: "/msg", method: "POST", headers: []string{"Content-Length", "300000"}, status: 200, backendURL: "http://bulk.test/big"},
			}},
		{name: "list all inbound headers", file: "examples/List all inbound headers.policy.xml",
			steps: []corpusStep{{path: "/", headers: []string{"X-A", "1", "Accept", "text/plain"}, status: 200, bodyHas: "Accept: text/plain"},
				{path: "/", headers: []string{"X-Only", "me"}, status: 200, bodyHas: "X-Only: me"}}},
		{name: "cache duration from Cache-Control (no cache-lookup: nothing stored)", file: "examples/Set cache duration using response cache control header.policy.xml",
			steps: []corpusStep{{path: "/cache/30", status: 200}, {path: "/cache/30", status: 200}}},
		{name: "managed identity to Service Bus", file: "examples/Authenticate using Managed Identity to access Service Bus.xml",
			named: map[string]string{"serviceBusNamespace": "sb1"},
			steps: []corpusStep{
				{path: "/", method: "POST", status: 200, tokens: 1, backendURL: "https://sb1.servicebus.windows.net/",
					backendHdr: map[string]string{"Authorization": "mi-https://servicebus.azure.net-1"}},
				{path: "/", method: "POST", status: 200, tokens: 1, backendHdr: map[string]string{"Authorization": "mi-https://servicebus.azure.net-1"}},
			}},
		{name: "managed identity to Event Hub", file: "examples/Authenticate using Managed Identity to access Event Hub.xml",
			named: map[string]string{"eventHubNamespace": "eh1", "eventhubname": "orders"},
			steps: []corpusStep{{path: "/", method: "POST", status: 200, tokens: 1, backendURL: "https://eh1.servicebus.windows.net/orders/messages",
				backendHdr: map[string]string{"Authorization": "Bearer mi-https://eventhubs.azure.net-1"}}}},
		{name: "managed identity to a storage account (send-request)", file: "examples/Authenticate using Managed Identity to access Storage Account.xml",
			named: map[string]string{"storageaccountname": "acct", "blobtoread": "b.json"},
			steps: []corpusStep{{path: "/", status: 200, tokens: 1, calls: 1, bodyHas: `"authorization": "Bearer mi-https://storage.azure.com-1"`}}},
		{name: "Key Vault secret with managed identity, then cached", file: "examples/Look up Key Vault secret using Managed Service Identity.policy.xml",
			steps: []corpusStep{
				{path: "/", status: 200, tokens: 1, calls: 1, bodyHas: `"value":"s3cret"`},
				{path: "/", status: 200, tokens: 1, calls: 1, bodyHas: `"value":"s3cret"`},
			}},
		{name: "Key Vault certificate as the backend's client certificate", file: "examples/Look up Key Vault certificate using Managed Service Identity and call backend.policy.xml",
			steps: []corpusStep{
				{path: "/orders", status: 200, tokens: 1, calls: 1, backendURL: "http://backend.test/orders", clientCertCN: "kv-client"},
				{path: "/orders", status: 200, tokens: 1, calls: 1, clientCertCN: "kv-client"},
			}},
		{name: "add correlation id", file: "examples/Add correlation id to inbound request.policy.xml",
			steps: []corpusStep{{path: "/", headers: []string{"correlationid", "given-1"}, status: 200, backendHdr: map[string]string{"correlationid": "given-1"}}}},
	}

	ran, pending := 0, 0
	for _, tc := range cases {
		src, err := os.ReadFile(filepath.Join(dir, tc.file))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		nv := map[string]NamedValue{}
		for k, v := range tc.named {
			nv[k] = NamedValue{Value: v}
		}
		o := Options{NamedValues: nv, State: NewState(nil)}
		doc := Source{Name: tc.file, XML: src}
		if tc.fragment {
			o.Fragments = map[string]Source{"f": doc}
			doc = Source{Name: "operation", XML: []byte(`<policies><inbound><include-fragment fragment-id="f"/></inbound></policies>`)}
		}
		cp := NewCompiler(o)
		p, err := cp.Compile(ScopeOperation, doc)
		if err != nil {
			if onlyExpressionErrors(err) {
				pending++
				t.Logf("%s: waits for expression features: %v", tc.name, firstLine(err))
				continue
			}
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		ran++
		pl := cp.Link(nil, nil, nil, p)
		calls := 0
		si.mu.Lock()
		si.token, si.jobPolls, si.mi = 0, 0, 0
		si.mu.Unlock()
		tokens := 0
		for i, st := range tc.steps {
			c := newCtx(orDefault(st.method, "GET"), st.path)
			c.Request.Headers.Reset()
			for j := 0; j+1 < len(st.headers); j += 2 {
				c.Request.Headers.Add(st.headers[j], st.headers[j+1])
			}
			c.Request.Body, c.Request.Buffered = []byte(st.body), true
			if st.product != "" {
				c.ID.ProductName = st.product
			}
			if strings.HasPrefix(st.path, "/down") {
				c.Upstream.BaseURL = "http://down.test"
			}
			for k, v := range st.vars {
				c.SetVariable(k, StringValue(v))
			}
			res := Simulate(pl, c, SimIO{
				Forward: func(r *SentRequest) (*CallResponse, error) {
					return viaLoopback(srv.URL, r.Method, r.URL, r.Headers, r.Body)
				},
				Call: func(k *HTTPCall) (*CallResponse, error) {
					calls++
					return viaLoopback(srv.URL, k.Method, k.URL, k.Headers, k.Body)
				},
				Token: func(r TokenRequest) (Token, error) {
					tokens++
					return imdsToken(srv.URL, r)
				},
			})
			where := tc.name + " step " + itoa(i+1)
			if c.Response.StatusCode != st.status {
				t.Errorf("%s: status %d, want %d (%s; %v)", where, c.Response.StatusCode, st.status, c.Response.Body, res.Failed)
			}
			if st.bodyHas != "" && !strings.Contains(string(c.Response.Body), st.bodyHas) {
				t.Errorf("%s: body %q lacks %q", where, c.Response.Body, st.bodyHas)
			}
			if st.bodyLacks != "" && strings.Contains(string(c.Response.Body), st.bodyLacks) {
				t.Errorf("%s: body %q has %q", where, c.Response.Body, st.bodyLacks)
			}
			if st.calls != calls {
				t.Errorf("%s: %d calls so far, want %d", where, calls, st.calls)
			}
			if st.tokens != tokens {
				t.Errorf("%s: %d managed-identity tokens fetched so far, want %d", where, tokens, st.tokens)
			}
			if st.clientCertCN != "" {
				got := "none"
				if cc := c.Upstream.ClientCert; cc != nil && cc.Leaf != nil {
					got = cc.Leaf.Subject.CommonName
				}
				if got != st.clientCertCN {
					t.Errorf("%s: client certificate %s, want CN %s", where, got, st.clientCertCN)
				}
			}
			if len(st.backendHdr) > 0 || len(st.backendHas) > 0 || st.backendURL != "" {
				if len(res.Forwarded) == 0 {
					t.Errorf("%s: nothing was forwarded", where)
					continue
				}
				last := res.Forwarded[len(res.Forwarded)-1]
				if !strings.HasPrefix(last.URL, st.backendURL) {
					t.Errorf("%s: backend URL %s, want %s…", where, last.URL, st.backendURL)
				}
				h := Headers{List: last.Headers}
				for name, want := range st.backendHas {
					if got, _ := h.Get(name); !strings.Contains(got, want) {
						t.Errorf("%s: backend header %s = %q, want it to contain %q", where, name, got, want)
					}
				}
				for name, want := range st.backendHdr {
					if got, _ := h.Get(name); got != want {
						t.Errorf("%s: backend header %s = %q, want %q", where, name, got, want)
					}
				}
			}
			if st.oneWayHas != "" {
				si.mu.Lock()
				got := ""
				if len(si.oneWay) > 0 {
					got = si.oneWay[len(si.oneWay)-1]
				}
				si.mu.Unlock()
				if !strings.Contains(got, st.oneWayHas) || !strings.Contains(got, "forward-request") {
					t.Errorf("%s: one-way call %q, want %q and the failed policy", where, got, st.oneWayHas)
				}
			}
			for name, want := range st.varsWant {
				if v, _ := c.Variable(name); v.String() != want {
					t.Errorf("%s: variable %s = %q, want %q", where, name, v.String(), want)
				}
			}
		}
	}
	t.Logf("corpus documents run end to end: %d cases ran, %d wait for expression features", ran, pending)
	if pending != wantCorpusPending {
		t.Errorf("%d cases wait for expression features, want %d: lower wantCorpusPending (and docs/policies.md) as cases start to run", pending, wantCorpusPending)
	}
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// onlyExpressionErrors reports whether every compile error is about an
// expression (what the expression language does not do yet).
func onlyExpressionErrors(err error) bool {
	var l ErrorList
	if !errors.As(err, &l) {
		return false
	}
	for _, e := range l {
		if !strings.HasPrefix(e.Msg, "expression:") {
			return false
		}
	}
	return true
}

// viaLoopback sends a request meant for rawURL to the stand-in server.
func viaLoopback(standIn, method, rawURL string, headers []Header, body []byte) (*CallResponse, error) {
	req, err := http.NewRequest(method, standIn, strings.NewReader(string(body)))
	if err != nil {
		return nil, err
	}
	for _, h := range headers {
		req.Header.Add(h.Name, h.Value)
	}
	req.Header.Set("X-Original-URL", rawURL)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 599 {
		return nil, errors.New("connection refused")
	}
	out := &CallResponse{StatusCode: resp.StatusCode, Body: data}
	for k, vs := range resp.Header {
		for _, v := range vs {
			out.Headers = append(out.Headers, Header{Name: k, Value: v})
		}
	}
	return out, nil
}

// imdsToken asks the stand-in IMDS for a token, as the appliance's token
// source does (GET with Metadata: true), and reads the token JSON.
func imdsToken(standIn string, r TokenRequest) (Token, error) {
	q := url.Values{"api-version": {"2018-02-01"}, "resource": {r.Resource}}
	if r.ClientID != "" {
		q.Set("client_id", r.ClientID)
	}
	resp, err := viaLoopback(standIn, "GET", "http://169.254.169.254/metadata/identity/oauth2/token?"+q.Encode(), []Header{{"Metadata", "true"}}, nil)
	if err != nil {
		return Token{}, err
	}
	if resp.StatusCode != 200 {
		return Token{}, errors.New("IMDS answered " + strconv.Itoa(resp.StatusCode))
	}
	var t struct {
		AccessToken string `json:"access_token"`
		ExpiresOn   string `json:"expires_on"`
	}
	if err := json.Unmarshal(resp.Body, &t); err != nil {
		return Token{}, err
	}
	sec, _ := strconv.ParseInt(t.ExpiresOn, 10, 64)
	return Token{AccessToken: t.AccessToken, ExpiresOn: time.Unix(sec, 0)}, nil
}

// kvCertificate is a client certificate as Key Vault returns it for a
// certificate's secret: PKCS#12 without a password.
func kvCertificate(t *testing.T) (*x509.Certificate, []byte) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: "kv-client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pfx, err := pkcs12.Modern.Encode(key, cert, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	return cert, pfx
}
