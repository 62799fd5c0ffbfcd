// Package testredis starts a throwaway redis-server (Debian's redis-server
// package) on a loopback port for tests, and can kill and restart it on the
// same port. It is imported by _test.go files only, never by a binary.
//
// When redis-server is not installed the test fails if CI is set (make test
// installs it through scripts/deps.sh redis; a test that never runs proves
// nothing) and is skipped with a message saying what did not run otherwise.
package testredis

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Server is one redis-server child process.
type Server struct {
	t    testing.TB
	args []string
	// CAFile is the PEM CA that signed a TLS server's certificate
	// (StartTLS); "" for a plain one.
	CAFile string
	tls    *tls.Config
	bin    string
	dir    string
	Port   int
	cmd    *exec.Cmd
}

// Start runs redis-server on 127.0.0.1 and a free port, without persistence,
// with extra arguments (e.g. "--requirepass", "pw"), and stops it when the
// test ends.
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	return startWith(t, nil, "", extra)
}

func startWith(t testing.TB, tc *tls.Config, caFile string, args []string) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redis-server is not installed and CI is set, so this test may not be skipped: scripts/deps.sh redis installs it")
		}
		t.Skipf("NOT TESTED: redis-server is not installed (apt-get install redis-server, or scripts/deps.sh redis)")
	}
	s := &Server{t: t, args: args, bin: bin, dir: t.TempDir(), Port: freePort(t), tls: tc, CAFile: caFile}
	s.Restart()
	t.Cleanup(s.Kill)
	return s
}

// URL is redis://127.0.0.1:PORT/0 (rediss:// for a TLS server).
func (s *Server) URL() string {
	if s.tls != nil {
		return fmt.Sprintf("rediss://127.0.0.1:%d/0", s.Port)
	}
	return fmt.Sprintf("redis://127.0.0.1:%d/0", s.Port)
}

// StartTLS is Start for a server that speaks TLS only, with a certificate
// for 127.0.0.1 signed by a fresh CA (CAFile) and no client certificates.
func StartTLS(t testing.TB, extra ...string) *Server {
	t.Helper()
	dir := t.TempDir()
	caFile, certFile, keyFile, pool := makeCerts(t, dir)
	return startWith(t, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}, caFile,
		append([]string{"--tls-cert-file", certFile, "--tls-key-file", keyFile, "--tls-ca-cert-file", caFile, "--tls-auth-clients", "no"}, extra...))
}

// Addr is 127.0.0.1:PORT.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// Kill stops the server with SIGKILL (nothing is saved) and waits for it.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

// Restart starts the server again on the same port (after Kill), empty, and
// waits until it answers PING.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	ports := []string{"--port", strconv.Itoa(s.Port)}
	if s.tls != nil {
		ports = []string{"--port", "0", "--tls-port", strconv.Itoa(s.Port)}
	}
	cmd := exec.Command(s.bin, append(ports, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", s.dir, "--logfile", filepath.Join(s.dir, "redis.log"))...)
	cmd.Args = append(cmd.Args, s.args...)
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for {
		if r := s.Do("PING"); r == "PONG" || strings.HasPrefix(r, "NOAUTH") {
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			s.t.Fatalf("redis-server on port %d did not answer PING within 10s; its log:\n%s", s.Port, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Do sends one command (inline arguments without spaces) and returns the
// first line of the answer without its type byte, or "" if Redis does not
// answer. Enough for PING, FLUSHALL, GET and KEYS counts in tests.
func (s *Server) Do(args ...string) string {
	if i := indexOf(s.args, "--requirepass"); i >= 0 && i+1 < len(s.args) && (len(args) == 0 || args[0] != "PING") {
		args = append([]string{"AUTH", s.args[i+1], "\r\n"}, args...)
	}
	var c net.Conn
	var err error
	if s.tls != nil {
		c, err = tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", s.Addr(), s.tls)
	} else {
		c, err = net.DialTimeout("tcp", s.Addr(), time.Second)
	}
	if err != nil {
		return ""
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	fmt.Fprintf(c, "%s\r\n", strings.Join(args, " "))
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil || len(line) < 3 {
		return ""
	}
	line = strings.TrimRight(line, "\r\n")
	if line[0] == '$' { // bulk string: read it
		if line == "$-1" {
			return "(nil)"
		}
		v, _ := r.ReadString('\n')
		return strings.TrimRight(v, "\r\n")
	}
	return line[1:]
}

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// makeCerts writes a CA and a server certificate for 127.0.0.1 into dir.
func makeCerts(t testing.TB, dir string) (caFile, certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "testredis CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	caFile, certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for _, f := range []struct {
		path, typ string
		der       []byte
	}{{caFile, "CERTIFICATE", caDER}, {certFile, "CERTIFICATE", der}, {keyFile, "EC PRIVATE KEY", keyDER}} {
		if err := os.WriteFile(f.path, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pool = x509.NewCertPool()
	pool.AddCert(ca)
	return caFile, certFile, keyFile, pool
}
