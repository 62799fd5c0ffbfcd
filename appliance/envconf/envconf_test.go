package envconf

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const sig = "fsnFBO92zYDbDskDGxjNrdmIsdshZv7YMrnCCTWA58T8zVQ+aKI3tfioAAxVQTAjZUfEWDDGwdHZldze6slcZQ=="

// The env.conf Azure's portal hands out (Gateways > Deployment), and the
// token shape from the seeds' Kubernetes walkthrough.
const azurePortal = `config.service.endpoint=https://contoso.configuration.azure-api.net
config.service.auth=GatewayKey hybrid&202006031551&` + sig + "\n"

func TestParseAzurePortalFile(t *testing.T) {
	c, err := Parse("env.conf", []byte(azurePortal))
	if err != nil {
		t.Fatal(err)
	}
	if c.Endpoint != "https://contoso.configuration.azure-api.net" || c.Mode() != ModeConnected {
		t.Fatalf("endpoint %q mode %v", c.Endpoint, c.Mode())
	}
	if c.Token == nil || c.Token.GatewayID != "hybrid" || !c.Token.Expiry.Equal(time.Date(2020, 6, 3, 15, 51, 0, 0, time.UTC)) || c.Token.Signature != sig {
		t.Fatalf("token %+v", c.Token)
	}
	if c.Token.Header() != "GatewayKey hybrid&202006031551&"+sig || c.Token.Value() != "hybrid&202006031551&"+sig {
		t.Fatalf("header %q", c.Token.Header())
	}
	if strings.Contains(c.Token.String(), sig) {
		t.Fatalf("String() leaks the signature: %s", c.Token)
	}
	if c.GatewayName != "hybrid" {
		t.Fatalf("gateway.name default = %q, want the token's id", c.GatewayName)
	}
	// Every default.
	want := Config{ListenHTTP: ":8080", ListenHTTPS: ":8081", StatusListen: "127.0.0.1:8090", StorePath: "/var/lib/apimgw/apimgw.db",
		LogsStd: "text", LogLevel: "info", QueueMaxBytes: 256 << 20, IntegrationTimeout: 100 * time.Second,
		HeartbeatInterval: time.Minute, SnapshotsKeep: 10, CommitInterval: 100 * time.Millisecond}
	if c.ListenHTTP != want.ListenHTTP || c.ListenHTTPS != want.ListenHTTPS || c.StatusListen != want.StatusListen || c.StorePath != want.StorePath ||
		c.LogsStd != want.LogsStd || c.LogLevel != want.LogLevel || c.QueueMaxBytes != want.QueueMaxBytes || c.IntegrationTimeout != want.IntegrationTimeout ||
		c.HeartbeatInterval != want.HeartbeatInterval || c.SnapshotsKeep != want.SnapshotsKeep || c.CommitInterval != want.CommitInterval ||
		c.DisableCertificateValidation || c.CAFile != "" || c.LocalPath != "" || c.ForwardedProto {
		t.Fatalf("defaults differ: %+v", c)
	}
	if len(c.Warnings) != 0 || len(c.Ignored) != 0 {
		t.Fatalf("warnings %v ignored %v", c.Warnings, c.Ignored)
	}
	if !c.Token.Expired(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) || c.Token.Expired(time.Date(2020, 6, 3, 15, 50, 0, 0, time.UTC)) {
		t.Fatal("Expired wrong")
	}
	if !c.Token.ExpiresWithin(time.Date(2020, 5, 30, 0, 0, 0, 0, time.UTC), 7*24*time.Hour) || c.Token.ExpiresWithin(time.Date(2020, 5, 1, 0, 0, 0, 0, time.UTC), 7*24*time.Hour) {
		t.Fatal("ExpiresWithin wrong")
	}
}

// A full Azure ConfigMap-style file: every Azure key is accepted; the ones
// apimgw has no use for are listed in Ignored, not warned about.
func TestParseAzureKeysAccepted(t *testing.T) {
	var b strings.Builder
	b.WriteString(azurePortal)
	b.WriteString("config.service.endpoint.disableCertificateValidation=false\nconfig.service.integration.timeout=00:00:30\n")
	b.WriteString("telemetry.logs.std=json\ntelemetry.logs.std.level=Warn\nnet.server.http.forwarded.proto.enabled=true\ngateway.name=hybrid\n")
	for _, k := range azureIgnored {
		b.WriteString(k + "=something\n")
	}
	c, err := Parse("env.conf", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) != 0 {
		t.Fatalf("Azure keys warned about: %v", c.Warnings)
	}
	if strings.Join(c.Ignored, ",") != strings.Join(azureIgnored, ",") {
		t.Fatalf("ignored = %v", c.Ignored)
	}
	if c.IntegrationTimeout != 30*time.Second || c.LogsStd != "json" || c.LogLevel != "warn" || !c.ForwardedProto {
		t.Fatalf("%+v", c)
	}
	for _, k := range azureIgnored {
		if Honoured(k) {
			t.Errorf("Honoured(%s)", k)
		}
	}
	if !Honoured("config.service.auth") || Honoured("nope") {
		t.Error("Honoured wrong")
	}
}

func TestParseEveryKey(t *testing.T) {
	src := `# apimgw env.conf
	 # indented comment

config.service.endpoint = http://127.0.0.1:9443/base/
config.service.auth = "gw1&203001020304&` + sig + `"
config.service.ca=/etc/apimgw/cp-ca.pem
gateway.name=edge-7
listen.http=0.0.0.0:80
listen.https=
status.listen=[::1]:9000
store.path=/srv/apimgw/state.db
store.snapshots.keep=3
telemetry.logs.std=none
telemetry.queue.max-bytes=1.5GiB
telemetry.queue.commit-interval=25ms
policy.body.max-total-bytes=512MiB
heartbeat.interval=15s
config.service.integration.timeout=1.00:00:00
` + "unknown.key=1\r\nCONFIG.SERVICE.CA=x\r\n"
	c, err := Parse("/etc/apimgw/env.conf", []byte("\xef\xbb\xbf"+src))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"endpoint", c.Endpoint, "http://127.0.0.1:9443/base"},
		{"token id", c.Token.GatewayID, "gw1"},
		{"expiry", c.Token.Expiry, time.Date(2030, 1, 2, 3, 4, 0, 0, time.UTC)},
		{"ca", c.CAFile, "/etc/apimgw/cp-ca.pem"},
		{"name", c.GatewayName, "edge-7"},
		{"http", c.ListenHTTP, "0.0.0.0:80"},
		{"https off", c.ListenHTTPS, ""},
		{"status", c.StatusListen, "[::1]:9000"},
		{"store", c.StorePath, "/srv/apimgw/state.db"},
		{"keep", c.SnapshotsKeep, 3},
		{"logs", c.LogsStd, "none"},
		{"queue", c.QueueMaxBytes, int64(1.5 * (1 << 30))},
		{"commit", c.CommitInterval, 25 * time.Millisecond},
		{"body total", c.BodyMaxTotalBytes, int64(512 << 20)},
		{"body per request (default)", c.BodyMaxBytes, int64(DefaultBodyMaxBytes)},
		{"heartbeat", c.HeartbeatInterval, 15 * time.Second},
		{"timeout", c.IntegrationTimeout, 24 * time.Hour},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	var ws []string
	for _, w := range c.Warnings {
		ws = append(ws, w.String())
	}
	want := []string{
		"/etc/apimgw/env.conf:19: unknown.key: unknown key, ignored",
		"/etc/apimgw/env.conf:20: CONFIG.SERVICE.CA: unknown key, ignored (keys are case-sensitive: did you mean config.service.ca?)",
		`/etc/apimgw/env.conf:7: gateway.name: "edge-7" differs from the token's gateway id "gw1" (line 5); the control plane authenticates the token's id`,
	}
	if strings.Join(ws, "\n") != strings.Join(want, "\n") {
		t.Fatalf("warnings:\n%s\nwant:\n%s", strings.Join(ws, "\n"), strings.Join(want, "\n"))
	}
}

func TestParseErrors(t *testing.T) {
	good := "config.service.endpoint=https://cp.example\nconfig.service.auth=gw&203001010000&" + sig + "\n"
	cases := []struct {
		name, src string
		sentinel  error
		want      string // substring of the error, which names file:line
	}{
		{"no equals", good + "listen.http :8080\n", ErrMalformed, `env.conf:3: envconf: malformed line: expected key=value, got "listen.http :8080"`},
		{"empty key", good + "=x\n", ErrMalformed, "env.conf:3: envconf: malformed line: missing key"},
		{"key with space", good + "listen http=1\n", ErrMalformed, `env.conf:3: envconf: malformed line: key "listen http"`},
		{"bad bool", good + "config.service.endpoint.disableCertificateValidation=maybe\n", ErrInvalidValue, `env.conf:3: config.service.endpoint.disableCertificateValidation: envconf: invalid value: "maybe" is not a boolean`},
		{"bad size", good + "telemetry.queue.max-bytes=lots\n", ErrInvalidValue, `env.conf:3: telemetry.queue.max-bytes: envconf: invalid value: "lots" is not a size`},
		{"bad size unit", good + "telemetry.queue.max-bytes=5 parsecs\n", ErrInvalidValue, "is not a size"},
		{"tiny queue", good + "telemetry.queue.max-bytes=1000\n", ErrInvalidValue, "below the minimum of 1MiB"},
		{"bad addr", good + "listen.http=localhost\n", ErrInvalidValue, `env.conf:3: listen.http: envconf: invalid value: "localhost" is not host:port: missing port in address`},
		{"bad port", good + "status.listen=127.0.0.1:99999\n", ErrInvalidValue, `port "99999"`},
		{"bad logs", good + "telemetry.logs.std=xml\n", ErrInvalidValue, `"xml" is not one of text, json, none`},
		{"bad level", good + "telemetry.logs.std.level=loud\n", ErrInvalidValue, "is not one of all, debug"},
		{"http remote", "config.service.endpoint=http://cp.example\nconfig.service.auth=gw&203001010000&" + sig + "\n", ErrInvalidValue, "env.conf:1: config.service.endpoint: envconf: invalid value: \"http://cp.example\": http:// is allowed only for a loopback"},
		{"ftp", "config.service.endpoint=ftp://cp.example\n", ErrInvalidValue, "scheme must be https"},
		{"no host", "config.service.endpoint=https://\n", ErrInvalidValue, "has no host"},
		{"userinfo", "config.service.endpoint=https://u:p@cp.example\n", ErrInvalidValue, "credentials belong in config.service.auth"},
		{"token 2 parts", "config.service.endpoint=https://cp.example\nconfig.service.auth=GatewayKey gw&" + sig + "\n", ErrToken, "env.conf:2: config.service.auth: envconf: invalid gateway token: expected [GatewayKey ]<gatewayId>&<expiry yyyyMMddHHmm>&<signature>, found 2 part(s)"},
		{"token bad expiry", "config.service.endpoint=https://cp.example\nconfig.service.auth=gw&2030-01-01&" + sig + "\n", ErrToken, `expiry "2030-01-01" is not yyyyMMddHHmm`},
		{"token impossible date", "config.service.endpoint=https://cp.example\nconfig.service.auth=gw&203013010000&" + sig + "\n", ErrToken, "is not a valid date and time"},
		{"token empty id", "config.service.endpoint=https://cp.example\nconfig.service.auth=&203001010000&" + sig + "\n", ErrToken, "gateway id (before the first &) is empty"},
		{"token bad sig", "config.service.endpoint=https://cp.example\nconfig.service.auth=gw&203001010000&not*base64\n", ErrToken, "signature is not base64"},
		{"token short sig", "config.service.endpoint=https://cp.example\nconfig.service.auth=gw&203001010000&QUJD\n", ErrToken, "signature is 3 bytes, an HMAC-SHA512 is 64"},
		{"token bad id", "config.service.endpoint=https://cp.example\nconfig.service.auth=a/b&203001010000&" + sig + "\n", ErrToken, "gateway id"},
		{"token empty sig", "config.service.endpoint=https://cp.example\nconfig.service.auth=gw&203001010000&\n", ErrToken, "signature (after the second &) is empty"},
		{"entra", "config.service.endpoint=https://cp.example\nconfig.service.auth=azureAdApp\n", ErrUnsupported, "azureAdApp (Microsoft Entra ID authentication) is not supported"},
		{"no source", "# nothing\n", ErrNoSource, "env.conf: envconf: no configuration source"},
		{"endpoint without token", "config.service.endpoint=https://cp.example\n", ErrToken, "env.conf: config.service.auth: envconf: invalid gateway token: required with config.service.endpoint"},
		{"bad duration", good + "heartbeat.interval=soon\n", ErrInvalidValue, `"soon" is not a duration`},
		{"duration range", good + "heartbeat.interval=1ms\n", ErrInvalidValue, "1ms is outside 1s to 1h0m0s"},
		{"body total range", good + "policy.body.max-total-bytes=1KiB\n", ErrInvalidValue, `env.conf:3: policy.body.max-total-bytes: envconf: invalid value: 1KiB is not between 1MiB and 1TiB`},
		{"body total bad size", good + "policy.body.max-total-bytes=plenty\n", ErrInvalidValue, `"plenty" is not a size`},
		{"body total below per-request", good + "policy.body.max-bytes=8MiB\npolicy.body.max-total-bytes=4MiB\n", ErrInvalidValue,
			"env.conf:4: policy.body.max-total-bytes: envconf: invalid value: 4194304 bytes is less than policy.body.max-bytes (8388608 bytes)"},
		{"bad keep", good + "store.snapshots.keep=0\n", ErrInvalidValue, "not a whole number from 1 to 1000"},
		{"long line", good + "gateway.name=" + strings.Repeat("x", maxLine) + "\n", ErrMalformed, "env.conf:3: envconf: malformed line: line is"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("env.conf", []byte(tc.src))
			if err == nil {
				t.Fatalf("no error; config %+v", c)
			}
			if c != nil {
				t.Fatal("a Config came back with an error")
			}
			if !errors.Is(err, tc.sentinel) {
				t.Errorf("error %v is not %v", err, tc.sentinel)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error\n  %v\nwant it to contain\n  %s", err, tc.want)
			}
			var le *LineError
			if !errors.As(err, &le) || le.File != "env.conf" {
				t.Errorf("not a *LineError naming the file: %#v", err)
			}
		})
	}
}

func TestParseReportsEveryBadLine(t *testing.T) {
	src := "config.service.endpoint=https://cp.example\nconfig.service.auth=gw&203001010000&" + sig + "\nlisten.http=x\nbroken line\ntelemetry.logs.std=xml\n"
	_, err := Parse("e.conf", []byte(src))
	msg := err.Error()
	for _, want := range []string{"e.conf:3:", "e.conf:4:", "e.conf:5:"} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %s in\n%s", want, msg)
		}
	}
}

func TestParseStandaloneAndDuplicates(t *testing.T) {
	src := "config.local.path=/etc/apimgw/snapshot.json\nlisten.http=8080\nlisten.http=9090\nconfig.service.endpoint=https://cp.example\n"
	c, err := Parse("env.conf", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if c.Mode() != ModeStandalone || c.LocalPath != "/etc/apimgw/snapshot.json" || c.ListenHTTP != ":9090" || c.Token != nil || c.GatewayName != "" {
		t.Fatalf("%+v", c)
	}
	var ws []string
	for _, w := range c.Warnings {
		ws = append(ws, w.String())
	}
	got := strings.Join(ws, "\n")
	if !strings.Contains(got, "env.conf:3: listen.http: set again (first on line 2); the last value wins") ||
		!strings.Contains(got, "config.local.path: set together with config.service.endpoint: standalone mode") {
		t.Fatalf("warnings:\n%s", got)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"256MiB": 256 << 20, "256 MiB": 256 << 20, "1GiB": 1 << 30, "1gi": 1 << 30, "10MB": 10_000_000, "1048576": 1 << 20,
		"512KiB": 512 << 10, "2k": 2000, "0.5GiB": 1 << 29, "7B": 7, "1TiB": 1 << 40,
	} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1MiB", "1..2MiB", "1 XB", "99999999999TiB", "1e9"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) accepted", in)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"00:01:40": 100 * time.Second, "1.02:03:04": 26*time.Hour + 3*time.Minute + 4*time.Second, "90s": 90 * time.Second,
		"00:00:00.5": 500 * time.Millisecond, "1m30s": 90 * time.Second,
	} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "1:2", "24:00:00", "00:60:00", "a.00:00:01", "x"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) accepted", in)
		}
	}
}

func TestTokenPrefixOptional(t *testing.T) {
	for _, in := range []string{"gw1&203001010000&" + sig, "GatewayKey gw1&203001010000&" + sig, "gatewaykey   gw1&203001010000&" + sig, "  GatewayKey gw1&203001010000&" + sig + "  "} {
		tok, err := ParseToken(in)
		if err != nil || tok.GatewayID != "gw1" || tok.Header() != "GatewayKey gw1&203001010000&"+sig {
			t.Errorf("ParseToken(%q) = %+v, %v", in, tok, err)
		}
	}
	a, _ := ParseToken("gw1&203001010000&" + sig)
	b, _ := ParseToken("GatewayKey gw1&203001010000&" + sig)
	if !a.Equal(b) {
		t.Error("same token with and without prefix differ")
	}
}

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "env.conf")
	if _, err := Load(path); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	os.WriteFile(path, []byte(azurePortal), 0o600)
	c, err := Load(path)
	if err != nil || c.File != path {
		t.Fatalf("%v %+v", err, c)
	}
	os.WriteFile(path, []byte(azurePortal+"oops\n"), 0o600)
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), path+":3:") {
		t.Fatalf("error does not name %s:3: %v", path, err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(azurePortal))
	f.Add([]byte("config.local.path=/x\nlisten.http=:1\n# c\n\n"))
	f.Add([]byte("config.service.endpoint=contoso.configuration.azure-api.net\nconfig.service.auth=a&202001010000&QQ==\ntelemetry.queue.max-bytes=1.5GiB\nconfig.service.integration.timeout=1.00:00:00\n"))
	f.Add([]byte("\xef\xbb\xbf=\n==\nk=\"v\"\n"))
	f.Add([]byte("config.service.endpoint=http://[::1]:0/\nconfig.service.auth=GatewayKey gw&209912312359&AAAA\nlisten.https=\nstatus.listen=9\n"))
	f.Add([]byte("config.service.endpoint=https://cp\nconfig.service.auth=azureAdApp\n"))
	f.Add([]byte("config.local.path=/s\nconfig.service.integration.timeout=1.23:59:59.999\nheartbeat.interval=00:00:01\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.conf", data)
		if err != nil {
			if c != nil {
				t.Fatal("config with error")
			}
			var le *LineError
			if !errors.As(err, &le) {
				t.Fatalf("error without file/line: %v", err)
			}
			return
		}
		if c.Endpoint == "" && c.LocalPath == "" {
			t.Fatal("accepted a config with no source")
		}
		if c.QueueMaxBytes < MinQueueMaxBytes || c.SnapshotsKeep < 1 || c.ListenHTTP == "" || c.StatusListen == "" || c.StorePath == "" {
			t.Fatalf("invariant broken: %+v", c)
		}
		if c.Token != nil {
			again, err := ParseToken(c.Token.Header())
			if err != nil || !again.Equal(*c.Token) {
				t.Fatalf("token does not round-trip: %v", err)
			}
		}
	})
}

func TestChanged(t *testing.T) {
	a, err := Parse("env.conf", []byte(azurePortal))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse("env.conf", []byte(strings.Replace(azurePortal, "202006031551", "203006031551", 1)+"listen.http=:9000\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(b.Changed(a), ",")
	if got != "config.service.auth,listen.http" {
		t.Fatalf("changed = %s", got)
	}
	if len(a.Changed(a)) != 0 {
		t.Fatal("a config differs from itself")
	}
	if !RestartOnly("listen.http") || RestartOnly("config.service.auth") {
		t.Fatal("RestartOnly wrong")
	}
	if n := len(a.Changed(nil)); n < 10 {
		t.Fatalf("against nil only %d keys changed", n)
	}
	// Every key Changed knows is a key the parser honours.
	for _, k := range b.Changed(nil) {
		if !Honoured(k) {
			t.Errorf("Changed reports %s, which the parser does not honour", k)
		}
	}
}

// TestRedisKeys: policy.rate-limit.redis.url takes redis:// and rediss://
// URLs (a bad one is an error naming the key and line); Settings never shows
// the password; the password file is kept as a path.
func TestRedisKeys(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "env.conf")
	for _, tc := range []struct {
		url, want, bad string
	}{
		{url: "redis://127.0.0.1:6379/0", want: "redis://127.0.0.1:6379/0"},
		{url: "rediss://cache.example:6380/2", want: "rediss://cache.example:6380/2"},
		{url: "redis://:s3cret@127.0.0.1:6379", want: "redis://:***@127.0.0.1:6379"},
		{url: "redis://u:s3cret@h/1", want: "redis://u:***@h/1"},
		{url: "", want: ""},
		{url: "http://127.0.0.1:6379", bad: "scheme"},
		{url: "redis:///0", bad: "no host"},
		{url: "redis://h:6379/zero", bad: "database"},
		{url: "redis://h:6379/0?dial_timeout=1", bad: "query"},
	} {
		body := "config.local.path=/x.json\npolicy.rate-limit.redis.url=" + tc.url + "\npolicy.rate-limit.redis.password.file=/run/secrets/redis\npolicy.rate-limit.redis.ca=/etc/apimgw/redis-ca.pem\n"
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(path)
		if tc.bad != "" {
			if err == nil || !strings.Contains(err.Error(), "policy.rate-limit.redis.url") || !strings.Contains(err.Error(), ":2") || !strings.Contains(err.Error(), tc.bad) {
				t.Errorf("%q: Load = %v, want an error naming the key, line 2 and %q", tc.url, err, tc.bad)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", tc.url, err)
		}
		if c.RedisURL != tc.url || c.RedisPasswordFile != "/run/secrets/redis" || c.RedisCAFile != "/etc/apimgw/redis-ca.pem" {
			t.Errorf("%q: RedisURL %q, RedisPasswordFile %q", tc.url, c.RedisURL, c.RedisPasswordFile)
		}
		for _, st := range c.Settings() {
			if strings.Contains(st.Value, "s3cret") {
				t.Errorf("Settings shows the password: %+v", st)
			}
			if st.Key == "policy.rate-limit.redis.url" && st.Value != tc.want {
				t.Errorf("%q: Settings shows %q, want %q", tc.url, st.Value, tc.want)
			}
		}
		if !RestartOnly("policy.rate-limit.redis.url") {
			t.Error("the Redis URL is read once at start: it must be restart-only")
		}
	}
}

// TestRedisMode: policy.rate-limit.redis.mode is exact (the default) or
// approximate; another value, or a mode without policy.rate-limit.redis.url,
// is an error naming the key and line.
func TestRedisMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "env.conf")
	for _, tc := range []struct {
		body, bad string
		approx    bool
	}{
		{body: "policy.rate-limit.redis.url=redis://h:6379/0\n"},
		{body: "policy.rate-limit.redis.url=redis://h:6379/0\npolicy.rate-limit.redis.mode=exact\n"},
		{body: "policy.rate-limit.redis.url=redis://h:6379/0\npolicy.rate-limit.redis.mode=approximate\n", approx: true},
		{body: "policy.rate-limit.redis.url=redis://h:6379/0\npolicy.rate-limit.redis.mode=fast\n", bad: "exact"},
		{body: "policy.rate-limit.redis.mode=approximate\npolicy.rate-limit.redis.url=\n", bad: "policy.rate-limit.redis.url is not set"},
	} {
		if err := os.WriteFile(path, []byte("config.local.path=/x.json\n"+tc.body), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(path)
		if tc.bad != "" {
			if err == nil || !strings.Contains(err.Error(), "policy.rate-limit.redis.mode") || !strings.Contains(err.Error(), tc.bad) {
				t.Errorf("%q: Load = %v, want an error naming the key and %q", tc.body, err, tc.bad)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", tc.body, err)
		}
		if c.RedisApproximate != tc.approx {
			t.Errorf("%q: RedisApproximate %v, want %v", tc.body, c.RedisApproximate, tc.approx)
		}
	}
	if !RestartOnly("policy.rate-limit.redis.mode") {
		t.Error("the mode is read once at start: it must be restart-only")
	}
}
