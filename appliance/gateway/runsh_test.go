package gateway_test

// scripts/run.sh (make run) with the real binaries, in a temporary RUN_DIR on
// free ports: a second start leaves a running stack alone and fails, parts
// stop and start on their own, and a start that fails never says "running".

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// needTool skips without name unless the run must be complete (CI=true or
// APIMGW_E2E_REQUIRE), where it fails.
func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") == "true" || os.Getenv("APIMGW_E2E_REQUIRE") != "" {
			t.Fatalf("%s is not installed: scripts/run.sh needs it (scripts/deps.sh test e2e)", name)
		}
		t.Skipf("%s is not installed (make test-e2e installs it): scripts/run.sh needs it", name)
	}
}

type runSh struct {
	t   *testing.T
	env []string
	dir string
	gw  string // data plane base URL
}

// run runs scripts/run.sh with args and returns its exit code, stdout and stderr.
func (r *runSh) run(args ...string) (int, string, string) {
	r.t.Helper()
	script, err := filepath.Abs("../../scripts/run.sh")
	if err != nil {
		r.t.Fatal(err)
	}
	cmd := exec.Command(script, args...)
	cmd.Env = r.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		r.t.Fatalf("run.sh %v: %v", args, err)
	}
	return code, out.String(), errb.String()
}

func (r *runSh) must(args ...string) string {
	r.t.Helper()
	code, out, errs := r.run(args...)
	if code != 0 {
		r.t.Fatalf("run.sh %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func (r *runSh) get(key string) int {
	req, _ := http.NewRequest("GET", r.gw+"/hybrid/test", nil)
	req.Header.Set("Ocp-Apim-Subscription-Key", key)
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestRunScript(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end with the real binaries")
	}
	needTool(t, "python3")
	needTool(t, "curl")
	needTool(t, "setsid")
	bin := e2eBinaries(t)
	port := func() string { _, p, _ := net.SplitHostPort(e2ePort(t)); return p }
	r := &runSh{t: t, dir: t.TempDir()}
	gwPort := port()
	r.gw = "http://127.0.0.1:" + gwPort
	r.env = append(os.Environ(), "RUN_DIR="+r.dir, "BIN_DIR="+bin,
		"CP_PORT="+port(), "GW_PORT="+gwPort, "STATUS_PORT="+port(), "BE_PORT="+port())
	t.Cleanup(func() {
		r.run("stop")
		if t.Failed() {
			for _, f := range []string{"apimcp.log", "apimgw.log", "backend.log"} {
				b, _ := os.ReadFile(filepath.Join(r.dir, f))
				t.Logf("%s:\n%s", f, b)
			}
		}
	})

	// 1. A start: the banner says how to take each part down and up.
	out := r.must("start")
	for _, want := range []string{"apimgw is running", "scripts/run.sh stop cp", "scripts/run.sh restart gw", "scripts/run.sh start cp", "stops everything"} {
		if !strings.Contains(out, want) {
			t.Fatalf("banner lacks %q:\n%s", want, out)
		}
	}
	m := regexp.MustCompile(`Ocp-Apim-Subscription-Key: ([0-9a-f]+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no subscription key in the banner:\n%s", out)
	}
	key := m[1]
	if st := r.get(key); st != 200 {
		t.Fatalf("gateway after start: %d", st)
	}
	conf, _ := os.ReadFile(filepath.Join(r.dir, "env.conf"))
	logInfo, _ := os.Stat(filepath.Join(r.dir, "apimgw.log"))

	// 2. A second start, in the background or the foreground (make run),
	// leaves the running stack alone and says how to stop it.
	for _, args := range [][]string{{"start"}, {}} {
		code, out, errs := r.run(args...)
		if code != 1 || strings.Contains(out, "apimgw is running") || !strings.Contains(errs, "already running") || !strings.Contains(errs, "scripts/run.sh stop") {
			t.Fatalf("second run.sh %v: exit %d\nstdout %s\nstderr %s", args, code, out, errs)
		}
	}
	if now, _ := os.ReadFile(filepath.Join(r.dir, "env.conf")); !bytes.Equal(now, conf) {
		t.Fatal("a refused second start rewrote env.conf")
	}
	if li, _ := os.Stat(filepath.Join(r.dir, "apimgw.log")); li.Size() < logInfo.Size() {
		t.Fatal("a refused second start truncated the gateway's log")
	}
	if st := r.get(key); st != 200 {
		t.Fatalf("the first stack after a refused second start: %d", st)
	}

	// 3. The README's story: control plane down, gateway restarted, it serves
	// at once; the control plane comes back.
	r.must("stop", "cp")
	if st := r.get(key); st != 200 {
		t.Fatalf("control plane down: %d", st)
	}
	if out := r.must("restart", "gw"); !strings.Contains(out, "restarted the gateway") {
		t.Fatalf("restart gw: %s", out)
	}
	if st := r.get(key); st != 200 {
		t.Fatalf("gateway restarted while the control plane is down: %d", st)
	}
	r.must("start", "cp")
	if code, _, errs := r.run("start", "cp"); code != 1 || !strings.Contains(errs, "already running") {
		t.Fatalf("start of a running part: %d %s", code, errs)
	}
	if out := r.must("status"); strings.Count(out, "running (pid") != 3 {
		t.Fatalf("status:\n%s", out)
	}

	// 4. A part that cannot start (its store is locked by another process)
	// is reported with its log, exit 1, and not left half-running.
	r.must("stop", "gw")
	db, err := bolt.Open(filepath.Join(r.dir, "apimgw", "apimgw.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	code, out, errs := r.run("start", "gw")
	db.Close()
	if code != 1 || strings.Contains(out, "started the gateway") || !strings.Contains(errs, "exited at start") || !strings.Contains(errs, "another apimgw") {
		t.Fatalf("start gw with its store locked: exit %d\nstdout %s\nstderr %s", code, out, errs)
	}
	if out := r.must("status"); !strings.Contains(out, "gw: stopped") {
		t.Fatalf("status after a failed start:\n%s", out)
	}
	r.must("start", "gw")

	// 5. Stop: everything is down and the ports are free; a full start whose
	// port is taken fails without the banner and leaves nothing running.
	r.must("stop")
	if out := r.must("status"); strings.Contains(out, "running") {
		t.Fatalf("after stop:\n%s", out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+gwPort)
	if err != nil {
		t.Fatalf("the gateway's port is not free after stop: %v", err)
	}
	code, out, errs = r.run("start")
	ln.Close()
	if code != 1 || strings.Contains(out, "apimgw is running") || !strings.Contains(errs, "port "+gwPort) {
		t.Fatalf("start with the data-plane port taken: exit %d\nstdout %s\nstderr %s", code, out, errs)
	}
	if out := r.must("status"); strings.Contains(out, "running") {
		t.Fatalf("a failed start left parts running:\n%s", out)
	}

	// 6. make run itself: in the foreground until Ctrl-C (SIGINT), which
	// stops everything.
	script, _ := filepath.Abs("../../scripts/run.sh")
	fg := exec.Command(script)
	fg.Env = r.env
	var fgOut lockedBuffer
	fg.Stdout, fg.Stderr = &fgOut, &fgOut
	if err := fg.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- fg.Wait() }()
	if _, ok := pollFor(90*time.Second, func() bool { return strings.Contains(fgOut.String(), "Ctrl-C stops everything.") }); !ok {
		fg.Process.Kill()
		t.Fatalf("make run did not come up:\n%s", fgOut.String())
	}
	if st := r.get(key); st != 200 {
		t.Fatalf("gateway under make run: %d", st)
	}
	fg.Process.Signal(os.Interrupt)
	select {
	case <-waited:
	case <-time.After(60 * time.Second):
		fg.Process.Kill()
		t.Fatalf("make run did not end after Ctrl-C:\n%s", fgOut.String())
	}
	if out := r.must("status"); strings.Contains(out, "running") || !strings.Contains(fgOut.String(), "stopped (state kept in") {
		t.Fatalf("after Ctrl-C:\n%s\n%s", out, fgOut.String())
	}
}
