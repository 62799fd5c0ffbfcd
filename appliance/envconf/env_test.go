package envconf

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const token = "GatewayKey hybrid&202006031551&" + sig

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func setting(t *testing.T, c *Config, key string) Setting {
	t.Helper()
	for _, s := range c.Settings() {
		if s.Key == key {
			return s
		}
	}
	t.Fatalf("no setting %s", key)
	return Setting{}
}

// A container has no env.conf: the variables alone configure the gateway,
// as `docker run --env-file` or a ConfigMap's envFrom give them.
func TestLoadEnvWithoutFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "etc", "env.conf")
	env := []string{"PATH=/usr/bin", "HOME=/home/x", "config.service.endpoint=https://cp.example.net",
		"config.service.auth=" + token, "listen.http=:9090", "telemetry.logs.std=json"}
	c, err := LoadEnv(missing, env)
	if err != nil {
		t.Fatal(err)
	}
	if c.FileRead || c.Endpoint != "https://cp.example.net" || c.Token == nil || c.ListenHTTP != ":9090" || c.LogsStd != "json" || c.GatewayName != "hybrid" {
		t.Fatalf("config %+v", c)
	}
	if len(c.Warnings) != 0 {
		t.Fatalf("warnings: %v", c.Warnings)
	}
	for key, want := range map[string]string{"listen.http": "environment", "status.listen": "default", "gateway.name": "token", "config.service.auth": "environment"} {
		if got := setting(t, c, key).From; got != want {
			t.Errorf("%s from %q, want %q", key, got, want)
		}
	}
	if v := setting(t, c, "config.service.auth").Value; strings.Contains(v, sig) {
		t.Fatalf("Settings leaks the signature: %s", v)
	}
	// The env.conf's directory does not exist: nothing to watch.
	if p := c.WatchPaths(); len(p) != 0 {
		t.Fatalf("WatchPaths = %v", p)
	}
	// No file and no variable: the file's error, as before.
	if _, err := LoadEnv(missing, []string{"PATH=/usr/bin"}); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "no environment variable is an env.conf key") {
		t.Fatalf("err = %v", err)
	}
	// No file and only a mistyped variable: the error names it.
	if _, err := LoadEnv(missing, []string{"config.servce.endpoint=https://cp"}); !errors.Is(err, ErrNoSource) || !strings.Contains(err.Error(), "did you mean config.service.endpoint?") {
		t.Fatalf("err = %v", err)
	}
}

// The environment wins over the file, key by key, and says so.
func TestLoadEnvOverridesFile(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "env.conf", "config.local.path=/srv/snap.json\nlisten.http=:1111\nstatus.listen=127.0.0.1:2222\n")
	c, err := LoadEnv(p, []string{"listen.http=:3333"})
	if err != nil {
		t.Fatal(err)
	}
	if c.ListenHTTP != ":3333" || c.StatusListen != "127.0.0.1:2222" || !c.FileRead {
		t.Fatalf("listen %s status %s", c.ListenHTTP, c.StatusListen)
	}
	if got := setting(t, c, "listen.http").From; got != "environment (over "+p+":2)" {
		t.Fatalf("from %q", got)
	}
	if got := setting(t, c, "status.listen").From; got != p+":3" {
		t.Fatalf("from %q", got)
	}
	if len(c.Warnings) != 1 || c.Warnings[0].String() != "environment variable listen.http: also set on "+p+":2; the environment variable wins" {
		t.Fatalf("warnings %v", c.Warnings)
	}
	if w := c.WatchPaths(); len(w) != 1 || w[0] != p {
		t.Fatalf("WatchPaths = %v", w)
	}
}

// A bad value in a variable is an error naming the variable.
func TestLoadEnvErrorNamesVariable(t *testing.T) {
	_, err := LoadEnv(filepath.Join(t.TempDir(), "env.conf"), []string{"config.local.path=/x", "listen.http=localhost"})
	if !errors.Is(err, ErrInvalidValue) || !strings.HasPrefix(err.Error(), "environment variable listen.http: ") {
		t.Fatalf("err = %v", err)
	}
	var le *LineError
	if !errors.As(err, &le) || !le.Env || le.Key != "listen.http" {
		t.Fatalf("LineError %+v", le)
	}
}

// Did-you-mean for keys close to known ones, in the file and in variables;
// a mistyped listener key says the listener stays on all interfaces.
func TestUnknownKeyDidYouMean(t *testing.T) {
	const base = "config.local.path=/srv/snap.json\n"
	cases := []struct {
		name, file string
		env        []string
		want       []string // warnings, in order
	}{
		{"listener typo", base + "lisen.http=127.0.0.1:8080\n", nil, []string{
			"env.conf:2: lisen.http: unknown key, ignored (did you mean listen.http?)",
			"env.conf:2: lisen.http: listen.http is not set, so it keeps its default :8080: listening on all interfaces"}},
		{"listener typo but the key is set too", base + "lisen.http=127.0.0.1:8080\nlisten.http=127.0.0.1:8080\n", nil, []string{
			"env.conf:2: lisen.http: unknown key, ignored (did you mean listen.http?)"}},
		{"https typo", base + "listen.htps=127.0.0.1:8443\n", nil, []string{
			"env.conf:2: listen.htps: unknown key, ignored (did you mean listen.https?)",
			"env.conf:2: listen.htps: listen.https is not set, so it keeps its default :8081: listening on all interfaces"}},
		{"status typo: its default is loopback", base + "status.lisen=:9000\n", nil, []string{
			"env.conf:2: status.lisen: unknown key, ignored (did you mean status.listen?)"}},
		{"swapped letters", base + "stroe.path=/x\n", nil, []string{
			"env.conf:2: stroe.path: unknown key, ignored (did you mean store.path?)"}},
		{"far from every key", base + "colour=blue\n", nil, []string{"env.conf:2: colour: unknown key, ignored"}},
		{"variable typo", base, []string{"lisen.http=:1", "PATH=/bin", "foo.bar=1"}, []string{
			"environment variable lisen.http: unknown key, ignored (did you mean listen.http?)",
			"environment variable lisen.http: listen.http is not set, so it keeps its default :8080: listening on all interfaces"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parse("env.conf", []byte(tc.file), true, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range c.Warnings {
				got = append(got, w.String())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// "no configuration source" names the unknown key that was probably meant.
func TestNoSourceNamesTypo(t *testing.T) {
	cases := []struct {
		file string
		env  []string
		want string
	}{
		{"config.servce.endpoint=https://cp.example.net\nconfig.service.auth=" + token + "\n", nil,
			"env.conf:1 sets config.servce.endpoint, which is not a key: did you mean config.service.endpoint?"},
		{"config.local.pth=/srv/x.json\n", nil, "env.conf:1 sets config.local.pth, which is not a key: did you mean config.local.path?"},
		{"", []string{"config.servce.endpoint=https://cp.example.net"},
			"environment sets config.servce.endpoint, which is not a key: did you mean config.service.endpoint?"},
	}
	for _, tc := range cases {
		_, err := parse("env.conf", []byte(tc.file), true, tc.env)
		if !errors.Is(err, ErrNoSource) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v\nwant it to contain %q", tc.file, err, tc.want)
		}
	}
	// The token key mistyped: the "required" error names it.
	_, err := Parse("env.conf", []byte("config.service.endpoint=https://cp.example.net\nconfig.service.aut="+token+"\n"))
	if !errors.Is(err, ErrToken) || !strings.Contains(err.Error(), "env.conf:2 sets config.service.aut, which is not a key: did you mean config.service.auth?") {
		t.Fatalf("err = %v", err)
	}
}

// config.service.auth.file: the token read from a mounted Secret.
func TestAuthFile(t *testing.T) {
	dir := t.TempDir()
	tok := writeFile(t, dir, "token", token+"\n")
	p := writeFile(t, dir, "env.conf", "config.service.endpoint=https://cp.example.net\nconfig.service.auth.file="+tok+"\n")
	c, err := LoadEnv(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Token == nil || c.Token.GatewayID != "hybrid" || c.AuthFile != tok {
		t.Fatalf("token %v file %q", c.Token, c.AuthFile)
	}
	if s := setting(t, c, "config.service.auth"); s.From != "file "+tok || strings.Contains(s.Value, sig) {
		t.Fatalf("setting %+v", s)
	}
	if w := c.WatchPaths(); len(w) != 2 || w[0] != p || w[1] != tok {
		t.Fatalf("WatchPaths = %v", w)
	}
	// The file's content changes: the next load has the new token, and
	// Changed reports the auth key.
	writeFile(t, dir, "token", "other&203001010000&"+sig)
	c2, err := LoadEnv(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c2.Token.GatewayID != "other" || strings.Join(c2.Changed(c), ",") != "config.service.auth,gateway.name" {
		t.Fatalf("token %v changed %v", c2.Token, c2.Changed(c))
	}

	bad := []struct{ file, want string }{
		{"config.service.endpoint=https://cp.example.net\nconfig.service.auth.file=" + filepath.Join(dir, "nope") + "\n",
			"env.conf:2: config.service.auth.file: envconf: invalid gateway token: open " + filepath.Join(dir, "nope")},
		{"config.service.endpoint=https://cp.example.net\nconfig.service.auth=" + token + "\nconfig.service.auth.file=" + tok + "\n",
			"env.conf:3: config.service.auth.file: envconf: invalid value: set either config.service.auth (env.conf:2) or config.service.auth.file, not both"},
		{"config.service.endpoint=https://cp.example.net\nconfig.service.auth.file=" + writeFile(t, dir, "junk", "hello") + "\n",
			"env.conf:2: config.service.auth.file: " + filepath.Join(dir, "junk") + ": envconf: invalid gateway token"},
	}
	for _, b := range bad {
		_, err := Parse("env.conf", []byte(b.file))
		if err == nil || !strings.HasPrefix(err.Error(), b.want) {
			t.Errorf("err = %v\nwant prefix %q", err, b.want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"abc", "abc", 0}, {"lisen.http", "listen.http", 1}, {"stroe", "store", 1}, {"abc", "", 3}, {"kitten", "sitting", 3}} {
		if got := editDistance(tc.a, tc.b); got != tc.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.d)
		}
	}
}

// editDistance is a metric on what the fuzzer finds: zero only for equal
// strings, symmetric, at most the longer length; and suggest never panics.
func FuzzEditDistance(f *testing.F) {
	for _, s := range [][2]string{{"lisen.http", "listen.http"}, {"", "x"}, {"stroe.path", "store.path"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if len(a) > 200 || len(b) > 200 {
			return
		}
		d := editDistance(a, b)
		if (d == 0) != (a == b) || d != editDistance(b, a) || d > max(len(a), len(b)) {
			t.Fatalf("editDistance(%q, %q) = %d (reverse %d)", a, b, d, editDistance(b, a))
		}
		if k, ok := suggest(a); ok && k == "" {
			t.Fatalf("suggest(%q) close but empty", a)
		}
	})
}
