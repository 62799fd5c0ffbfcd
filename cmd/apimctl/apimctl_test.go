package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apimgw/apimgw/controlplane"
	"github.com/apimgw/apimgw/wire"
)

const adminToken = "apimctl-test-token-0123456789"

var runMu sync.Mutex // run() writes to the package-level stdout

// startServer runs the real control plane over HTTP on 127.0.0.1:0 and
// points APIMCTL_SERVER/APIMCTL_TOKEN at it.
func startServer(t *testing.T) (*controlplane.Store, string) {
	t.Helper()
	st, err := controlplane.Open(filepath.Join(t.TempDir(), controlplane.DataFile), controlplane.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: controlplane.NewHandler(st, controlplane.HandlerOptions{AdminToken: adminToken})}
	go srv.Serve(ln)
	t.Cleanup(func() { st.Close(); srv.Close() })
	url := "http://" + ln.Addr().String()
	t.Setenv("APIMCTL_SERVER", url)
	t.Setenv("APIMCTL_TOKEN", adminToken)
	return st, url
}

// ctl runs apimctl in-process and returns exit code and standard output.
func ctl(t *testing.T, args ...string) (int, string) {
	t.Helper()
	runMu.Lock()
	defer runMu.Unlock()
	var buf bytes.Buffer
	stdout = &buf
	defer func() { stdout = os.Stdout }()
	code := run(args)
	return code, buf.String()
}

func mustCtl(t *testing.T, args ...string) string {
	t.Helper()
	code, out := ctl(t, args...)
	if code != 0 {
		t.Fatalf("apimctl %v: exit %d, output %s", args, code, out)
	}
	return out
}

func TestResourcesAndExitCodes(t *testing.T) {
	_, url := startServer(t)
	mustCtl(t, "api", "create", "echo", "--path", "echo", "--service-url", "http://127.0.0.1:9", "--protocols", "http,https", "--display-name", "Echo")
	mustCtl(t, "operation", "create", "--api", "echo", "get-item", "--method", "get", "--url-template", "/items/{id}")
	mustCtl(t, "product", "create", "p1", "--state", "published")
	mustCtl(t, "product", "add-api", "p1", "echo")
	mustCtl(t, "subscription", "create", "s1", "--scope", "/products/p1", "--primary-key", "pk-0123456789")
	mustCtl(t, "namedvalue", "create", "pw", "--value", "hunter2", "--secret", "true")
	mustCtl(t, "backend", "create", "b1", "--url", "http://127.0.0.1:7")
	xml := filepath.Join(t.TempDir(), "f.xml")
	os.WriteFile(xml, []byte(`<fragment><set-header name="x" exists-action="override"><value>{{pw}}</value></set-header></fragment>`), 0o644)
	mustCtl(t, "fragment", "create", "f1", "--xml", xml, "--description", "adds x")
	pol := filepath.Join(t.TempDir(), "p.xml")
	os.WriteFile(pol, []byte(`<policies><inbound><include-fragment fragment-id="f1"/></inbound></policies>`), 0o644)
	mustCtl(t, "policies", "set", "--api", "echo", "--operation", "get-item", "--xml", pol)
	if out := mustCtl(t, "policies", "get", "--api", "echo", "--operation", "get-item"); !strings.Contains(out, "include-fragment") {
		t.Fatalf("policies get: %s", out)
	}
	mustCtl(t, "gateway", "create", "gw1", "--location", "edge")
	mustCtl(t, "gateway", "assign", "gw1", "echo")

	// Tables for people.
	out := mustCtl(t, "api", "list")
	if !strings.Contains(out, "NAME") || !strings.Contains(out, "echo") || !strings.Contains(out, "http://127.0.0.1:9") {
		t.Fatalf("api list:\n%s", out)
	}
	if out := mustCtl(t, "namedvalue", "list"); !strings.Contains(out, "(secret)") || strings.Contains(out, "hunter2") {
		t.Fatalf("namedvalue list:\n%s", out)
	}
	if out := mustCtl(t, "namedvalue", "value", "pw"); strings.TrimSpace(out) != "hunter2" {
		t.Fatalf("namedvalue value: %q", out)
	}
	// JSON for scripts: the server's ARM document.
	var r struct {
		Name       string
		Properties map[string]any
	}
	if err := json.Unmarshal([]byte(mustCtl(t, "operation", "get", "get-item", "--api", "echo", "-o", "json")), &r); err != nil {
		t.Fatal(err)
	}
	if r.Name != "get-item" || r.Properties["method"] != "GET" || r.Properties["urlTemplate"] != "/items/{id}" {
		t.Fatalf("operation get -o json: %+v", r)
	}
	// Flags before the command, and update (PATCH) keeps other properties.
	mustCtl(t, "--server", url, "-o", "table", "api", "update", "echo", "--display-name", "Echo 2")
	if out := mustCtl(t, "api", "get", "echo", "-o", "json"); !strings.Contains(out, `"displayName": "Echo 2"`) || !strings.Contains(out, `"serviceUrl": "http://127.0.0.1:9"`) {
		t.Fatalf("after update: %s", out)
	}
	// -f JSON file, both shapes.
	f := filepath.Join(t.TempDir(), "api.json")
	os.WriteFile(f, []byte(`{"properties":{"path":"two","displayName":"Two"}}`), 0o644)
	mustCtl(t, "api", "create", "two", "-f", f)
	os.WriteFile(f, []byte(`{"path":"three"}`), 0o644)
	mustCtl(t, "api", "create", "three", "-f", f, "--display-name", "Three")
	if out := mustCtl(t, "api", "get", "three", "-o", "json"); !strings.Contains(out, `"displayName": "Three"`) {
		t.Fatalf("-f plus flags: %s", out)
	}
	if out := mustCtl(t, "subscription", "keys", "s1"); !strings.Contains(out, "pk-0123456789") {
		t.Fatalf("keys: %s", out)
	}
	mustCtl(t, "subscription", "regenerate", "s1", "--key", "secondary")

	// Exit codes.
	codes := []struct {
		args []string
		want int
	}{
		{[]string{"api", "get", "nope"}, exitNotFound},
		{[]string{"api", "create", "bad", "--path", "a b"}, exitRejected},
		{[]string{"namedvalue", "delete", "pw"}, exitRejected}, // used by f1
		{[]string{"--token", "wrong", "api", "list"}, exitAuth},
		{[]string{"--server", "http://127.0.0.1:1", "api", "list"}, exitUnreachable},
		{[]string{"api", "frobnicate"}, exitUsage},
		{[]string{"nosuchcommand"}, exitUsage},
		{[]string{"api", "get"}, exitUsage},
		{[]string{"operation", "list"}, exitUsage}, // --api missing
		{[]string{"api", "create", "x", "--subscription-required", "maybe"}, exitUsage},
		{[]string{"gateway", "token", "gw1", "--expiry", "2000h"}, exitUsage},
		{[]string{"api", "list", "-o", "yaml"}, exitUsage},
	}
	for _, c := range codes {
		if code, _ := ctl(t, c.args...); code != c.want {
			t.Errorf("apimctl %v: exit %d, want %d", c.args, code, c.want)
		}
	}
	// Delete, then delete again.
	if out := mustCtl(t, "api", "delete", "three"); !strings.Contains(out, "deleted api three") {
		t.Fatal(out)
	}
	if out := mustCtl(t, "api", "delete", "three"); !strings.Contains(out, "did not exist") {
		t.Fatal(out)
	}
}

func TestGatewayTokenAndExport(t *testing.T) {
	st, _ := startServer(t)
	mustCtl(t, "api", "create", "echo", "--path", "echo")
	mustCtl(t, "gateway", "create", "gw1")
	mustCtl(t, "gateway", "assign", "gw1", "echo")
	out := strings.TrimSpace(mustCtl(t, "gateway", "token", "gw1", "--expiry", "720h"))
	if !strings.HasPrefix(out, "GatewayKey gw1&") {
		t.Fatalf("token %q", out)
	}
	tok, err := wire.ParseToken(out)
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := st.ListGatewayKeys("gw1")
	if err := tok.Verify(keys.Primary, time.Now()); err != nil {
		t.Fatalf("token does not verify: %v", err)
	}
	if d := time.Until(tok.Expiry); d < 719*time.Hour || d > 720*time.Hour {
		t.Fatalf("expiry in %v", d)
	}
	if gw, err := st.AuthenticateGateway(out); err != nil || gw != "gw1" {
		t.Fatalf("control plane refuses the token: %v", err)
	}
	// gw export: the snapshot the gateway would get, verifiable, to stdout or a file.
	out = mustCtl(t, "gw", "export", "--gateway", "gw1")
	s, err := wire.Decode([]byte(out))
	if err != nil {
		t.Fatalf("export does not decode: %v", err)
	}
	body, _, _, _ := st.Snapshot("gw1")
	want, _ := wire.Decode(body)
	if s.Checksum != want.Checksum || len(s.APIs) != 1 {
		t.Fatalf("export differs from the gateway's snapshot")
	}
	file := filepath.Join(t.TempDir(), "snapshot.json")
	mustCtl(t, "gw", "export", "--gateway", "gw1", "--out", file)
	b, _ := os.ReadFile(file)
	if _, err := wire.DecodeLocal(b); err != nil {
		t.Fatal(err)
	}
	if code, _ := ctl(t, "gw", "export", "--gateway", "nope"); code != exitNotFound {
		t.Fatalf("export of unknown gateway: %d", code)
	}
	if code, _ := ctl(t, "gw", "frob"); code != exitUsage {
		t.Fatal("gw frob")
	}
}

func TestImportOpenAPIAndAPIOps(t *testing.T) {
	startServer(t)
	spec := "../../controlplane/importer/testdata/petstore-refs.yaml"
	out := mustCtl(t, "import", "openapi", spec, "--api", "pets", "--path", "pets")
	if !strings.Contains(out, "6 operations: 7 created") {
		t.Fatalf("first import: %s", out)
	}
	if out := mustCtl(t, "import", "openapi", spec, "--api", "pets", "--path", "pets"); !strings.Contains(out, "0 created, 0 updated, 7 unchanged") {
		t.Fatalf("second import: %s", out)
	}
	if out := mustCtl(t, "api", "get", "pets", "-o", "json"); !strings.Contains(out, `"serviceUrl": "https://pets.example.com:8443/v1"`) {
		t.Fatalf("servers → service URL: %s", out)
	}
	// A re-import of a smaller document removes the operations it lost.
	small := filepath.Join(t.TempDir(), "small.json")
	os.WriteFile(small, []byte(`{"openapi":"3.1.0","paths":{"/pets":{"get":{"operationId":"listPets"}}}}`), 0o644)
	out = mustCtl(t, "import", "openapi", small, "--api", "pets", "--path", "pets", "--service-url", "http://127.0.0.1:5")
	if !strings.Contains(out, "deleted operation getPhoto") {
		t.Fatalf("shrinking import: %s", out)
	}
	if out := mustCtl(t, "operation", "list", "--api", "pets"); strings.Count(out, "\n") != 2 {
		t.Fatalf("operations after shrinking:\n%s", out)
	}
	if code, _ := ctl(t, "import", "openapi", small, "--api", "x"); code != exitUsage {
		t.Fatal("missing --path accepted")
	}
	if code, _ := ctl(t, "import", "openapi", filepath.Join(sharedDir(t, "corpus/openapi"), "webhook-example.yaml"), "--api", "w", "--path", "w"); code == 0 {
		t.Fatal("webhook-only document imported")
	}

	// APIOps: the sample folder, read in place; a second import changes nothing.
	dir := sharedDir(t, "corpus/apiops-sample")
	out = mustCtl(t, "import", "apiops", dir)
	if !strings.Contains(out, "35 resources: 35 created") {
		t.Fatalf("apiops import: %s", out)
	}
	before := mustCtl(t, "api", "list", "-o", "json") + mustCtl(t, "subscription", "list", "-o", "json") + mustCtl(t, "product", "list", "-o", "json")
	out = mustCtl(t, "import", "apiops", dir)
	if !strings.Contains(out, "0 created, 0 updated, 35 unchanged") {
		t.Fatalf("second apiops import: %s", out)
	}
	after := mustCtl(t, "api", "list", "-o", "json") + mustCtl(t, "subscription", "list", "-o", "json") + mustCtl(t, "product", "list", "-o", "json")
	if before != after {
		t.Fatal("second import changed resources")
	}
	if out := mustCtl(t, "operation", "list", "--api", "basic-api"); !strings.Contains(out, "get-items") || !strings.Contains(out, "create-item") {
		t.Fatalf("basic-api operations:\n%s", out)
	}
	if out := mustCtl(t, "policies", "get"); !strings.Contains(out, `<include-fragment fragment-id="policyFragment1" />`) {
		t.Fatalf("global policy: %s", out)
	}
}

func TestReport(t *testing.T) {
	st, _ := startServer(t)
	mustCtl(t, "gateway", "create", "gw1")
	now := time.Now().UTC().Truncate(time.Second)
	b := &wire.TelemetryBatch{ProtocolVersion: 1, Gateway: "gw1", Stream: "s", Sequence: 2, Records: []wire.TelemetryRecord{
		{Seq: 1, Time: now, API: "echo", Method: "GET", Status: 200, TotalMicros: 2000, BytesIn: 10, BytesOut: 20},
		{Seq: 2, Time: now, API: "echo", Method: "GET", Status: 429, TotalMicros: 4000, BytesIn: 1, BytesOut: 2},
	}}
	if _, err := st.Ingest("gw1", controlplane.RawBatchOf(b)); err != nil {
		t.Fatal(err)
	}
	out := mustCtl(t, "report", "byApi", "--from", now.Add(-time.Minute).Format(time.RFC3339), "--to", now.Add(time.Minute).Format(time.RFC3339))
	fields := strings.Fields(strings.Split(strings.TrimSpace(out), "\n")[1])
	if strings.Join(fields, " ") != "echo 2 1 1 0 0 33 3.0 4.0 4.0" {
		t.Fatalf("report byApi:\n%s", out)
	}
	if out := mustCtl(t, "report", "byTime", "--interval", "PT1M", "-o", "json"); !strings.Contains(out, `"interval": "PT1M"`) {
		t.Fatalf("byTime: %s", out)
	}
	if code, _ := ctl(t, "report", "byApi", "--from", "yesterday"); code != exitUsage {
		t.Fatal("bad --from accepted")
	}
}

// TestBinaryExitCodes runs the real apimctl binary: exit codes and messages
// reach the shell.
func TestBinaryExitCodes(t *testing.T) {
	startServer(t)
	bin := filepath.Join(t.TempDir(), "apimctl")
	if dir := os.Getenv("APIMGW_BIN"); dir != "" && fileExists(filepath.Join(dir, "apimctl")) {
		bin = filepath.Join(dir, "apimctl")
	} else if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cases := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"api", "create", "echo", "--path", "echo"}, 0, "created api echo", ""},
		{[]string{"api", "get", "nope"}, 3, "", `apimctl: 404 Not Found (ResourceNotFound): API "nope" was not found.`},
		{[]string{"api", "create", "bad", "--path", "x?"}, 4, "", "properties.path"},
		{[]string{"--server", "http://127.0.0.1:1", "api", "list"}, 6, "", "cannot reach the control plane"},
		{[]string{"version"}, 0, "apimctl", ""},
	}
	for _, c := range cases {
		cmd := exec.Command(bin, c.args...)
		var so, se bytes.Buffer
		cmd.Stdout, cmd.Stderr = &so, &se
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != c.code || !strings.Contains(so.String(), c.stdout) || !strings.Contains(se.String(), c.stderr) {
			t.Errorf("apimctl %v: exit %d stdout %q stderr %q", c.args, code, so.String(), se.String())
		}
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// TestCA: an https control plane with a private CA is reached with --ca.
func TestCA(t *testing.T) {
	st, err := controlplane.Open(filepath.Join(t.TempDir(), controlplane.DataFile), controlplane.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cp"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: controlplane.NewHandler(st, controlplane.HandlerOptions{AdminToken: adminToken}),
		ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(ln)
	t.Cleanup(func() { st.Close(); srv.Close() })
	t.Setenv("APIMCTL_SERVER", "https://"+ln.Addr().String())
	t.Setenv("APIMCTL_TOKEN", adminToken)
	if code, _ := ctl(t, "api", "list"); code != exitUnreachable {
		t.Fatalf("untrusted certificate accepted: exit %d", code)
	}
	if code, out := ctl(t, "--ca", caFile, "api", "list"); code != 0 || !strings.Contains(out, "NAME") {
		t.Fatalf("with --ca: exit %d %s", code, out)
	}
	if code, _ := ctl(t, "--ca", filepath.Join(dir, "nope.pem"), "api", "list"); code == 0 {
		t.Fatal("unreadable --ca accepted")
	}
}
