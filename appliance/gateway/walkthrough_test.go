package gateway_test

// The seeds' walkthrough (issue 6) end to end with the real binaries: apimcp,
// apimgw and apimctl from $APIMGW_BIN (make test builds them into bin/), or
// built here when it is unset, and the sample backend process
// (scripts/sample-backend.py). Everything runs on loopback; the management
// API is driven the way a script would, through apimctl and raw ARM HTTP.
// The harness in this file (processes, control plane, gateway, data-plane
// client) is shared with chaos_test.go.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/apimgw/apimgw/appliance/envconf"
	"github.com/apimgw/apimgw/wire"
)

// armPrefix is the full Azure Resource Manager prefix the control plane
// accepts in front of every management path (docs/interfaces.md §2).
const armPrefix = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/edge/providers/Microsoft.ApiManagement/service/apimgw"

const (
	missingKeyBody = `{"statusCode":401,"message":"Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API."}`
	invalidKeyBody = `{"statusCode":401,"message":"Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription."}`
)

// e2eBinaries returns a directory holding apimgw, apimcp and apimctl: $APIMGW_BIN
// when it has all three, else a fresh build into a temporary directory.
func e2eBinaries(t testing.TB) string {
	t.Helper()
	if dir := os.Getenv("APIMGW_BIN"); dir != "" {
		ok := true
		for _, b := range []string{"apimgw", "apimcp", "apimctl"} {
			if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
				ok = false
			}
		}
		if ok {
			return dir
		}
	}
	dir := t.TempDir()
	out, err := exec.Command("go", "build", "-o", dir+"/",
		"github.com/apimgw/apimgw/cmd/apimgw", "github.com/apimgw/apimgw/cmd/apimcp", "github.com/apimgw/apimgw/cmd/apimctl").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return dir
}

// e2ePort reserves a free loopback port (released at once: the daemon binds
// it). It comes from below the kernel's ephemeral range, so that the
// 127.0.0.1:0 listeners and client sockets of tests running beside this one
// (go test runs packages in parallel) cannot be handed the port between its
// release here and the daemon's bind (TestRunScript once found its sample
// backend's port taken so).
func e2ePort(t testing.TB) string {
	t.Helper()
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				low = n
			}
		}
	}
	const from = 10000
	for i := 0; low > from && i < 100; i++ {
		addr := "127.0.0.1:" + strconv.Itoa(from+mrand.IntN(low-from))
		if ln, err := net.Listen("tcp", addr); err == nil {
			ln.Close()
			return addr
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// pollFor polls ok every 20 ms until it holds or d passes; it returns how long
// it took and whether it held.
func pollFor(d time.Duration, ok func() bool) (time.Duration, bool) {
	start := time.Now()
	for {
		if ok() {
			return time.Since(start), true
		}
		if time.Since(start) > d {
			return time.Since(start), false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lockedBuffer collects a process's output; safe for concurrent use.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// childProc is one running child process. Its output (stdout and stderr) goes to
// log, and to lines while someone reads it (the start-up handshake).
type childProc struct {
	cmd    *exec.Cmd
	log    *lockedBuffer
	exited chan struct{}
	err    error
}

// eofLine is what onLine sees when the output ends.
const eofLine = "\x00EOF"

// startProc starts name with args; a cleanup kills it if the test leaves it
// running. onLine, when set, sees each output line until it returns true,
// then eofLine if the output ends first.
func startProc(t testing.TB, log *lockedBuffer, onLine func(string) bool, name string, args ...string) *childProc {
	t.Helper()
	p := &childProc{cmd: exec.Command(name, args...), log: log, exited: make(chan struct{})}
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		pw.Close()
		close(p.exited)
	}()
	go func() {
		var line []byte
		buf := make([]byte, 4096)
		for {
			n, err := pr.Read(buf)
			log.Write(buf[:n])
			if onLine != nil {
				for _, c := range buf[:n] {
					if c != '\n' {
						line = append(line, c)
						continue
					}
					if onLine(string(line)) {
						onLine = nil
						break
					}
					line = line[:0]
				}
			}
			if err != nil {
				if onLine != nil {
					onLine(eofLine)
				}
				return
			}
		}
	}()
	t.Cleanup(func() { p.stop(syscall.SIGKILL) })
	return p
}

// stop sends sig and waits up to 15 s for the exit; it reports whether the
// process ended.
func (p *childProc) stop(sig syscall.Signal) bool {
	select {
	case <-p.exited:
		return true
	default:
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
		return true
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
		return false
	}
}

func (p *childProc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// backendProc runs scripts/sample-backend.py on a free loopback port and
// returns its base URL. The test skips when python3 is missing (make test-e2e
// installs it on a machine without one), unless APIMGW_E2E_REQUIRE is set.
func backendProc(t testing.TB) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("APIMGW_E2E_REQUIRE") != "" {
			t.Fatal("python3 is not installed: the sample backend needs it (scripts/deps.sh e2e)")
		}
		t.Skip("python3 is not installed (make test-e2e installs it): the sample backend needs it")
	}
	script, err := filepath.Abs("../../scripts/sample-backend.py")
	if err != nil {
		t.Fatal(err)
	}
	addr := e2ePort(t)
	_, port, _ := net.SplitHostPort(addr)
	p := startProc(t, &lockedBuffer{}, nil, py, script, port)
	url := "http://" + addr
	if _, ok := pollFor(10*time.Second, func() bool {
		resp, err := http.Get(url + "/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	}); !ok {
		t.Fatalf("sample backend did not answer on %s:\n%s", addr, p.log)
	}
	return url
}

// cpProc is the real apimcp, restartable on the same address and data.
type cpProc struct {
	t                  testing.TB
	bin                string
	dir, addr, tokFile string
	URL, admin         string
	ca                 string   // PEM CA of its TLS certificate ("": plain HTTP)
	tlsArgs            []string // --tls-cert, --tls-key
	p                  *childProc
	log                *lockedBuffer
	http               *http.Client
}

func startCP(t testing.TB, bin string) *cpProc {
	t.Helper()
	dir := t.TempDir()
	tok := make([]byte, 16)
	rand.Read(tok)
	c := &cpProc{t: t, bin: bin, dir: dir, addr: "127.0.0.1:0", tokFile: filepath.Join(dir, "admin-token"),
		admin: hex.EncodeToString(tok), log: &lockedBuffer{}, http: &http.Client{Timeout: 30 * time.Second}}
	if err := os.WriteFile(c.tokFile, []byte(c.admin+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.start()
	return c
}

// startCPTLS is startCP with TLS: a self-signed certificate for 127.0.0.1,
// trusted by the admin client, apimctl (APIMCTL_CA) and, through
// config.service.ca, by apimgw.
func startCPTLS(t testing.TB, bin string) *cpProc {
	t.Helper()
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "apimcp test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	tok := make([]byte, 16)
	rand.Read(tok)
	c := &cpProc{t: t, bin: bin, dir: dir, addr: "127.0.0.1:0", tokFile: filepath.Join(dir, "admin-token"),
		admin: hex.EncodeToString(tok), log: &lockedBuffer{}, ca: certFile,
		tlsArgs: []string{"--tls-cert", certFile, "--tls-key", keyFile},
		http:    &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}
	if err := os.WriteFile(c.tokFile, []byte(c.admin+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.start()
	return c
}

// start runs apimcp and waits for "apimcp: listening on URL". After a stop it
// reuses the address (retrying while the port lingers).
func (c *cpProc) start() {
	t := c.t
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := make(chan string, 1)
		p := startProc(t, c.log, func(line string) bool {
			if _, after, ok := strings.Cut(line, "apimcp: listening on "); ok {
				got <- strings.TrimSpace(after)
				return true
			}
			if line == eofLine {
				got <- ""
			}
			return false
		}, filepath.Join(c.bin, "apimcp"), append([]string{"--listen", c.addr, "--data", filepath.Join(c.dir, "data"),
			"--admin-token-file", c.tokFile}, c.tlsArgs...)...)
		var url string
		select {
		case url = <-got:
		case <-time.After(15 * time.Second):
		}
		if url != "" {
			c.p, c.URL = p, url
			c.addr = strings.TrimPrefix(strings.TrimPrefix(url, "http://"), "https://")
			return
		}
		p.stop(syscall.SIGKILL)
		if time.Now().After(deadline) {
			t.Fatalf("apimcp did not start on %s:\n%s", c.addr, c.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *cpProc) stop(sig syscall.Signal) {
	if c.p != nil {
		c.p.stop(sig)
		c.p = nil
	}
}

// arm calls the management API with the admin token; body is JSON-encoded
// unless it is nil. It fails the test on a transport error.
func (c *cpProc) arm(method, path string, body any) (int, []byte) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.URL+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.admin)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// mustARM is arm that insists on one of the given statuses.
func (c *cpProc) mustARM(method, path string, body any, want ...int) []byte {
	c.t.Helper()
	st, out := c.arm(method, path, body)
	for _, w := range want {
		if st == w {
			return out
		}
	}
	c.t.Fatalf("%s %s: %d %s (want %v)", method, path, st, out, want)
	return nil
}

// ctl runs apimctl against this control plane, as a script would.
func (c *cpProc) ctl(args ...string) []byte {
	c.t.Helper()
	cmd := exec.Command(filepath.Join(c.bin, "apimctl"), args...)
	cmd.Env = append(os.Environ(), "APIMCTL_SERVER="+c.URL, "APIMCTL_TOKEN="+c.admin, "APIMCTL_CA="+c.ca)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		c.t.Fatalf("apimctl %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return out
}

// calls is callCountTotal of gw in GET /reports/byGateway.
func (c *cpProc) calls(gw string) int64 {
	c.t.Helper()
	out := c.mustARM("GET", "/reports/byGateway", nil, 200)
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

// cpGatewayStatus is properties.status of GET /gateways/{id}.
type cpGatewayStatus struct {
	State                 string    `json:"state"`
	LastHeartbeat         time.Time `json:"lastHeartbeat"`
	SnapshotVersion       uint64    `json:"snapshotVersion"`
	LatestSnapshotVersion uint64    `json:"latestSnapshotVersion"`
	InSync                bool      `json:"inSync"`
	TokenExpiry           time.Time `json:"tokenExpiry"`
	LastError             string    `json:"lastError"`
	LastConfigRequest     time.Time `json:"lastConfigRequest"`
	Backlog               struct {
		Records int64 `json:"records"`
		Dropped int64 `json:"dropped"`
	} `json:"backlog"`
}

func (c *cpProc) gatewayStatus(gw string) cpGatewayStatus {
	c.t.Helper()
	out := c.mustARM("GET", "/gateways/"+gw, nil, 200)
	var v struct {
		Properties struct {
			Status cpGatewayStatus `json:"status"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		c.t.Fatalf("gateway: %v: %s", err, out)
	}
	return v.Properties.Status
}

// gwProc is the real apimgw with its env.conf, restartable on the same
// addresses and store.
type gwProc struct {
	t                  testing.TB
	bin, dir, conf     string
	data, status       string // base URLs
	endpoint, name     string
	ca                 string // config.service.ca ("": none)
	extra              string // more env.conf lines
	p                  *childProc
	log                *lockedBuffer
	startedAt, readyAt time.Time
}

func newGW(t testing.TB, bin, endpoint, name, token string) *gwProc {
	return newGWCA(t, bin, endpoint, name, token, "")
}

// newGWCA is newGW trusting the PEM CA file ca for the control plane.
func newGWCA(t testing.TB, bin, endpoint, name, token, ca string) *gwProc {
	g := &gwProc{t: t, bin: bin, dir: t.TempDir(), endpoint: endpoint, name: name, ca: ca, log: &lockedBuffer{}}
	g.conf = filepath.Join(g.dir, "env.conf")
	g.data, g.status = "http://"+e2ePort(t), "http://"+e2ePort(t)
	g.writeConf(token)
	return g
}

// writeConf writes env.conf the way an editor does (temporary file renamed
// over the old one), with heartbeat.interval=1s so that backoff ends quickly.
func (g *gwProc) writeConf(token string) {
	g.t.Helper()
	conf := fmt.Sprintf(`# written by the walkthrough test
config.service.endpoint=%s
config.service.auth=GatewayKey %s
gateway.name=%s
listen.http=%s
listen.https=
status.listen=%s
store.path=%s
heartbeat.interval=1s
`, g.endpoint, token, g.name, strings.TrimPrefix(g.data, "http://"), strings.TrimPrefix(g.status, "http://"),
		filepath.Join(g.dir, "state", "apimgw.db"))
	if g.ca != "" {
		conf += "config.service.ca=" + g.ca + "\n"
	}
	conf += g.extra
	tmp := g.conf + ".tmp"
	if err := os.WriteFile(tmp, []byte(conf), 0o600); err != nil {
		g.t.Fatal(err)
	}
	if err := os.Rename(tmp, g.conf); err != nil {
		g.t.Fatal(err)
	}
}

// start runs apimgw and waits until its status port answers /healthz.
func (g *gwProc) start() {
	g.t.Helper()
	g.startedAt = time.Now()
	g.p = startProc(g.t, g.log, nil, filepath.Join(g.bin, "apimgw"), "--config", g.conf)
	if _, ok := pollFor(15*time.Second, func() bool {
		if !g.p.running() {
			return false
		}
		resp, err := http.Get(g.status + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	}); !ok {
		g.t.Fatalf("apimgw did not come up:\n%s", g.log)
	}
}

// waitReady waits for /readyz 200 (listeners up, a configuration loaded).
func (g *gwProc) waitReady(d time.Duration) {
	g.t.Helper()
	if _, ok := pollFor(d, func() bool {
		resp, err := http.Get(g.status + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}); !ok {
		g.t.Fatalf("apimgw not ready within %v:\n%s", d, g.log)
	}
	g.readyAt = time.Now()
}

func (g *gwProc) stop(sig syscall.Signal) {
	if g.p != nil {
		g.p.stop(sig)
		g.p = nil
	}
}

// gwFacts is the part of /status.json the tests read.
type gwFacts struct {
	Ready        bool `json:"ready"`
	ControlPlane struct {
		Connected     bool      `json:"connected"`
		LastSync      time.Time `json:"lastSync"`
		LastHeartbeat time.Time `json:"lastHeartbeat"`
		LastError     string    `json:"lastError"`
	} `json:"controlPlane"`
	Snapshot struct {
		Current string `json:"current"`
	} `json:"snapshot"`
	Token *struct {
		GatewayID string    `json:"gatewayId"`
		Expiry    time.Time `json:"expiry"`
	} `json:"token"`
	TokenState string `json:"tokenState"`
	Telemetry  struct {
		Records int64 `json:"records"`
		Dropped int64 `json:"dropped"`
	} `json:"telemetry"`
}

func (g *gwProc) facts() gwFacts {
	g.t.Helper()
	resp, err := http.Get(g.status + "/status.json")
	if err != nil {
		g.t.Fatalf("status.json: %v", err)
	}
	defer resp.Body.Close()
	var f gwFacts
	if err := json.NewDecoder(resp.Body).Decode(&f); err != nil {
		g.t.Fatalf("status.json: %v", err)
	}
	return f
}

// dpClient makes data-plane requests and counts every one that got an answer:
// each is one telemetry record the control plane must count.
type dpClient struct {
	t    testing.TB
	http *http.Client
	n    atomic.Int64
}

func newDPClient(t testing.TB) *dpClient {
	return &dpClient{t: t, http: &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true}}}
}

type dpAnswer struct {
	status int
	reason string
	header http.Header
	body   string
}

// get sends GET url with the subscription key (none when key is "").
func (c *dpClient) get(url, key string) dpAnswer {
	c.t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if key != "" {
		req.Header.Set("Ocp-Apim-Subscription-Key", key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("GET %s: %v", url, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		c.t.Fatalf("GET %s: reading the body: %v", url, err)
	}
	c.n.Add(1)
	return dpAnswer{status: resp.StatusCode, reason: strings.TrimSpace(strings.TrimPrefix(resp.Status, strconv.Itoa(resp.StatusCode))),
		header: resp.Header, body: string(body)}
}

func policyDoc(inbound, outbound string) string {
	return "<policies><inbound><base/>" + inbound + "</inbound><backend><base/></backend><outbound><base/>" +
		outbound + "</outbound><on-error><base/></on-error></policies>"
}

// TestWalkthrough is issue 6's walkthrough, steps 1–7, with the real binaries.
func TestWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end with the real binaries")
	}
	testStart := time.Now()
	bin := e2eBinaries(t)
	be := backendProc(t)
	cp := startCP(t, bin)
	defer func() {
		if t.Failed() {
			t.Logf("apimcp log:\n%s", cp.log)
		}
	}()

	// 1. The walkthrough's resources through the management API: raw ARM
	// (with the full ARM prefix and ?api-version) and apimctl.
	cp.mustARM("PUT", armPrefix+"/apis/hybrid?api-version=2022-08-01", map[string]any{"properties": map[string]any{
		"displayName": "Hybrid demo", "path": "hybrid", "serviceUrl": be, "protocols": []string{"http", "https"},
		"subscriptionRequired": true}}, 200, 201)
	cp.mustARM("PUT", armPrefix+"/apis/hybrid/operations/test?api-version=2022-08-01", map[string]any{"properties": map[string]any{
		"displayName": "Test call", "method": "GET", "urlTemplate": "/test", "templateParameters": []any{}}}, 200, 201)
	cp.ctl("product", "create", "unlimited", "--display-name", "Unlimited", "--state", "published", "--subscription-required", "true")
	cp.ctl("product", "add-api", "unlimited", "hybrid")
	cp.ctl("subscription", "create", "demo", "--display-name", "Demo subscription", "--scope", "/products/unlimited")
	cp.mustARM("PUT", "/gateways/gw1", map[string]any{"properties": map[string]any{
		"locationData": map[string]any{"name": "walkthrough"}, "description": "issue 6"}}, 200, 201)
	cp.ctl("gateway", "assign", "gw1", "hybrid")
	var secrets struct{ PrimaryKey string }
	json.Unmarshal(cp.mustARM("POST", "/subscriptions/demo/listSecrets", nil, 200), &secrets)
	key := secrets.PrimaryKey
	if key == "" {
		t.Fatal("listSecrets gave no primary key")
	}
	var tok struct{ Value string }
	json.Unmarshal(cp.ctl("-o", "json", "gateway", "token", "gw1", "--expiry", "720h"), &tok)
	token1 := tok.Value
	if !strings.HasPrefix(token1, "gw1&") {
		t.Fatalf("token: %q", token1)
	}
	gw := newGW(t, bin, cp.URL, "gw1", token1)
	defer func() {
		if t.Failed() {
			t.Logf("apimgw log:\n%s", gw.log)
		}
	}()
	gw.start()
	gw.waitReady(15 * time.Second)
	t.Logf("step 1: apimgw started, synced and ready in %v", gw.readyAt.Sub(gw.startedAt).Round(time.Millisecond))

	// 2. With the key: the backend's answer; without, or with a wrong one: 401.
	c := newDPClient(t)
	url := gw.data + "/hybrid/test"
	a := c.get(url, key)
	var echo struct {
		Backend string            `json:"backend"`
		Path    string            `json:"path"`
		Headers map[string]string `json:"headers"`
	}
	if err := json.Unmarshal([]byte(a.body), &echo); a.status != 200 || err != nil || echo.Backend != "sample" || echo.Path != "/test" {
		t.Fatalf("with the key: %d %q (%v)", a.status, a.body, err)
	}
	for h := range echo.Headers {
		if strings.EqualFold(h, "Ocp-Apim-Subscription-Key") {
			t.Errorf("the subscription key reached the backend: %v", echo.Headers)
		}
	}
	if a := c.get(url, ""); a.status != 401 || a.body != missingKeyBody {
		t.Errorf("without a key: %d %q", a.status, a.body)
	}
	if a := c.get(url, "not-a-key"); a.status != 401 || a.body != invalidKeyBody {
		t.Errorf("with a wrong key: %d %q", a.status, a.body)
	}

	// 3. rate-limit on the operation: within 1 s of the PUT, the third call
	// in 10 s is a 429 with Retry-After.
	v0 := gw.facts().Snapshot.Current
	put := time.Now()
	cp.mustARM("PUT", armPrefix+"/apis/hybrid/operations/test/policies/policy?api-version=2022-08-01", map[string]any{
		"properties": map[string]any{"format": "rawxml", "value": policyDoc(`<rate-limit calls="2" renewal-period="10"/>`, "")}}, 200, 201)
	if _, ok := pollFor(5*time.Second, func() bool { return gw.facts().Snapshot.Current != v0 }); !ok {
		t.Fatalf("the rate-limit policy did not reach the gateway")
	}
	for i := 1; i <= 2; i++ {
		if a := c.get(url, key); a.status != 200 {
			t.Fatalf("call %d under rate-limit 2/10s: %d %s", i, a.status, a.body)
		}
	}
	a = c.get(url, key)
	took := time.Since(put)
	ra, err := strconv.Atoi(a.header.Get("Retry-After"))
	if a.status != 429 || err != nil || ra < 1 || ra > 10 ||
		a.body != fmt.Sprintf(`{"statusCode":429,"message":"Rate limit is exceeded. Try again in %d seconds."}`, ra) {
		t.Fatalf("third call: %d Retry-After %q %s", a.status, a.header.Get("Retry-After"), a.body)
	}
	if took > time.Second {
		t.Errorf("the 429 came %v after the PUT, want within 1 s", took)
	}
	t.Logf("step 3: 429 with Retry-After: %d, %v after the PUT", ra, took.Round(time.Millisecond))

	// 4. The rate limit goes; an outbound return-response on the API answers
	// "Hello From Google" within 1 s, without restart.
	v0 = gw.facts().Snapshot.Current
	cp.ctl("policies", "delete", "--api", "hybrid", "--operation", "test")
	if _, ok := pollFor(5*time.Second, func() bool { return gw.facts().Snapshot.Current != v0 }); !ok {
		t.Fatalf("deleting the rate-limit policy did not reach the gateway")
	}
	xml := filepath.Join(t.TempDir(), "gke.xml")
	os.WriteFile(xml, []byte(policyDoc("", `<return-response><set-status code="200" reason="Get GKE"/><set-body>Hello From Google</set-body></return-response>`)), 0o644)
	pid := gw.p.cmd.Process.Pid
	put = time.Now()
	cp.ctl("policies", "set", "--api", "hybrid", "--xml", xml)
	_, ok := pollFor(time.Second, func() bool { a = c.get(url, key); return a.body == "Hello From Google" })
	took = time.Since(put)
	if !ok {
		t.Fatalf("not \"Hello From Google\" within 1 s of the PUT: %d %q", a.status, a.body)
	}
	if a.status != 200 || a.reason != "Get GKE" {
		t.Errorf("return-response: %d %q, want 200 \"Get GKE\"", a.status, a.reason)
	}
	if gw.p.cmd.Process.Pid != pid || !gw.p.running() {
		t.Fatal("apimgw restarted")
	}
	t.Logf("step 4: \"Hello From Google\" %v after the PUT (apimctl included), no restart", took.Round(time.Millisecond))

	// 5. apimcp stopped: requests keep succeeding; apimgw restarted while
	// apimcp is down serves at once from its store; one SIGKILL between
	// requests.
	cp.stop(syscall.SIGTERM)
	ok200 := func(what string, n int) {
		t.Helper()
		for i := range n {
			if a := c.get(url, key); a.status != 200 || a.body != "Hello From Google" {
				t.Fatalf("%s, call %d: %d %q", what, i+1, a.status, a.body)
			}
		}
	}
	ok200("apimcp stopped", 10)
	gw.stop(syscall.SIGTERM)
	gw.start()
	gw.waitReady(5 * time.Second)
	ok200("apimgw restarted while apimcp is down", 1)
	t.Logf("step 5: restarted apimgw ready %v after exec with apimcp down, first request 200 at once",
		gw.readyAt.Sub(gw.startedAt).Round(time.Millisecond))
	if f := gw.facts(); f.ControlPlane.Connected {
		t.Errorf("status says connected while apimcp is down: %+v", f.ControlPlane)
	}
	ok200("after the restart", 20)
	time.Sleep(5*time.Millisecond + envconf.DefaultCommitInterval + 150*time.Millisecond) // past the group commit (5 ms ring + the commit interval + its fsyncs)
	gw.stop(syscall.SIGKILL)
	gw.start()
	gw.waitReady(5 * time.Second)
	ok200("after SIGKILL", 20)

	// 6. apimcp back: its reports count every request of the whole test
	// exactly once, and gw1 shows connected with a fresh heartbeat.
	want := c.n.Load()
	back := time.Now()
	cp.start()
	took, ok = pollFor(30*time.Second, func() bool { return cp.calls("gw1") == want })
	if !ok {
		t.Fatalf("apimcp counts %d requests for gw1, want %d (gateway backlog %+v)", cp.calls("gw1"), want, gw.facts().Telemetry)
	}
	t.Logf("step 6: all %d requests counted %v after apimcp came back", want, took.Round(time.Millisecond))
	if _, ok := pollFor(10*time.Second, func() bool { return gw.facts().Telemetry.Records == 0 }); !ok {
		t.Errorf("gateway backlog not empty: %+v", gw.facts().Telemetry)
	}
	if n := cp.calls("gw1"); n != want {
		t.Fatalf("after the backlog drained apimcp counts %d, want %d", n, want)
	}
	var st cpGatewayStatus
	if _, ok := pollFor(10*time.Second, func() bool {
		st = cp.gatewayStatus("gw1")
		return st.State == "connected" && st.InSync && st.LastHeartbeat.After(back) && time.Since(st.LastHeartbeat) < 5*time.Second
	}); !ok {
		t.Fatalf("gw1 at the control plane: %+v", st)
	}
	if f := gw.facts(); !f.ControlPlane.Connected {
		t.Errorf("gateway status page: %+v", f.ControlPlane)
	}

	// 7a. A new token (signed with the secondary key) in env.conf; then the
	// primary key is regenerated, so the old token stops working: the next
	// sync works, so it used the new token.
	json.Unmarshal(cp.ctl("-o", "json", "gateway", "token", "gw1", "--expiry", "48h", "--key", "secondary"), &tok)
	token2 := tok.Value
	exp2, _ := time.Parse("200601021504", strings.Split(token2, "&")[1])
	gw.writeConf(token2)
	if _, ok := pollFor(5*time.Second, func() bool { f := gw.facts(); return f.Token != nil && f.Token.Expiry.Equal(exp2) }); !ok {
		t.Fatalf("the new token was not picked up: %+v", gw.facts().Token)
	}
	if f := gw.facts(); f.TokenState != "expiring" { // 48 h left: within the 7-day warning
		t.Errorf("token state with 48 h left: %q", f.TokenState)
	}
	cp.mustARM("POST", armPrefix+"/gateways/gw1/regenerateKey?api-version=2022-08-01", map[string]string{"keyType": "primary"}, 200, 204)
	regen := time.Now()
	old, _ := http.NewRequest("GET", cp.URL+"/gateway/v1/config", nil)
	old.Header.Set("Authorization", "GatewayKey "+token1)
	if resp, err := http.DefaultClient.Do(old); err != nil || resp.StatusCode != 401 {
		t.Fatalf("the old token after regenerateKey: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	v0 = gw.facts().Snapshot.Current
	os.WriteFile(xml, []byte(policyDoc("", `<return-response><set-status code="200" reason="Get GKE"/><set-body>Hello again</set-body></return-response>`)), 0o644)
	cp.ctl("policies", "set", "--api", "hybrid", "--xml", xml)
	if _, ok := pollFor(5*time.Second, func() bool { return gw.facts().Snapshot.Current != v0 }); !ok {
		t.Fatalf("no sync after the key was regenerated: %+v", gw.facts().ControlPlane)
	}
	if a := c.get(url, key); a.body != "Hello again" {
		t.Fatalf("after the change: %d %q", a.status, a.body)
	}
	if _, ok := pollFor(5*time.Second, func() bool {
		st = cp.gatewayStatus("gw1")
		return st.State == "connected" && st.LastConfigRequest.After(regen) && st.LastHeartbeat.After(regen)
	}); !ok {
		t.Fatalf("gw1 after the new token: %+v", st)
	}

	// 7b. An expired token (properly signed): still serving, status says expired.
	var keys struct{ Secondary string }
	json.Unmarshal(cp.mustARM("POST", "/gateways/gw1/listKeys", nil, 200), &keys)
	gw.writeConf(wire.SignToken(keys.Secondary, "gw1", time.Now().Add(-time.Hour)))
	var f gwFacts
	if _, ok := pollFor(5*time.Second, func() bool { f = gw.facts(); return f.TokenState == "expired" }); !ok {
		t.Fatalf("status after an expired token: %+v", f)
	}
	for range 5 {
		if a := c.get(url, key); a.status != 200 || a.body != "Hello again" {
			t.Fatalf("with an expired token: %d %q", a.status, a.body)
		}
	}
	if _, ok := pollFor(10*time.Second, func() bool { f = gw.facts(); return !f.ControlPlane.Connected }); !ok {
		t.Errorf("the status still says connected with an expired token: %+v", f.ControlPlane)
	}
	if !strings.Contains(strings.ToLower(f.ControlPlane.LastError+gw.log.String()), "expired") {
		t.Errorf("neither the status nor the log says the token expired: %+v", f.ControlPlane)
	}
	// A cold start with the expired token: served at once from the store.
	gw.stop(syscall.SIGTERM)
	gw.start()
	gw.waitReady(5 * time.Second)
	if a := c.get(url, key); a.status != 200 || a.body != "Hello again" {
		t.Fatalf("cold start with an expired token: %d %q", a.status, a.body)
	}
	if f = gw.facts(); f.TokenState != "expired" {
		t.Errorf("cold start with an expired token: token state %q", f.TokenState)
	}

	// 7c. The telemetry of the requests served with the expired token was
	// queued: a valid token in env.conf delivers it, nothing lost.
	json.Unmarshal(cp.ctl("-o", "json", "gateway", "token", "gw1", "--expiry", "720h", "--key", "secondary"), &tok)
	gw.writeConf(tok.Value)
	want = c.n.Load()
	took, ok = pollFor(10*time.Second, func() bool { return cp.calls("gw1") == want })
	if !ok {
		t.Fatalf("after a valid token again apimcp counts %d, want %d (gateway %+v)", cp.calls("gw1"), want, gw.facts())
	}
	if f = gw.facts(); f.TokenState != "ok" {
		t.Errorf("token state after a valid token: %q", f.TokenState)
	}
	t.Logf("step 7: the queued telemetry of the expired-token time counted %v after a valid token was written", took.Round(time.Millisecond))
	t.Logf("walkthrough: %d data-plane requests, %v in all", c.n.Load(), time.Since(testStart).Round(time.Millisecond))
}
