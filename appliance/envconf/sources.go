package envconf

import (
	"fmt"
	"os"
	"strings"
)

// Source is where one key's value came from: a line of env.conf or an
// environment variable of the key's name.
type Source struct {
	File string // the env.conf (lines only)
	Line int    // its line, 1-based (lines only)
	// Env is true for an environment variable.
	Env bool
	// Over names the file line an environment variable overrode ("" when
	// the file did not set the key).
	Over string
}

func (s Source) String() string {
	switch {
	case s.Env && s.Over != "":
		return "environment (over " + s.Over + ")"
	case s.Env:
		return "environment"
	case s.File == "":
		return "default"
	}
	return fmt.Sprintf("%s:%d", s.File, s.Line)
}

// Setting is one key's effective value and where it came from, for the
// status page.
type Setting struct {
	Key string
	// Value is what the gateway uses, printable: the token shows its gateway
	// id and expiry, never its signature.
	Value string
	// From is "default", "env.conf:3", "environment", "environment (over
	// env.conf:3)", or for the token read from a file "file /path".
	From string
}

// Settings lists every key apimgw acts on with its effective value and
// source, in a fixed order (the order of Changed).
func (c *Config) Settings() []Setting {
	var out []Setting
	for _, kv := range c.values() {
		from := "default"
		if src, ok := c.Sources[kv.key]; ok {
			from = src.String()
		}
		if kv.key == "config.service.auth" && c.AuthFile != "" {
			from = "file " + c.AuthFile
		}
		if kv.key == "gateway.name" && from == "default" && c.Token != nil {
			from = "token"
		}
		v := fmt.Sprint(kv.val)
		if kv.key == "config.service.auth" && c.Token != nil {
			v = c.Token.String()
		}
		if kv.key == "policy.rate-limit.redis.url" {
			v = RedactURL(v)
		}
		out = append(out, Setting{Key: kv.key, Value: v, From: from})
	}
	return out
}

// WatchPaths are the files a running gateway should watch to see this
// configuration change: the env.conf when there was one (or its directory
// exists, so that one can appear) and the token file. The standalone
// snapshot file is the caller's (it reloads differently).
func (c *Config) WatchPaths() []string {
	var out []string
	if c.FileRead {
		out = append(out, c.File)
	} else if dir := dirOf(c.File); dir != "" {
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			out = append(out, c.File)
		}
	}
	if c.AuthFile != "" {
		out = append(out, c.AuthFile)
	}
	return out
}

func dirOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		if i == 0 {
			return "/"
		}
		return p[:i]
	}
	return "."
}

// guess is an unknown key that looks like a known one.
type guess struct {
	typed, meant string
	src          Source
}

// suggest returns the known key nearest to key and whether it is near enough
// to be a typo: the same letters in another case, or at most one edit for a
// short key and two for a key of 8 characters or more. Keys apimgw acts on
// win a tie over the Azure keys it only accepts.
func suggest(key string) (string, bool) {
	if k := caseInsensitive(key); k != "" {
		return k, true
	}
	best, bestD := "", 1<<30
	for _, k := range Keys() {
		d := editDistance(key, k)
		if d < bestD || d == bestD && Honoured(k) && !Honoured(best) {
			best, bestD = k, d
		}
	}
	limit := 1
	if len(key) >= 8 {
		limit = 2
	}
	if bestD > limit {
		return "", false
	}
	return best, true
}

// editDistance is the Levenshtein distance (insert, delete, substitute),
// with a swap of two neighbouring characters counted as one edit.
func editDistance(a, b string) int {
	if a == b {
		return 0
	}
	if d := len(a) - len(b); d > 3 || d < -3 {
		return 4 // far: no need to compute
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
