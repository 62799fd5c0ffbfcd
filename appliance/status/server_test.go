package status

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

func newTestServer(t *testing.T, src *fakeSource, rec *Recorder) *Server {
	t.Helper()
	s, err := New(Config{
		Source: src, Recorder: rec, Now: func() time.Time { return t0 },
		Host: NewHostCollector(t.TempDir(), time.Hour), Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func do(t *testing.T, h http.Handler, method, target string, body io.Reader, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, body)
	req.Host = "127.0.0.1:8090"
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestNewNeedsSource(t *testing.T) {
	if _, err := New(Config{}); !errors.Is(err, ErrNoSource) {
		t.Fatalf("New without Source: %v", err)
	}
}

func TestStatusJSON(t *testing.T) {
	src := &fakeSource{facts: hybridFacts()}
	s := newTestServer(t, src, busyRecorder())
	w := do(t, s, "GET", "/status.json", nil, nil)
	if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("code %d, type %q", w.Code, w.Header().Get("Content-Type"))
	}
	var rep Report
	if err := json.Unmarshal(w.Body.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Version != "0.1.0+abc1234" || rep.Mode != ModeHybrid || rep.GatewayName != "edge-berlin-1" {
		t.Errorf("identity: %+v", rep.Facts)
	}
	if want := (26*time.Hour + 13*time.Minute).Seconds(); rep.UptimeSeconds != want {
		t.Errorf("uptime %v, want %v", rep.UptimeSeconds, want)
	}
	if rep.TokenState != "expiring" || rep.TokenExpiresInSeconds != (76*time.Hour).Seconds() {
		t.Errorf("token %q %v", rep.TokenState, rep.TokenExpiresInSeconds)
	}
	if rep.TelemetryOldestAgeSec != (41 * time.Minute).Seconds() {
		t.Errorf("oldest age %v", rep.TelemetryOldestAgeSec)
	}
	if rep.ControlPlane.Connected || !rep.ControlPlane.Since.Equal(t0.Add(-42*time.Minute)) {
		t.Errorf("control plane %+v", rep.ControlPlane)
	}
	if len(rep.Snapshot.History) != 3 || rep.Snapshot.Current != "42" {
		t.Errorf("snapshots %+v", rep.Snapshot)
	}
	if rep.Host.CPUs == 0 || rep.Host.MemTotal == 0 || rep.Host.DiskTotal == 0 {
		t.Errorf("host facts missing: %+v", rep.Host)
	}
	// Traffic: both APIs of the snapshot in order, then the 404s.
	if len(rep.Traffic) != 3 {
		t.Fatalf("traffic rows %d: %+v", len(rep.Traffic), rep.Traffic)
	}
	pet, ord, none := rep.Traffic[0], rep.Traffic[1], rep.Traffic[2]
	if pet.ID != "petstore" || pet.Requests != 320 || pet.Errors != 0 || pet.Path != "pets" {
		t.Errorf("petstore %+v", pet)
	}
	if ord.Requests != 101 || ord.Errors != 5 || ord.Rejected != 1 {
		t.Errorf("orders %+v", ord)
	}
	if got := ord.ErrorRate; got < 0.0495 || got > 0.0496 {
		t.Errorf("orders error rate %v, want 5/101", got)
	}
	if none.ID != "" || none.Requests != 1 || none.Rejected != 1 {
		t.Errorf("no-API row %+v", none)
	}
	if rep.TrafficWindowSeconds != 300 {
		t.Errorf("window %v", rep.TrafficWindowSeconds)
	}
}

func TestTokenStates(t *testing.T) {
	cases := []struct {
		left time.Duration
		want string
	}{
		{10 * 24 * time.Hour, "ok"},
		{7*24*time.Hour + time.Second, "ok"},
		{7 * 24 * time.Hour, "expiring"},
		{time.Hour, "expiring"},
		{0, "expired"},
		{-time.Hour, "expired"},
	}
	for _, c := range cases {
		src := &fakeSource{facts: hybridFacts()}
		src.facts.Token.Expiry = t0.Add(c.left)
		rep := newTestServer(t, src, nil).Report(context.Background())
		if rep.TokenState != c.want {
			t.Errorf("%v left: %q, want %q", c.left, rep.TokenState, c.want)
		}
	}
	src := &fakeSource{facts: hybridFacts()}
	src.facts.Token = nil
	if rep := newTestServer(t, src, nil).Report(context.Background()); rep.TokenState != "" {
		t.Errorf("no token: state %q", rep.TokenState)
	}
}

func TestPageHTML(t *testing.T) {
	src := &fakeSource{facts: hybridFacts()}
	s := newTestServer(t, src, busyRecorder())
	w := do(t, s, "GET", "/", nil, nil)
	if w.Code != 200 || w.Header().Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("code %d type %q", w.Code, w.Header().Get("Content-Type"))
	}
	body := w.Body.String()
	for _, want := range []string{
		`<meta http-equiv="refresh" content="5">`,
		`id="version">0.1.0&#43;abc1234<`, // html/template escapes +
		`id="mode">hybrid<`,
		`id="uptime">1d 2h<`,
		`Control plane unreachable since 2026-11-26 08:48:00 UTC (42m 0s ago): serving the last good snapshot (42).`,
		`Gateway token expires in 3d 4h`,
		`connection refused`,
		`Orders &lt;v2&gt;`, // escaped
		`/orders/v2`,
		`4.95%`, // orders error rate
		`18234`,
		`7.0 MiB of 256.0 MiB`,
		`41m 0s old`,
		`name="version" value="41"`,
		`name="csrf" value="` + s.csrf + `"`,
		`127.0.0.1:8090`,
		`(no API matched)`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "<v2>") {
		t.Error("API name not escaped")
	}
	// No external assets: no src= or href= to anything but our own paths.
	for _, m := range regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(body, -1) {
		if !strings.HasPrefix(m[1], "/") {
			t.Errorf("external reference %q", m[1])
		}
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP %q", csp)
	}
	if w := do(t, s, "GET", "/nope", nil, nil); w.Code != 404 {
		t.Errorf("/nope: %d", w.Code)
	}
}

func TestPageControlPlaneAlerts(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Facts)
		want string
	}{
		{"offline with a snapshot", func(f *Facts) {}, "serving the last good snapshot (42)."},
		{"never reached, nothing stored", func(f *Facts) {
			f.ControlPlane = ControlPlane{Endpoint: "https://cp"}
			f.Snapshot = Snapshots{}
		}, "Control plane not reached yet: no snapshot stored yet, the data plane answers 503."},
		{"connected", func(f *Facts) { f.ControlPlane.Connected = true }, ""},
	}
	for _, c := range cases {
		f := hybridFacts()
		c.edit(&f)
		body := do(t, newTestServer(t, &fakeSource{facts: f}, nil), "GET", "/", nil, nil).Body.String()
		if c.want == "" {
			if strings.Contains(body, "Control plane unreachable") || strings.Contains(body, "not reached yet") {
				t.Errorf("%s: control plane alert shown", c.name)
			}
		} else if !strings.Contains(body, c.want) {
			t.Errorf("%s: page lacks %q", c.name, c.want)
		}
	}
}

func TestPageStandaloneAndUnready(t *testing.T) {
	f := hybridFacts()
	f.Mode, f.Token, f.Ready, f.NotReadyReason = ModeStandalone, nil, false, "snapshot file /etc/apimgw/snap.json: line 3: invalid JSON"
	s := newTestServer(t, &fakeSource{facts: f}, nil)
	body := do(t, s, "GET", "/", nil, nil).Body.String()
	for _, want := range []string{"Standalone: configuration from a local snapshot file", "Not ready: snapshot file /etc/apimgw/snap.json: line 3", `id="ready">not ready<`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, `action="/rollback"`) {
		t.Error("standalone page offers rollback")
	}
	if strings.Contains(body, "Control plane unreachable") {
		t.Error("standalone page warns about the control plane")
	}
}

func TestHealthAndReady(t *testing.T) {
	src := &fakeSource{facts: hybridFacts()}
	s := newTestServer(t, src, nil)
	if w := do(t, s, "GET", "/healthz", nil, nil); w.Code != 200 || w.Body.String() != "ok\n" {
		t.Errorf("healthz %d %q", w.Code, w.Body)
	}
	if w := do(t, s, "GET", "/readyz", nil, nil); w.Code != 200 {
		t.Errorf("readyz ready: %d", w.Code)
	}
	src.set(func(f *Facts) {
		f.Ready, f.NotReadyReason = false, "no configuration: set config.service.endpoint or config.local.path"
	})
	w := do(t, s, "GET", "/readyz", nil, nil)
	if w.Code != 503 || !strings.Contains(w.Body.String(), "config.local.path") {
		t.Errorf("readyz not ready: %d %q", w.Code, w.Body)
	}
	if w := do(t, s, "POST", "/healthz", nil, nil); w.Code != 405 {
		t.Errorf("POST /healthz: %d", w.Code)
	}
}

func TestHostHeaderGuard(t *testing.T) {
	s, err := New(Config{Source: &fakeSource{facts: hybridFacts()}, AllowedHosts: []string{"gw.tunnel"}, Host: NewHostCollector("", time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]int{
		"127.0.0.1:8090": 200, "[::1]:8090": 200, "localhost:8090": 200, "LOCALHOST": 200,
		"10.1.2.3": 200, "gw.tunnel:8090": 200, "evil.example:8090": 403, "attacker.test": 403,
	} {
		if w := do(t, s, "GET", "/healthz", nil, map[string]string{"Host": host}); w.Code != want {
			t.Errorf("Host %q: %d, want %d", host, w.Code, want)
		}
	}
}

func formPost(version, csrf string) (io.Reader, map[string]string) {
	v := url.Values{"version": {version}, "csrf": {csrf}}
	return strings.NewReader(v.Encode()), map[string]string{
		"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://127.0.0.1:8090", "Sec-Fetch-Site": "same-origin",
	}
}

func TestRollbackForm(t *testing.T) {
	src := &fakeSource{facts: hybridFacts()}
	s := newTestServer(t, src, nil)
	body, hdr := formPost("41", s.csrf)
	w := do(t, s, "POST", "/rollback", body, hdr)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/" {
		t.Fatalf("rollback: %d %q %s", w.Code, w.Header().Get("Location"), w.Body)
	}
	if len(src.rollbacks) != 1 || src.rollbacks[0] != "41" {
		t.Fatalf("Source.Rollback calls %v", src.rollbacks)
	}
	page := do(t, s, "GET", "/", nil, nil).Body.String()
	if !strings.Contains(page, "Rolled back to snapshot 41.") || !strings.Contains(page, `name="version" value="42"`) {
		t.Error("page does not show the rollback result or the new current snapshot")
	}
	// An unknown version: the Source's error is shown, nothing changes.
	body, hdr = formPost("7", s.csrf)
	if w := do(t, s, "POST", "/rollback", body, hdr); w.Code != http.StatusSeeOther {
		t.Fatalf("unknown version: %d", w.Code)
	}
	if page := do(t, s, "GET", "/", nil, nil).Body.String(); !strings.Contains(page, "unknown snapshot version: 7") {
		t.Error("page does not show the failed rollback")
	}
}

func TestRollbackRefusals(t *testing.T) {
	src := &fakeSource{facts: hybridFacts()}
	s := newTestServer(t, src, nil)
	cases := []struct {
		name string
		csrf string
		hdr  map[string]string
		want int
	}{
		{"no csrf token", "", nil, 403},
		{"wrong csrf token", "deadbeef", nil, 403},
		{"cross-site fetch", s.csrf, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"foreign origin", s.csrf, map[string]string{"Origin": "http://evil.example"}, 403},
	}
	for _, c := range cases {
		body, hdr := formPost("41", c.csrf)
		for k, v := range c.hdr {
			hdr[k] = v
		}
		if w := do(t, s, "POST", "/rollback", body, hdr); w.Code != c.want {
			t.Errorf("%s: %d, want %d", c.name, w.Code, c.want)
		}
	}
	if len(src.rollbacks) != 0 {
		t.Fatalf("refused requests reached the Source: %v", src.rollbacks)
	}
}

func TestRollbackScripted(t *testing.T) {
	src := &fakeSource{facts: hybridFacts()}
	s := newTestServer(t, src, nil)
	hdr := map[string]string{"X-Apimgw-Action": "rollback", "Content-Type": "application/json"}
	w := do(t, s, "POST", "/rollback", strings.NewReader(`{"version":"40"}`), hdr)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"rolledBackTo":"40"`) {
		t.Fatalf("scripted: %d %s", w.Code, w.Body)
	}
	cases := []struct {
		body string
		err  error
		want int
	}{
		{`{"version":"99"}`, nil, 404},
		{`{"version":""}`, nil, 400},
		{`{"version":`, nil, 400},
		{`{"version":"41"}`, ErrRollbackRefused, 409},
		{`{"version":"41"}`, errors.New("bbolt: disk I/O"), 500},
	}
	for _, c := range cases {
		src.rbErr = c.err
		w := do(t, s, "POST", "/rollback", strings.NewReader(c.body), hdr)
		var e map[string]string
		if w.Code != c.want || json.Unmarshal(w.Body.Bytes(), &e) != nil || e["error"] == "" {
			t.Errorf("%s (%v): %d %s, want %d with an error body", c.body, c.err, w.Code, w.Body, c.want)
		}
	}
}

func TestRunServesAndStops(t *testing.T) {
	s := newTestServer(t, &fakeSource{facts: hybridFacts()}, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz over TCP: %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(6 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if _, err := http.Get("http://" + ln.Addr().String() + "/healthz"); err == nil {
		t.Fatal("still serving after Run returned")
	}
}

func TestFormatting(t *testing.T) {
	for in, want := range map[float64]string{0: "0s", 59: "59s", 61: "1m 1s", 3600: "1h 0m", 90061: "1d 1h", -30: "-30s"} {
		if got := fmtDur(in); got != want {
			t.Errorf("fmtDur(%v) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[uint64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 7 << 20: "7.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := fmtBytes(in); got != want {
			t.Errorf("fmtBytes(%d) = %q, want %q", in, got, want)
		}
	}
	if ago(t0, time.Time{}) != "never" || ago(t0, t0.Add(-90*time.Second)) != "1m 30s ago" {
		t.Error("ago")
	}
}
