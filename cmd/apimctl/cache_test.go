package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// apimctl cache: create from flags or a file (the password stays out of the
// command line), list and get show it masked, a bad connection string is
// the server's 400 with the part named, delete.
func TestCacheCommands(t *testing.T) {
	startServer(t)
	mustCtl(t, "cache", "create", "default", "--connection-string", "redis.local:6380,password=s3cret,ssl=True,abortConnect=False", "--use-from-location", "default")
	f := filepath.Join(t.TempDir(), "cs")
	os.WriteFile(f, []byte("edge.redis:6379,password=fr0m-file\n"), 0o600)
	mustCtl(t, "cache", "create", "edge", "--connection-string-file", f, "--use-from-location", "Berlin edge", "--description", "the edge's own")
	out := mustCtl(t, "cache", "list")
	if !strings.Contains(out, "USE FROM LOCATION") || !strings.Contains(out, "Berlin edge") || !strings.Contains(out, "password=***") ||
		strings.Contains(out, "s3cret") || strings.Contains(out, "fr0m-file") {
		t.Fatalf("cache list:\n%s", out)
	}
	if out := mustCtl(t, "cache", "get", "edge", "-o", "json"); !strings.Contains(out, `"connectionString": "edge.redis:6379,password=***"`) {
		t.Fatalf("cache get:\n%s", out)
	}
	// The server's 400 (naming the option, tested in controlplane) is a failure exit.
	if code, _ := ctl(t, "cache", "create", "bad", "--connection-string", "r:1,password=s3cret,colour=blue", "--use-from-location", "x"); code == 0 {
		t.Fatal("a bad connection string: exit 0")
	}
	mustCtl(t, "cache", "delete", "edge")
	if out := mustCtl(t, "cache", "list"); strings.Contains(out, "edge") {
		t.Fatalf("after delete:\n%s", out)
	}
}
