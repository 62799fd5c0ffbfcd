package gateway_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apimgw/apimgw/wire"
)

// apimgwBinary returns the real apimgw binary: $APIMGW_BIN/apimgw (make test
// builds it) or one built here.
func apimgwBinary(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("APIMGW_BIN"); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "apimgw")); err == nil {
			return filepath.Join(dir, "apimgw")
		}
	}
	bin := filepath.Join(t.TempDir(), "apimgw")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/apimgw/apimgw/cmd/apimgw").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

const snapshotTmpl = `{
  "protocolVersion": 1, "version": %d, "generatedAt": "2026-11-26T00:00:00Z", "checksum": "",
  "apis": [{"id": "echo", "path": %q, "serviceUrl": %q, "protocols": ["http", "https"], "subscriptionRequired": false,
    "subscriptionKeyParameterNames": {"header": "", "query": ""},
    "operations": [{"id": "any", "method": "*", "urlTemplate": "/{*rest}", "templateParameters": [{"name": "rest"}]}]}],
  "products": [], "subscriptions": [], "policyFragments": [], "namedValues": [], "backends": []
}`

type daemon struct {
	t      *testing.T
	dir    string
	cmd    *exec.Cmd
	data   string // data plane base URL
	status string // status page base URL
	logMu  sync.Mutex
	log    strings.Builder
	notify *net.UnixConn
	exited chan error
	// wrap, when set, runs the binary under this command (e.g. chrt).
	wrap []string
}

func (d *daemon) start(env ...string) {
	t := d.t
	args := append(append([]string(nil), d.wrap...), apimgwBinary(t), "--config", filepath.Join(d.dir, "env.conf"))
	d.cmd = exec.Command(args[0], args[1:]...)
	d.cmd.Env = append(os.Environ(), env...)
	stderr, _ := d.cmd.StderrPipe()
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d.exited = make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			d.logMu.Lock()
			d.log.WriteString(sc.Text() + "\n")
			d.logMu.Unlock()
		}
		d.exited <- d.cmd.Wait()
	}()
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			d.cmd.Process.Kill()
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(d.status + "/healthz"); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("apimgw did not come up:\n%s", d.logs())
}

func (d *daemon) logs() string {
	d.logMu.Lock()
	defer d.logMu.Unlock()
	return d.log.String()
}

func (d *daemon) stop(sig syscall.Signal) error {
	d.cmd.Process.Signal(sig)
	select {
	case err := <-d.exited:
		return err
	case <-time.After(15 * time.Second):
		d.t.Fatalf("apimgw did not stop on %v", sig)
		return nil
	}
}

func newDaemon(t *testing.T, backend string, extra string) *daemon {
	d := &daemon{t: t, dir: t.TempDir()}
	data, st := e2ePort(t), e2ePort(t)
	d.data, d.status = "http://"+data, "http://"+st
	d.writeSnapshot(1, "echo", backend)
	conf := fmt.Sprintf("# test gateway\nconfig.local.path=%s\nlisten.http=%s\nstatus.listen=%s\nstore.path=%s\n%s",
		filepath.Join(d.dir, "snapshot.json"), data, st, filepath.Join(d.dir, "state", "apimgw.db"), extra)
	if err := os.WriteFile(filepath.Join(d.dir, "env.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

// writeSnapshot replaces the snapshot file the way editors do: write a new
// file, rename it over the old one.
func (d *daemon) writeSnapshot(version int, path, backend string) {
	tmp := filepath.Join(d.dir, "snapshot.json.tmp")
	os.WriteFile(tmp, []byte(fmt.Sprintf(snapshotTmpl, version, path, backend)), 0o644)
	if err := os.Rename(tmp, filepath.Join(d.dir, "snapshot.json")); err != nil {
		d.t.Fatal(err)
	}
}

func statusOf(t *testing.T, url string) int {
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func eventually(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if ok() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("not within %v: %s", within, what)
}

func backend(t *testing.T) *httptest.Server {
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "backend saw %s %s", r.Method, r.URL.RequestURI())
	}))
	t.Cleanup(b.Close)
	return b
}

func TestStandaloneLifecycle(t *testing.T) {
	b := backend(t)
	d := newDaemon(t, b.URL, "")
	d.start()
	if st := statusOf(t, d.data+"/echo/a?b=1"); st != 200 {
		t.Fatalf("first request: %d\n%s", st, d.logs())
	}
	if st := statusOf(t, d.data+"/status-0123456789abcdef"); st != 200 {
		t.Fatalf("probe: %d", st)
	}
	// An edited snapshot applies within a second, no restart.
	start := time.Now()
	d.writeSnapshot(2, "renamed", b.URL)
	eventually(t, 2*time.Second, "the edited snapshot serves", func() bool { return statusOf(t, d.data+"/renamed/x") == 200 })
	t.Logf("edited snapshot served after %v", time.Since(start))
	// A broken one is refused: the last good one keeps serving, and the status says why.
	os.WriteFile(filepath.Join(d.dir, "snapshot.json"), []byte(`{"protocolVersion": 1, "apis": [`), 0o644)
	eventually(t, 2*time.Second, "the refusal is reported", func() bool {
		return strings.Contains(d.logs(), "standalone snapshot not applied")
	})
	if st := statusOf(t, d.data+"/renamed/x"); st != 200 {
		t.Fatalf("after a broken snapshot: %d", st)
	}
	var facts struct {
		Ready        bool `json:"ready"`
		ControlPlane struct {
			LastError string `json:"lastError"`
		} `json:"controlPlane"`
		Snapshot struct {
			Current string `json:"current"`
		} `json:"snapshot"`
	}
	resp, err := http.Get(d.status + "/status.json")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&facts)
	resp.Body.Close()
	if !facts.Ready || facts.Snapshot.Current != "2" || !strings.Contains(facts.ControlPlane.LastError, "snapshot.json") {
		t.Fatalf("status: %+v", facts)
	}
	if err := d.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, d.logs())
	}

	// Cold start in hybrid mode with the control plane unreachable: the stored
	// snapshot serves at once.
	os.Remove(filepath.Join(d.dir, "snapshot.json"))
	conf, _ := os.ReadFile(filepath.Join(d.dir, "env.conf"))
	hybrid := strings.Replace(string(conf), "config.local.path=", "#config.local.path=", 1) +
		"config.service.endpoint=http://127.0.0.1:1\nconfig.service.auth=GatewayKey " +
		wire.SignToken("gateway-key", "gw1", time.Now().Add(240*time.Hour)) + "\n"
	os.WriteFile(filepath.Join(d.dir, "env.conf"), []byte(hybrid), 0o644)
	d.start()
	if st := statusOf(t, d.data+"/renamed/x"); st != 200 {
		t.Fatalf("cold start from the store: %d\n%s", st, d.logs())
	}
	// Roll back to snapshot 1 from the status page (scripted form): it serves
	// at once; an unknown version is refused and changes nothing.
	rollback := func(version string) int {
		req, _ := http.NewRequest("POST", d.status+"/rollback", strings.NewReader(`{"version":"`+version+`"}`))
		req.Header.Set("X-Apimgw-Action", "rollback")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := rollback("1"); st >= 300 {
		t.Fatalf("rollback to 1: %d\n%s", st, d.logs())
	}
	if statusOf(t, d.data+"/echo/x") != 200 || statusOf(t, d.data+"/renamed/x") != 404 {
		t.Fatalf("after the rollback the old snapshot does not serve")
	}
	if st := rollback("99"); st != 404 {
		t.Fatalf("rollback to an unknown version: %d", st)
	}
	if statusOf(t, d.data+"/echo/x") != 200 {
		t.Fatal("a refused rollback changed what serves")
	}
	d.stop(syscall.SIGKILL)
}

func TestNoConfiguration(t *testing.T) {
	d := newDaemon(t, "http://127.0.0.1:1", "")
	os.Remove(filepath.Join(d.dir, "snapshot.json"))
	d.start()
	if st := statusOf(t, d.data+"/status-0123456789abcdef"); st != 503 {
		t.Fatalf("probe without a configuration: %d", st)
	}
	if st := statusOf(t, d.status+"/readyz"); st == 200 {
		t.Fatalf("readyz without a configuration: %d", st)
	}
	// The file appears: served without a restart.
	d.writeSnapshot(1, "echo", backend(t).URL)
	eventually(t, 2*time.Second, "the new file serves", func() bool { return statusOf(t, d.data+"/echo/x") == 200 })
	d.stop(syscall.SIGTERM)
}

func TestBadEnvConf(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "env.conf")
	os.WriteFile(path, []byte("listen.http=127.0.0.1:0\nthis line has no equals sign\n"), 0o644)
	out, err := exec.Command(apimgwBinary(t), "--config", path).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "env.conf:2") {
		t.Fatalf("bad env.conf: %v %s", err, out)
	}
}

// TestSystemdNotify: READY, RELOADING (with MONOTONIC_USEC) then READY on
// SIGHUP, STOPPING on SIGTERM, through a real NOTIFY_SOCKET.
func TestSystemdNotify(t *testing.T) {
	sockDir, err := os.MkdirTemp("", "sd")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(sockDir)
	sock := filepath.Join(sockDir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msgs := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := conn.ReadFromUnix(buf)
			if err != nil {
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	waitFor := func(what string) string {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case m := <-msgs:
				if strings.Contains(m, what) {
					return m
				}
			case <-deadline:
				t.Fatalf("no %s from apimgw", what)
			}
		}
	}
	d := newDaemon(t, backend(t).URL, "")
	d.start("NOTIFY_SOCKET=" + sock)
	if m := waitFor("READY=1"); !strings.Contains(m, "STATUS=serving snapshot 1") {
		t.Errorf("READY message: %q", m)
	}
	d.cmd.Process.Signal(syscall.SIGHUP)
	if m := waitFor("RELOADING=1"); !strings.Contains(m, "MONOTONIC_USEC=") {
		t.Errorf("RELOADING message: %q", m)
	}
	waitFor("READY=1")
	d.cmd.Process.Signal(syscall.SIGTERM)
	waitFor("STOPPING=1")
	if err := <-d.exited; err != nil {
		t.Fatalf("exit: %v", err)
	}
}
