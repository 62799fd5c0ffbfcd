//go:build postgres

package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/apimgw/apimgw/controlplane/pgtest"
)

// pgSetup starts a PostgreSQL server (make test-postgres; failing, never
// skipping, when there is none), a database on it and an admin token file
// for apimcp replicas.
func pgSetup(t *testing.T) (srv *pgtest.Server, url, tokFile, token string) {
	t.Helper()
	srv, err := pgtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	url, err = srv.NewDatabase()
	if err != nil {
		t.Fatal(err)
	}
	token = "replica-admin-token-0123456789abcdef"
	tokFile = filepath.Join(t.TempDir(), "admin-token")
	if err := os.WriteFile(tokFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return srv, url, tokFile, token
}

func startReplica(t *testing.T, bin, url, tokFile string) *proc {
	t.Helper()
	return start(t, bin, "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--store", url, "--admin-token-file", tokFile)
}

// try is get without failing the test on a transport error (a killed
// replica): code 0 then.
func try(c *http.Client, method, url, token, body string) (int, string) {
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestPGReplicaKilledMidWrite: two apimcp binaries on one database; one is
// SIGKILLed while it takes a stream of writes. Every write it acknowledged
// is there, complete, at the other; the one in flight is there entirely or
// not at all; the survivor takes writes at once (no lock left behind), and
// the killed one, restarted, serves the same state.
func TestPGReplicaKilledMidWrite(t *testing.T) {
	bin := binary(t)
	_, url, tokFile, token := pgSetup(t)
	a := startReplica(t, bin, url, tokFile)
	b := startReplica(t, bin, url, tokFile)
	c := &http.Client{Timeout: 10 * time.Second}
	if code, body := try(c, "PUT", a.url+"/apis/echo", token, `{"properties":{"path":"echo"}}`); code != 201 {
		t.Fatalf("PUT: %d %s", code, body)
	}
	var mu sync.Mutex
	acked := map[int]bool{}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ; i += 4 {
				code, _ := try(c, "PUT", fmt.Sprintf("%s/apis/echo/operations/op%d", a.url, i), token,
					fmt.Sprintf(`{"properties":{"method":"GET","urlTemplate":"/op/%d","displayName":"op %d"}}`, i, i))
				if code != 201 {
					return // the replica is gone
				}
				mu.Lock()
				acked[i] = true
				mu.Unlock()
			}
		}()
	}
	time.Sleep(700 * time.Millisecond)
	a.cmd.Process.Signal(syscall.SIGKILL)
	a.cmd.Wait()
	wg.Wait()
	if len(acked) < 5 {
		t.Fatalf("only %d writes acknowledged before the kill: the test did not load the replica", len(acked))
	}
	// The survivor takes a write at once.
	start := time.Now()
	if code, body := try(c, "PUT", b.url+"/apis/echo/operations/after", token, `{"properties":{"method":"GET","urlTemplate":"/after"}}`); code != 201 {
		t.Fatalf("survivor write: %d %s", code, body)
	} else if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("survivor write took %v", d)
	}
	check := func(base string) int {
		code, body := try(c, "GET", base+"/apis/echo/operations", token, "")
		if code != 200 {
			t.Fatalf("list: %d %s", code, body)
		}
		for i := range acked {
			if !strings.Contains(body, fmt.Sprintf(`"urlTemplate":"/op/%d"`, i)) {
				t.Fatalf("acknowledged write op%d is missing", i)
			}
		}
		return strings.Count(body, `"urlTemplate":"/op/`)
	}
	n := check(b.url)
	// Four writers: up to four writes were in flight at the kill.
	if n < len(acked) || n > len(acked)+4 {
		t.Fatalf("%d operations stored, %d acknowledged", n, len(acked))
	}
	a = startReplica(t, bin, url, tokFile)
	if n2 := check(a.url); n2 != n {
		t.Fatalf("restarted replica shows %d operations, the survivor %d", n2, n)
	}
	t.Logf("%d writes acknowledged before SIGKILL, %d stored", len(acked), n)
	a.stop(t)
	b.stop(t)
}

// TestPGBinaryRefusesNewerSchema: apimcp on a database migrated by a newer
// apimcp exits 1 saying so.
func TestPGBinaryRefusesNewerSchema(t *testing.T) {
	bin := binary(t)
	_, url, tokFile, _ := pgSetup(t)
	p := startReplica(t, bin, url, tokFile)
	p.stop(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "INSERT INTO apimcp_schema (version, name) VALUES (1000, 'future.sql')"); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--store", url, "--admin-token-file", tokFile).CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "schema version 1000") || !strings.Contains(string(out), "newer than this apimcp") {
		t.Fatalf("newer schema: %v %s", err, out)
	}
}
