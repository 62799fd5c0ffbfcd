package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// binary returns the apimcp binary: $APIMGW_BIN/apimcp when the Makefile
// built it, else a fresh build.
func binary(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("APIMGW_BIN"); dir != "" {
		if p := filepath.Join(dir, "apimcp"); fileExists(p) {
			return p
		}
	}
	out := filepath.Join(t.TempDir(), "apimcp")
	cmd := exec.Command("go", "build", "-o", out, ".")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

type proc struct {
	cmd   *exec.Cmd
	lines []string
	url   string
}

// start runs apimcp and waits for its "listening on" line.
func start(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("apimcp exited before listening; output %v", p.lines)
			}
			p.lines = append(p.lines, l)
			if _, after, ok := strings.Cut(l, "listening on "); ok {
				p.url = after
				go func() {
					for range lines {
					}
				}()
				return p
			}
		case <-deadline:
			t.Fatalf("no listening line; output %v", p.lines)
		}
	}
}

func (p *proc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("apimcp exit: %v", err)
		}
	case <-time.After(8 * time.Second):
		t.Fatal("apimcp did not stop within 8s of SIGTERM")
	}
}

func get(t *testing.T, c *http.Client, method, url, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestBinary(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	p := start(t, bin, "--listen", "127.0.0.1:0", "--data", dir)
	tokFile := filepath.Join(dir, "admin-token")
	if !strings.Contains(p.lines[0], "generated an admin token; it is in "+tokFile) {
		t.Fatalf("first line %q", p.lines[0])
	}
	st, err := os.Stat(tokFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", err, st)
	}
	b, _ := os.ReadFile(tokFile)
	token := strings.TrimSpace(string(b))
	if strings.Contains(strings.Join(p.lines, "\n"), token) {
		t.Fatal("the token itself is printed")
	}
	if !strings.HasPrefix(p.url, "http://127.0.0.1:") || strings.HasSuffix(p.url, ":0") {
		t.Fatalf("url %q", p.url)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	if code, _ := get(t, c, "GET", p.url+"/apis", "wrong", ""); code != 401 {
		t.Fatalf("wrong token: %d", code)
	}
	if code, body := get(t, c, "PUT", p.url+"/apis/echo", token, `{"properties":{"path":"echo"}}`); code != 201 {
		t.Fatalf("PUT: %d %s", code, body)
	}
	// Policies are compiled on write by package policy's compiler.
	code, body := get(t, c, "PUT", p.url+"/apis/echo/policies/policy", token, `{"properties":{"format":"rawxml","value":"<policies><inbound><frobnicate/></inbound></policies>"}}`)
	if code != 400 || !strings.Contains(body, `"code":"ValidationError"`) || !strings.Contains(body, "line 1, column 20: \u003cfrobnicate\u003e") && !strings.Contains(body, "line 1, column 20: <frobnicate>") {
		t.Fatalf("uncompilable policy: %d %s", code, body)
	}
	// A waiting long-poll does not hold up shutdown.
	get(t, c, "PUT", p.url+"/gateways/gw1", token, "")
	code, body = get(t, c, "POST", p.url+"/gateways/gw1/generateToken", token, `{"expiry":"`+time.Now().Add(time.Hour).UTC().Format(time.RFC3339)+`"}`)
	if code != 200 {
		t.Fatalf("generateToken: %d %s", code, body)
	}
	gwTok := strings.Split(body, `"`)[3]
	go func() {
		req, _ := http.NewRequest("GET", p.url+"/gateway/v1/config?wait=60", nil)
		req.Header.Set("Authorization", "GatewayKey "+gwTok)
		req.Header.Set("If-None-Match", "*")
		if res, err := c.Do(req); err == nil {
			res.Body.Close()
		}
	}()
	time.Sleep(200 * time.Millisecond)
	p.stop(t)

	// Restart: same token file, data kept.
	p = start(t, bin, "--listen", "127.0.0.1:0", "--data", dir)
	if !strings.Contains(p.lines[0], "admin token from "+tokFile) {
		t.Fatalf("restart line %q", p.lines[0])
	}
	if code, body := get(t, c, "GET", p.url+"/apis/echo", token, ""); code != 200 || !strings.Contains(body, `"path":"echo"`) {
		t.Fatalf("after restart: %d %s", code, body)
	}
	p.stop(t)
}

func TestRefusals(t *testing.T) {
	bin := binary(t)
	cases := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--listen", "0.0.0.0:0", "--data", t.TempDir()}, 1, "refusing plain HTTP on non-loopback address"},
		{[]string{"--listen", "127.0.0.1:0"}, 2, "--data DIR is required"},
		{[]string{"--listen", "127.0.0.1:0", "--data", t.TempDir(), "--tls-cert", "x"}, 2, "go together"},
		{[]string{"--listen", "127.0.0.1:0", "--data", t.TempDir(), "--admin-token-file", "/nonexistent"}, 1, "admin token file"},
		{[]string{"--listen", "127.0.0.1:0", "--data", t.TempDir(), "--store", "mysql://db"}, 2, "--store takes a postgres://"},
		{[]string{"--listen", "127.0.0.1:0", "--data", t.TempDir(), "--store", "postgres://apim@127.0.0.1:1/x?sslmode=disable&connect_timeout=2"}, 1, "PostgreSQL at 127.0.0.1:1"},
	}
	for _, c := range cases {
		out, err := exec.Command(bin, c.args...).CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != c.code || !strings.Contains(string(out), c.msg) {
			t.Errorf("apimcp %v: %v %s", c.args, err, out)
		}
	}
}

func TestTLSAndTokenFile(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	tokFile := filepath.Join(dir, "tok")
	os.WriteFile(tokFile, []byte("my-own-admin-token-123\n"), 0o600)
	p := start(t, bin, "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"), "--tls-cert", certFile, "--tls-key", keyFile, "--admin-token-file", tokFile)
	if !strings.HasPrefix(p.url, "https://127.0.0.1:") {
		t.Fatalf("url %q", p.url)
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if code, _ := get(t, c, "GET", p.url+"/apis", "my-own-admin-token-123", ""); code != 200 {
		t.Fatalf("TLS GET: %d", code)
	}
	if fileExists(filepath.Join(dir, "data", "admin-token")) {
		t.Fatal("a token was generated although --admin-token-file was given")
	}
	p.stop(t)
}

func selfSigned(t *testing.T, dir string) (string, string, *x509.CertPool) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "apimcp-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	kb, _ := x509.MarshalECPrivateKey(key)
	cf, kf := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cf, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(kf, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return cf, kf, pool
}

// TestSecondInstanceOnSameData: a second apimcp on a data directory another
// one holds says so (as apimgw does for its store), instead of bbolt's bare
// "timeout", and exits 1.
func TestSecondInstanceOnSameData(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	first := start(t, bin, "--listen", "127.0.0.1:0", "--data", dir)
	defer first.stop(t)
	out, err := exec.Command(bin, "--listen", "127.0.0.1:0", "--data", dir).CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "another apimcp holds the data directory "+dir) {
		t.Fatalf("second apimcp on the same data: %v\n%s", err, out)
	}
}
