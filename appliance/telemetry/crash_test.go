package telemetry

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apimgw/apimgw/store"
	"github.com/apimgw/apimgw/wire"
)

const childEnv = "APIMGW_TELEMETRY_CHILD"

func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		if err := crashChild(path); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// crashChild offers bursts of 500 records through a pipeline into the store
// at path (each record's BytesOut numbers it, continuing from what the store
// holds), reports "offered N" after each burst, and runs until killed.
func crashChild(path string) error {
	s, err := store.Open(path, store.Options{})
	if err != nil {
		return err
	}
	next := int64(0)
	if qs, err := s.QueueStats(); err == nil && qs.TailSeq > 0 {
		recs, err := s.Read(qs.TailSeq-1, 1, 0)
		if err != nil || len(recs) != 1 {
			return fmt.Errorf("read tail: %v", err)
		}
		var d wire.RecordDecoder
		var w wire.TelemetryRecord
		if err := d.Decode(recs[0].Data, &w); err != nil {
			return err
		}
		next = w.BytesOut + 1
	}
	p := New(s, Options{Loops: 1})
	for {
		for range 500 {
			r := sampleRecord(0, 0) // one loop: the queue order is the offer order
			r.BytesOut = next
			p.OnDone(&r)
			next++
		}
		fmt.Printf("offered %d\n", next)
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCrashSIGKILL: the gateway is killed (SIGKILL) while requests finish;
// every record offered more than the flush and commit windows before the
// kill is in the store after restart, exactly once, in order.
func TestCrashSIGKILL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apimgw.db")
	mustHave := int64(0)
	for round := range 4 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		bursts := 0
		for sc.Scan() {
			n, err := strconv.ParseInt(strings.TrimPrefix(sc.Text(), "offered "), 10, 64)
			if err != nil {
				t.Fatalf("child said %q", sc.Text())
			}
			if bursts++; bursts == 3+round {
				// Everything offered so far has had 15x the flush interval
				// plus the commit interval to reach the disk by the kill.
				mustHave = n
				time.Sleep(200 * time.Millisecond)
				break
			}
		}
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()

		s, err := store.Open(path, store.Options{})
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		var d wire.RecordDecoder
		want := int64(0)
		after := uint64(0)
		for {
			recs, err := s.Read(after, 10000, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) == 0 {
				break
			}
			for _, r := range recs {
				var w wire.TelemetryRecord
				if err := d.Decode(r.Data, &w); err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
				if w.BytesOut != want {
					t.Fatalf("round %d: record %d where %d was expected (lost, doubled or reordered)", round, w.BytesOut, want)
				}
				want++
				after = r.Seq
			}
		}
		qs, _ := s.QueueStats()
		s.Close()
		if want < mustHave {
			t.Fatalf("round %d: store holds records 0..%d, but %d were offered well before the kill", round, want-1, mustHave)
		}
		if qs.Dropped != 0 {
			t.Fatalf("round %d: drops %v", round, qs.DroppedBy)
		}
	}
	_ = context.Background
}
