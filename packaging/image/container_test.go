package main

// The image run for real with podman (make test-image, mk/image.mk): the
// Docker path and the Kubernetes path of docs/install.md, with the real
// apimcp and apimctl on the host's loopback and a backend in this test.
//
// podman needs, in this sandbox, the runc runtime and explicit ulimits (a
// containers.conf passed as CONTAINERS_CONF) and host networking to reach
// loopback; see ../shared/docs/PLATFORM-NOTES.md.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// env names what make test-image passes.
const (
	envBin   = "APIMGW_BIN"         // directory with the host's apimcp and apimctl
	envImage = "APIMGW_IMAGE_TAR"   // dist/apimgw-image-amd64.tar
	envRef   = "APIMGW_IMAGE_REF"   // the tag to run, apimgw:<version>
	envReq   = "APIMGW_IMAGE_TESTS" // 1: a missing prerequisite fails instead of skipping
)

// need returns the value of an environment variable the container tests
// need; without it they skip, except under make test-image or CI, where
// they fail.
func need(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		if os.Getenv(envReq) == "1" || os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set (make test-image sets it)", name)
		}
		t.Skipf("%s not set: run make test-image", name)
	}
	return v
}

// podman runs podman with the sandbox's containers.conf.
type podman struct {
	t    *testing.T
	conf string
}

var loaded = map[string]bool{}

func newPodman(t *testing.T) *podman {
	t.Helper()
	if _, err := exec.LookPath("podman"); err != nil {
		t.Fatalf("podman is not installed (scripts/deps.sh containers): %v", err)
	}
	conf := filepath.Join(t.TempDir(), "containers.conf")
	os.WriteFile(conf, []byte("[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n[engine]\nruntime = \"runc\"\n"), 0o644)
	p := &podman{t: t, conf: conf}
	tarPath := need(t, envImage)
	if !loaded[tarPath] {
		p.must("load", "-q", "-i", tarPath)
		loaded[tarPath] = true
	}
	return p
}

func (p *podman) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "podman", args...)
	cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+p.conf)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func (p *podman) must(args ...string) string {
	p.t.Helper()
	out, err := p.run(args...)
	if err != nil {
		p.t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// controlPlane is the real apimcp on loopback, with the walkthrough's
// resources: API hybrid (GET /test) on a backend in this test, product
// unlimited, subscription demo, gateway gw1 with the API.
type controlPlane struct {
	t         *testing.T
	bin, dir  string
	addr, url string
	admin     string
	cmd       *exec.Cmd
	log       bytes.Buffer
	key       string // the subscription key
}

const subKey = "container-test-key-0123456789"

func startControlPlane(t *testing.T) *controlPlane {
	t.Helper()
	bin := need(t, envBin)
	cp := &controlPlane{t: t, bin: bin, dir: t.TempDir(), addr: freeAddr(t), admin: "container-test-admin-0123456789", key: subKey}
	cp.url = "http://" + cp.addr
	os.WriteFile(filepath.Join(cp.dir, "admin-token"), []byte(cp.admin+"\n"), 0o600)
	cp.start()
	t.Cleanup(cp.stop)

	backend := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"backend":"container-test","path":%q}`, r.URL.Path)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go backend.Serve(ln)
	t.Cleanup(func() { backend.Close() })

	cp.ctl("api", "create", "hybrid", "--path", "hybrid", "--service-url", "http://"+ln.Addr().String(), "--protocols", "http,https", "--display-name", "Hybrid")
	cp.ctl("operation", "create", "--api", "hybrid", "test", "--method", "get", "--url-template", "/test")
	cp.ctl("product", "create", "unlimited", "--state", "published", "--subscription-required", "true")
	cp.ctl("product", "add-api", "unlimited", "hybrid")
	cp.ctl("subscription", "create", "demo", "--scope", "/products/unlimited", "--primary-key", subKey)
	cp.ctl("gateway", "create", "gw1", "--location", "containers")
	cp.ctl("gateway", "assign", "gw1", "hybrid")
	return cp
}

func (cp *controlPlane) start() {
	cp.t.Helper()
	cp.cmd = exec.Command(filepath.Join(cp.bin, "apimcp"), "--listen", cp.addr, "--data", filepath.Join(cp.dir, "data"),
		"--admin-token-file", filepath.Join(cp.dir, "admin-token"))
	cp.cmd.Stdout, cp.cmd.Stderr = &cp.log, &cp.log
	if err := cp.cmd.Start(); err != nil {
		cp.t.Fatal(err)
	}
	if !poll(15*time.Second, func() bool {
		c, err := net.Dial("tcp", cp.addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}) {
		cp.t.Fatalf("apimcp did not listen on %s:\n%s", cp.addr, cp.log.String())
	}
}

func (cp *controlPlane) stop() {
	if cp.cmd != nil && cp.cmd.Process != nil {
		cp.cmd.Process.Kill()
		cp.cmd.Wait()
		cp.cmd = nil
	}
}

// ctl runs the real apimctl against the control plane; stderr is returned
// apart from stdout (gw deploy prints its run line there).
func (cp *controlPlane) ctl(args ...string) string {
	cp.t.Helper()
	out, errOut, err := cp.ctlErr(args...)
	if err != nil {
		cp.t.Fatalf("apimctl %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func (cp *controlPlane) ctlErr(args ...string) (string, string, error) {
	cmd := exec.Command(filepath.Join(cp.bin, "apimctl"), append([]string{"--server", cp.url, "--token", cp.admin}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

func poll(d time.Duration, ok func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if ok() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var client = &http.Client{Timeout: 3 * time.Second}

// get returns the status (0 when the connection fails) and body.
func get(url, key string) (int, string) {
	req, _ := http.NewRequest("GET", url, nil)
	if key != "" {
		req.Header.Set("Ocp-Apim-Subscription-Key", key)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// statusJSON reads the gateway's /status.json.
type statusDoc struct {
	Ready          bool   `json:"ready"`
	NotReadyReason string `json:"notReadyReason"`
	ControlPlane   struct {
		Connected bool   `json:"connected"`
		LastError string `json:"lastError"`
	} `json:"controlPlane"`
	Snapshot struct {
		Current string `json:"current"`
	} `json:"snapshot"`
	Token *struct {
		Expiry time.Time `json:"expiry"`
	} `json:"token"`
	Settings []struct{ Key, Value, From string } `json:"settings"`
}

func statusOf(t *testing.T, addr string) (statusDoc, error) {
	var s statusDoc
	resp, err := client.Get("http://" + addr + "/status.json")
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&s)
	return s, err
}

func (s statusDoc) from(key string) string {
	for _, x := range s.Settings {
		if x.Key == key {
			return x.From
		}
	}
	return ""
}

// The Docker path: the env file apimctl gw deploy --docker prints, plus
// listen addresses, is all the container gets.
func TestDockerPath(t *testing.T) {
	p := newPodman(t)
	ref := need(t, envRef)
	cp := startControlPlane(t)
	dataAddr, statusAddr := freeAddr(t), freeAddr(t)
	envFile, runLine, err := cp.ctlErr("gw", "deploy", "gw1", "--docker")
	if err != nil {
		t.Fatalf("gw deploy --docker: %v\n%s", err, runLine)
	}
	if !strings.Contains(runLine, "docker run -d") || !strings.Contains(runLine, "--env-file env.conf") {
		t.Fatalf("run line on stderr: %q", runLine)
	}
	dir := t.TempDir()
	env := filepath.Join(dir, "env.conf")
	os.WriteFile(env, []byte(envFile+"listen.http="+dataAddr+"\nstatus.listen="+statusAddr+"\n"), 0o644)
	name := "apimgw-docker-" + fmt.Sprint(os.Getpid())
	vol := name + "-store"
	runArgs := []string{"run", "-d", "--name", name, "--network", "host", "--env-file", env, "-v", vol + ":/var/lib/apimgw", ref}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := p.run("logs", name)
			t.Logf("container log:\n%s", out)
		}
		p.run("rm", "-f", "-t", "0", name)
		p.run("volume", "rm", "-f", vol)
	})
	p.must(runArgs...)
	url := "http://" + dataAddr + "/hybrid/test"
	if !poll(30*time.Second, func() bool { code, _ := get(url, subKey); return code == 200 }) {
		code, body := get(url, subKey)
		t.Fatalf("through the container: %d %s", code, body)
	}
	if code, _ := get(url, ""); code != 401 {
		t.Fatalf("without a key: %d", code)
	}
	// process.scheduling=batch works under the container runtime's default
	// seccomp profile: the gateway's threads run under SCHED_BATCH.
	if out, _ := p.run("logs", name); !strings.Contains(out, "cpu scheduling: SCHED_BATCH (process.scheduling=batch)") {
		t.Fatalf("the container's log does not say its threads run under SCHED_BATCH:\n%s", out)
	}
	s, err := statusOf(t, statusAddr)
	if err != nil || s.from("config.service.endpoint") != "environment" || s.from("status.listen") != "environment" || s.from("store.path") != "default" {
		t.Fatalf("status settings %+v (%v)", s.Settings, err)
	}

	// SIGTERM: the gateway drains and exits by itself, well before podman's
	// (and Kubernetes') 30 s grace runs out and a SIGKILL would give 137.
	cp.stop()
	p.must("stop", "-t", "30", name)
	if code := p.must("inspect", "--format", "{{.State.ExitCode}}", name); code != "0" {
		out, _ := p.run("logs", name)
		t.Fatalf("exit code after SIGTERM: %s\n%s", code, out)
	}

	// The control plane is down: the restarted container serves at once from
	// the store volume.
	p.must("start", name)
	if !poll(15*time.Second, func() bool { code, _ := get(url, subKey); return code == 200 }) {
		t.Fatal("the restarted container did not serve from its store volume")
	}
	s, _ = statusOf(t, statusAddr)
	if !s.Ready || s.ControlPlane.Connected {
		t.Fatalf("restarted offline: %+v", s)
	}

	// Without the volume, offline: 503, and the status page says why.
	p.must("rm", "-f", "-t", "10", name)
	p.must("volume", "rm", vol)
	p.must(runArgs...)
	probe := "http://" + dataAddr + "/status-0123456789abcdef"
	if !poll(15*time.Second, func() bool { code, _ := get(probe, ""); return code == 503 }) {
		code, body := get(probe, "")
		t.Fatalf("probe without store and control plane: %d %s", code, body)
	}
	if code, _ := get(url, subKey); code != 503 {
		t.Fatalf("API without any configuration: %d, want 503", code)
	}
	if !poll(10*time.Second, func() bool {
		s, err = statusOf(t, statusAddr)
		return err == nil && s.ControlPlane.LastError != ""
	}) {
		t.Fatalf("status has no error: %+v %v", s, err)
	}
	if s.Ready || s.NotReadyReason != "no configuration loaded yet" || !strings.Contains(s.ControlPlane.LastError, "connect") {
		t.Fatalf("status: ready %v, reason %q, last error %q", s.Ready, s.NotReadyReason, s.ControlPlane.LastError)
	}
}

// The Kubernetes path: the YAML apimctl gw deploy --kubernetes prints, run
// by podman kube play on the host network; then the token rotated through
// the Secret's file without a restart.
func TestKubernetesPath(t *testing.T) {
	p := newPodman(t)
	ref := need(t, envRef)
	cp := startControlPlane(t)
	dataAddr, statusAddr := freeAddr(t), freeAddr(t)
	y, errOut, err := cp.ctlErr("gw", "deploy", "gw1", "--kubernetes", "--image", "localhost/"+ref, "--namespace", "default")
	if err != nil {
		t.Fatalf("gw deploy --kubernetes: %v\n%s", err, errOut)
	}
	secretDir := t.TempDir()
	os.Chmod(secretDir, 0o755)
	play := podmanManifest(t, y, secretDir, dataAddr, statusAddr)
	manifest := filepath.Join(t.TempDir(), "gw1.yaml")
	os.WriteFile(manifest, []byte(play), 0o644)
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := p.run("pod", "logs", "gw1-pod-0")
			t.Logf("pod log:\n%s\nmanifest:\n%s", out, play)
		}
		p.run("kube", "down", manifest)
		p.run("volume", "rm", "-f", "gw1-store")
	})
	p.run("volume", "rm", "-f", "gw1-store")
	p.must("kube", "play", "--network", "host", manifest)
	url := "http://" + dataAddr + "/hybrid/test"
	if !poll(30*time.Second, func() bool { code, _ := get(url, subKey); return code == 200 }) {
		code, body := get(url, subKey)
		t.Fatalf("through the pod: %d %s", code, body)
	}
	s, err := statusOf(t, statusAddr)
	if err != nil || s.from("config.service.auth") != "file /run/secrets/apimgw/value" || s.Token == nil {
		t.Fatalf("status %+v (%v)", s, err)
	}
	started := p.must("pod", "inspect", "--format", "{{range .Containers}}{{.Name}} {{end}}", "gw1-pod-0")
	ctr := ""
	for _, n := range strings.Fields(started) {
		if strings.HasSuffix(n, "-apimgw") {
			ctr = n
		}
	}
	startedAt := p.must("inspect", "--format", "{{.State.StartedAt}}", ctr)

	// Rotate: the old key is regenerated away (the old token stops working),
	// a new token goes into the Secret's file. The gateway picks it up
	// without a restart: a configuration change made after the rotation
	// reaches it.
	oldExpiry := s.Token.Expiry
	if !s.ControlPlane.Connected || strings.Contains(s.ControlPlane.LastError, "unauthorized") {
		t.Fatalf("before the rotation: connected %v, last error %q", s.ControlPlane.Connected, s.ControlPlane.LastError)
	}
	cp.ctl("gateway", "regenerate-key", "gw1")
	// A change ends the long poll the gateway has open (the old token was
	// good when it began); the next poll is refused.
	cp.ctl("operation", "create", "--api", "hybrid", "nudge", "--method", "get", "--url-template", "/nudge")
	if !poll(20*time.Second, func() bool {
		s, err = statusOf(t, statusAddr)
		return err == nil && strings.Contains(s.ControlPlane.LastError, "unauthorized")
	}) {
		t.Fatalf("the old token kept working: %+v", s)
	}
	t.Logf("with the old token: %s", s.ControlPlane.LastError)
	newTok := cp.ctl("gateway", "token", "gw1", "--expiry", "100h")
	writeSecret(t, secretDir, newTok)
	cp.ctl("operation", "create", "--api", "hybrid", "rotated", "--method", "get", "--url-template", "/rotated")
	if !poll(20*time.Second, func() bool { code, _ := get("http://"+dataAddr+"/hybrid/rotated", subKey); return code == 200 }) {
		s, _ = statusOf(t, statusAddr)
		t.Fatalf("after rotating the token the gateway does not get new configuration: %+v", s)
	}
	s, _ = statusOf(t, statusAddr)
	if s.Token == nil || s.Token.Expiry.Equal(oldExpiry) {
		t.Fatalf("token after rotation: %+v", s.Token)
	}
	if now := p.must("inspect", "--format", "{{.State.StartedAt}}", ctr); now != startedAt {
		t.Fatalf("the container restarted: %s, then %s", startedAt, now)
	}
}

// writeSecret replaces the token file the way the kubelet updates a Secret
// volume: a new timestamped directory, then an atomic swap of the ..data
// symlink (the file's own name is a symlink through it).
func writeSecret(t *testing.T, dir, token string) {
	t.Helper()
	ts := filepath.Join(dir, fmt.Sprintf("..%d", time.Now().UnixNano()))
	if err := os.Mkdir(ts, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(ts, "value"), []byte(token), 0o644)
	tmp := filepath.Join(dir, "..data_tmp")
	os.Remove(tmp)
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "value")); err != nil {
		os.Symlink("..data/value", filepath.Join(dir, "value"))
	}
}

// podmanManifest adapts the generated manifest to podman kube play here:
//   - podman 4.3.1 (Debian 12) panics on a Secret volume ("VolumeFromSecret:
//     nil pointer dereference"), so the Secret's value is laid out in
//     secretDir exactly as the kubelet does it and mounted as a hostPath;
//   - host networking needs loopback listen addresses, added to the
//     ConfigMap (the image's defaults listen on :8080);
//   - the container's ports are dropped (podman refuses port mappings on
//     the host network) and the probes name the port number;
//   - Service and PodDisruptionBudget mean nothing to podman and are left
//     out.
//
// Everything else — ConfigMap through envFrom, the PVC, the security
// context, the probes — is played as generated.
func podmanManifest(t *testing.T, y, secretDir, dataAddr, statusAddr string) string {
	t.Helper()
	var out []string
	for _, doc := range strings.Split(y, "\n---\n") {
		switch {
		case strings.Contains(doc, "\nkind: Secret\n"):
			tok := ""
			sc := bufio.NewScanner(strings.NewReader(doc))
			for sc.Scan() {
				if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "value: "); ok {
					if err := json.Unmarshal([]byte(v), &tok); err != nil {
						t.Fatalf("secret value %s: %v", v, err)
					}
				}
			}
			if tok == "" {
				t.Fatalf("no token in the Secret:\n%s", doc)
			}
			writeSecret(t, secretDir, tok)
		case strings.Contains(doc, "\nkind: Service\n"), strings.Contains(doc, "\nkind: PodDisruptionBudget\n"):
		case strings.Contains(doc, "\nkind: ConfigMap\n"):
			doc = strings.Replace(doc, `  listen.http: ":8080"`, fmt.Sprintf("  listen.http: %q\n  status.listen: %q", dataAddr, statusAddr), 1)
			if !strings.Contains(doc, dataAddr) {
				t.Fatalf("ConfigMap without listen.http:\n%s", doc)
			}
			out = append(out, doc)
		case strings.Contains(doc, "\nkind: Deployment\n"):
			secretVol := "        secret:\n          secretName: \"gw1-token\"\n          defaultMode: 0440\n"
			if !strings.Contains(doc, secretVol) {
				t.Fatalf("Deployment without the Secret volume:\n%s", doc)
			}
			doc = strings.Replace(doc, secretVol, fmt.Sprintf("        hostPath:\n          path: %q\n          type: Directory\n", secretDir), 1)
			// The probes use the named port; host networking keeps the
			// numbers, which are in listen.http now.
			_, port, _ := net.SplitHostPort(dataAddr)
			doc = strings.ReplaceAll(doc, "            port: http\n", "            port: "+port+"\n")
			// podman refuses port mappings on the host network.
			ports := "        ports:\n        - name: http\n          containerPort: 8080\n        - name: https\n          containerPort: 8081\n"
			if !strings.Contains(doc, ports) {
				t.Fatalf("Deployment without the ports:\n%s", doc)
			}
			doc = strings.Replace(doc, ports, "", 1)
			out = append(out, doc)
		default:
			out = append(out, doc)
		}
	}
	return strings.Join(out, "\n---\n")
}

// The status page listens on the container's loopback unless status.listen
// says otherwise: published with -p, it answers only when asked to.
func TestStatusFromOutside(t *testing.T) {
	p := newPodman(t)
	ref := need(t, envRef)
	for _, tc := range []struct {
		name   string
		env    []string
		answer bool
	}{
		{"default: loopback only", nil, false},
		{"status.listen=0.0.0.0:8090", []string{"-e", "status.listen=0.0.0.0:8090"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := freeAddr(t)
			name := fmt.Sprintf("apimgw-status-%d-%v", os.Getpid(), tc.answer)
			args := append([]string{"run", "-d", "--name", name, "-p", addr + ":8090", "-e", "config.local.path=/etc/apimgw/snapshot.json"}, tc.env...)
			p.must(append(args, ref)...)
			t.Cleanup(func() { p.run("rm", "-f", "-v", "-t", "0", name) })
			var s statusDoc
			var err error
			ok := poll(10*time.Second, func() bool { s, err = statusOf(t, addr); return err == nil })
			if ok != tc.answer {
				out, _ := p.run("logs", name)
				t.Fatalf("status page from outside: answered %v (%v), want %v\n%s", ok, err, tc.answer, out)
			}
			// Not answering must mean not listening outside, not a dead container.
			if running := p.must("inspect", "--format", "{{.State.Running}}", name); running != "true" {
				out, _ := p.run("logs", name)
				t.Fatalf("the container is not running:\n%s", out)
			}
			if ok && s.from("status.listen") != "environment" {
				t.Fatalf("settings %+v", s.Settings)
			}
		})
	}
}

// The OCI layout's index serves each platform: podman picks the image for
// the architecture asked for.
func TestOCILayoutPlatforms(t *testing.T) {
	p := newPodman(t)
	dir := filepath.Join(filepath.Dir(need(t, envImage)), "apimgw-image-oci")
	// podman names an image pulled from oci:PATH after PATH, and a name must
	// be lower case: reach the layout through a lower-case link (a checkout
	// in /var/tmp/apimgw-fresh.IUwYBg failed without it).
	link := filepath.Join(os.TempDir(), fmt.Sprintf("apimgw-oci-%d", os.Getpid()))
	os.Remove(link)
	t.Cleanup(func() { os.Remove(link) })
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	dir = link
	for _, arch := range []string{"amd64", "arm64"} {
		id := p.must("pull", "-q", "--arch", arch, "oci:"+dir+":latest")
		got := p.must("image", "inspect", "--format", "{{.Architecture}} {{.Config.User}} {{index .Labels \"org.opencontainers.image.licenses\"}}", id)
		// Remove only the name the pull gave (the amd64 image is the one
		// loaded from the archive, with its tags), then the image if that
		// was its last name.
		for _, n := range strings.Fields(strings.Trim(p.must("image", "inspect", "--format", "{{.RepoTags}}", id), "[]")) {
			if strings.Contains(n, "apimgw-image-oci") {
				p.run("untag", id, n)
			}
		}
		if tags := strings.Trim(p.must("image", "inspect", "--format", "{{.RepoTags}}", id), "[]"); tags == "" {
			p.run("rmi", id)
		}
		if got != arch+" 65532:65532 Apache-2.0" {
			t.Fatalf("%s from the OCI layout: %q", arch, got)
		}
	}
}
