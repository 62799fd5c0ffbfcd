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
	"fmt"
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
	bin  string
	dir  string
	Port int
	cmd  *exec.Cmd
}

// Start runs redis-server on 127.0.0.1 and a free port, without persistence,
// with extra arguments (e.g. "--requirepass", "pw"), and stops it when the
// test ends.
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redis-server is not installed and CI is set, so this test may not be skipped: scripts/deps.sh redis installs it")
		}
		t.Skipf("NOT TESTED: redis-server is not installed (apt-get install redis-server, or scripts/deps.sh redis)")
	}
	s := &Server{t: t, args: extra, bin: bin, dir: t.TempDir(), Port: freePort(t)}
	s.Restart()
	t.Cleanup(s.Kill)
	return s
}

// URL is redis://127.0.0.1:PORT/0.
func (s *Server) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", s.Port) }

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
	cmd := exec.Command(s.bin, "--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", s.dir, "--logfile", filepath.Join(s.dir, "redis.log"))
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
	c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
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
