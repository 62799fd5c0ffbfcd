package apimgw

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/apimgw/apimgw"

// rule says what one layer of the repository may import: which of our packages
// (by path prefix, relative to the module) and which third-party modules. A nil
// thirdParty means any third-party module is allowed.
type rule struct {
	ours       []string
	thirdParty []string
}

// rules are the import directions of docs/architecture.md. The longest matching key
// wins, so netstack/http1 is stricter than netstack.
var rules = map[string]rule{
	"cmd":                {ours: []string{""}},
	"appliance":          {ours: []string{"appliance", "netstack", "policy", "store", "wire", "systemd"}},
	"controlplane":       {ours: []string{"controlplane", "policy", "wire"}},
	"policy":             {ours: []string{"policy", "netstack/http1", "wire"}},
	"store":              {ours: []string{"store", "wire"}, thirdParty: []string{"go.etcd.io/bbolt", "golang.org/x/sys"}},
	"netstack":           {ours: []string{"netstack"}, thirdParty: []string{"github.com/panjf2000/gnet/v2", "golang.org/x/sys"}},
	"netstack/http1":     {ours: []string{"netstack/http1"}, thirdParty: []string{}},
	"netstack/h2client":  {ours: []string{"netstack/h2client", "netstack/http1"}, thirdParty: []string{"golang.org/x/net/http2"}},
	"netstack/http2":     {ours: []string{"netstack/http2"}, thirdParty: []string{"golang.org/x/net/http2", "golang.org/x/net/http/httpguts"}},
	"wire":               {ours: []string{"wire"}, thirdParty: []string{}},
	"wire/urltemplate":   {ours: []string{"wire/urltemplate"}, thirdParty: []string{}},
	"systemd":            {ours: []string{"systemd"}, thirdParty: []string{"github.com/coreos/go-systemd/v22"}},
	"internal/testalloc": {ours: []string{"internal/testalloc"}, thirdParty: []string{}},
	"internal/testenv":   {ours: []string{"internal/testenv"}, thirdParty: []string{}},
	"internal/testredis": {ours: []string{"internal/testredis"}, thirdParty: []string{}},
	// A benchmark tool (scripts/bench-hybrid.sh TRACE=DIR): reads execution traces.
	"internal/traceloops": {ours: []string{}, thirdParty: []string{"golang.org/x/exp/trace"}},
	// The Redis glue of shared counters: policy's interface filled with go-redis.
	"appliance/shared": {ours: []string{"appliance/shared", "policy", "netstack/http1", "wire"}, thirdParty: []string{"github.com/redis/go-redis/v9"}},
	"":                 {ours: []string{""}}, // the module root itself
}

type pkg struct {
	ImportPath string
	Name       string
	Doc        string
	Imports    []string
	Standard   bool
	Module     *struct{ Path string }
	GoFiles    []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 8 {
		t.Fatalf("go list found only %d packages; is the test running at the module root?", len(pkgs))
	}
	return pkgs
}

func rel(path string) string {
	return strings.TrimPrefix(strings.TrimPrefix(path, module), "/")
}

func ruleFor(relPath string) (string, rule) {
	best, bestRule := "", rules[""]
	for k, r := range rules {
		if k == "" {
			continue
		}
		if (relPath == k || strings.HasPrefix(relPath, k+"/")) && len(k) > len(best) {
			best, bestRule = k, r
		}
	}
	return best, bestRule
}

func hasPathPrefix(p, prefix string) bool {
	return prefix == "" || p == prefix || strings.HasPrefix(p, prefix+"/")
}

// isStd reports whether an import path belongs to the standard library (its first
// element has no dot).
func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

func TestImportDirections(t *testing.T) {
	for _, p := range listPackages(t) {
		me := rel(p.ImportPath)
		layer, r := ruleFor(me)
		for _, imp := range p.Imports {
			switch {
			case strings.HasPrefix(imp, module+"/") || imp == module:
				target := rel(imp)
				ok := false
				for _, allowed := range r.ours {
					if hasPathPrefix(target, allowed) {
						ok = true
					}
				}
				if !ok {
					t.Errorf("%s (layer %q) imports %s: not allowed by docs/architecture.md", me, layer, target)
				}
			case isStd(imp):
			default:
				if r.thirdParty == nil {
					continue
				}
				ok := false
				for _, allowed := range r.thirdParty {
					if hasPathPrefix(imp, allowed) {
						ok = true
					}
				}
				if !ok {
					t.Errorf("%s (layer %q) imports third-party %s: allowed are %v", me, layer, imp, r.thirdParty)
				}
			}
		}
	}
}

func TestRuleMatching(t *testing.T) {
	for path, want := range map[string]string{
		"netstack/http1":    "netstack/http1",
		"netstack":          "netstack",
		"netstack/pool":     "netstack",
		"netstack/h2client": "netstack/h2client",
		"appliance/status":  "appliance",
		"cmd/apimgw":        "cmd",
		"storeish":          "",
		"controlplane/arm":  "controlplane",
		"wire":              "wire",
		"wire/urltemplate":  "wire/urltemplate",
		"policy/expr":       "policy",
		"netstack/http2":    "netstack/http2",
	} {
		if got, _ := ruleFor(path); got != want {
			t.Errorf("ruleFor(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestPackageDocs(t *testing.T) {
	for _, p := range listPackages(t) {
		if len(p.GoFiles) == 0 {
			continue
		}
		if p.Name == "main" {
			if p.Doc == "" {
				t.Errorf("%s: command has no doc comment", rel(p.ImportPath))
			}
			continue
		}
		if !strings.HasPrefix(p.Doc, "Package "+p.Name+" ") {
			t.Errorf("%s: package doc comment missing or not of the form \"Package %s ...\" (got %q)", rel(p.ImportPath), p.Name, p.Doc)
		}
	}
}
