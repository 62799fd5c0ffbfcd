package gateway_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// threadField counts the values of one field (1-based, as in proc(5)) of
// /proc/PID/task/TID/stat over every thread of pid.
func threadField(t *testing.T, pid, field int) map[string]int {
	t.Helper()
	stats, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if err != nil || len(stats) == 0 {
		t.Fatalf("threads of %d: %v", pid, err)
	}
	out := map[string]int{}
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread exited
		}
		s := string(b)
		out[strings.Fields(s[strings.LastIndexByte(s, ')')+1:])[field-3]]++ // fields 3 onwards
	}
	return out
}

// load sends requests from several clients at once, so that the runtime
// starts the threads it wants under load.
func load(t *testing.T, url string) {
	var wg sync.WaitGroup
	for c := 0; c < 16; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := &http.Client{Transport: &http.Transport{}}
			for i := 0; i < 50; i++ {
				resp, err := cl.Get(url)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
}

// Scheduling policies as /proc's stat field 41 gives them.
const (
	schedOther = "0"
	schedBatch = "3"
	schedIdle  = "5"
)

// loadedUnder starts a gateway with extra env.conf lines under the command
// wrap (none: as is), sends it a load, and checks that every thread runs
// under policy.
func loadedUnder(t *testing.T, wrap []string, extra string, policy string) *daemon {
	t.Helper()
	if len(wrap) > 0 {
		bin, err := exec.LookPath(wrap[0])
		if err != nil {
			t.Fatalf("%s is needed for this test", wrap[0])
		}
		wrap = append([]string{bin}, wrap[1:]...)
	}
	b := backend(t)
	d := newDaemon(t, b.URL, extra)
	d.wrap = wrap
	d.start()
	load(t, d.data+"/echo/x")
	time.Sleep(100 * time.Millisecond)
	if got := threadField(t, d.cmd.Process.Pid, 41); got[policy] == 0 || len(got) != 1 {
		t.Fatalf("thread policies %v, want every thread under policy %s\n%s", got, policy, d.logs())
	}
	return d
}

// TestSchedulingBatch: by default every thread of the gateway runs under
// SCHED_BATCH, the threads started under load too (process.scheduling).
func TestSchedulingBatch(t *testing.T) {
	d := loadedUnder(t, nil, "", schedBatch)
	if !strings.Contains(d.logs(), "cpu scheduling: SCHED_BATCH (process.scheduling=batch)") {
		t.Errorf("no log line says so:\n%s", d.logs())
	}
}

// TestSchedulingInherit: process.scheduling=inherit leaves the threads
// under the policy the process was started with (SCHED_OTHER here).
func TestSchedulingInherit(t *testing.T) {
	loadedUnder(t, nil, "process.scheduling=inherit\n", schedOther)
}

// TestSchedulingKeepsOperatorPolicy: a policy the operator chose (chrt, or
// systemd's CPUSchedulingPolicy=) is not replaced by batch.
func TestSchedulingKeepsOperatorPolicy(t *testing.T) {
	d := loadedUnder(t, []string{"chrt", "--idle", "0"}, "", schedIdle)
	if !strings.Contains(d.logs(), "is kept") {
		t.Errorf("no log line says the policy was kept:\n%s", d.logs())
	}
}

// TestSchedulingAlreadyBatch: started under SCHED_BATCH (the packaged unit's
// CPUSchedulingPolicy=batch), the gateway changes nothing and says so.
func TestSchedulingAlreadyBatch(t *testing.T) {
	d := loadedUnder(t, []string{"chrt", "--batch", "0"}, "", schedBatch)
	if !strings.Contains(d.logs(), "as the process was started") {
		t.Errorf("the log does not say the policy came from the start:\n%s", d.logs())
	}
}

// TestSchedulingKeepsNice: switching to SCHED_BATCH leaves the nice value
// the gateway was started with (systemd's Nice=, nice(1)).
func TestSchedulingKeepsNice(t *testing.T) {
	d := loadedUnder(t, []string{"nice", "-n", "5"}, "", schedBatch)
	if got := threadField(t, d.cmd.Process.Pid, 19); got["5"] == 0 || len(got) != 1 {
		t.Fatalf("threads' nice values %v, want 5 for every thread as started", got)
	}
}

// TestSchedulingBadValue: an unknown value is refused at start, naming the key.
func TestSchedulingBadValue(t *testing.T) {
	b := backend(t)
	d := newDaemon(t, b.URL, "process.scheduling=fifo\n")
	out, err := exec.Command(apimgwBinary(t), "--config", filepath.Join(d.dir, "env.conf")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "process.scheduling") || !strings.Contains(string(out), "batch, inherit") {
		t.Fatalf("err %v, output:\n%s", err, out)
	}
}
