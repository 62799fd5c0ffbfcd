package store

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// childCmd starts this test binary as a child in the given role.
func childCmd(t *testing.T, mode, path string, extraEnv ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode, "APIMGW_STORE_PATH="+path)
	cmd.Env = append(cmd.Env, extraEnv...)
	return cmd
}

// childCrash appends records as fast as a small pacing allows, reporting on
// stdout what it knows to be committed ("C seq run id", after Flush) and
// acknowledged ("A seq", after Ack returned), until it is SIGKILLed.
// Payload: run (8 bytes) + id (8 bytes) + filler to 300 bytes.
func childCrash(path string) error {
	run, _ := strconv.ParseUint(os.Getenv("APIMGW_STORE_RUN"), 10, 64)
	s, err := Open(path, Options{CommitInterval: 2 * time.Millisecond, LockTimeout: 10 * time.Second})
	if err != nil {
		return err
	}
	var outMu sync.Mutex
	say := func(format string, args ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		// One write per line: a pipe write below PIPE_BUF is atomic.
		os.Stdout.WriteString(fmt.Sprintf(format, args...) + "\n")
	}
	go func() { // acknowledger: reads from the head, acks some of it
		for {
			recs, err := s.Read(0, 300, 0)
			if err != nil {
				say("E read %v", err)
				return
			}
			if len(recs) > 0 {
				upTo := recs[rand.IntN(len(recs))].Seq
				if err := s.Ack(upTo); err != nil {
					say("E ack %v", err)
					return
				}
				say("A %d", upTo)
			}
			time.Sleep(time.Duration(rand.IntN(3)) * time.Millisecond)
		}
	}()
	payload := make([]byte, 300)
	for i := 16; i < len(payload); i++ {
		payload[i] = byte(i)
	}
	binary.BigEndian.PutUint64(payload[0:], run)
	for id := uint64(0); ; id++ {
		binary.BigEndian.PutUint64(payload[8:], id)
		seq, err := s.Append(payload)
		if err != nil {
			return err
		}
		if id == 0 {
			say("S %d", seq)
		}
		if id%40 == 39 {
			if err := s.Flush(context.Background()); err != nil {
				return err
			}
			say("C %d %d %d", seq, run, id)
			time.Sleep(500 * time.Microsecond)
		}
		if id%400 == 199 { // a config snapshot and a counter checkpoint now and then
			mark := run*1_000_000_000 + id
			if _, err := s.PutSnapshot(strconv.FormatUint(mark, 10), snapshotBytes(mark)); err != nil {
				return err
			}
			say("P %d", mark)
			err := s.SaveCounters([]Counter{{Key: "quota/crash", Count: int64(mark), WindowEnd: time.Now().Add(time.Hour)}})
			if err != nil {
				return err
			}
			say("K %d", mark)
		}
	}
}

func snapshotBytes(mark uint64) []byte {
	b := make([]byte, 20000)
	for i := range b {
		b[i] = byte(mark>>(i%8)) ^ byte(i)
	}
	return b
}

// TestCrashSIGKILL kills a real child process that appends and acknowledges
// in a loop at random moments, 20 times, and checks after every kill that the
// file opens without quarantine, passes bbolt's consistency check, holds every
// record the child reported committed exactly once (unless acknowledged),
// holds nothing acknowledged, and that sequences keep increasing.
func TestCrashSIGKILL(t *testing.T) {
	kills := 20
	if testing.Short() {
		kills = 5
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	type committed struct{ seq, id uint64 }
	startSeq := map[uint64]uint64{} // run -> seq of its id 0
	lastC := map[uint64]committed{} // run -> last reported committed
	var maxSeqEver, maxAckReported, lastSnap, lastCounter uint64
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for run := uint64(1); run <= uint64(kills); run++ {
		cmd := childCmd(t, "crash", path, fmt.Sprintf("APIMGW_STORE_RUN=%d", run))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		handle := func(line string) {
			f := strings.Fields(line)
			switch {
			case len(f) == 2 && f[0] == "S":
				seq, _ := strconv.ParseUint(f[1], 10, 64)
				if seq <= maxSeqEver || seq <= maxAckReported {
					t.Errorf("run %d: first sequence %d not above every earlier one (%d, acked %d)", run, seq, maxSeqEver, maxAckReported)
				}
				startSeq[run] = seq
			case len(f) == 4 && f[0] == "C":
				seq, _ := strconv.ParseUint(f[1], 10, 64)
				id, _ := strconv.ParseUint(f[3], 10, 64)
				lastC[run] = committed{seq, id}
				maxSeqEver = max(maxSeqEver, seq)
			case len(f) == 2 && f[0] == "P":
				lastSnap, _ = strconv.ParseUint(f[1], 10, 64)
			case len(f) == 2 && f[0] == "K":
				lastCounter, _ = strconv.ParseUint(f[1], 10, 64)
			case len(f) == 2 && f[0] == "A":
				seq, _ := strconv.ParseUint(f[1], 10, 64)
				maxAckReported = max(maxAckReported, seq)
			default:
				t.Errorf("run %d: child said %q", run, line)
			}
		}
		// Wait for the child to be running, then kill it at a random moment.
		var killAt <-chan time.Time
		deadline := time.After(20 * time.Second)
	loop:
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					break loop
				}
				handle(line)
				if killAt == nil && strings.HasPrefix(line, "S ") {
					killAt = time.After(time.Duration(20+rng.IntN(180)) * time.Millisecond)
				}
			case <-killAt:
				cmd.Process.Signal(syscall.SIGKILL)
				killAt = nil
			case <-deadline:
				cmd.Process.Kill()
				t.Fatalf("run %d: child did not start in time; stderr: %s", run, stderr.String())
			}
		}
		err = cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("run %d: child ended with %v, not by SIGKILL; stderr: %s", run, err, stderr.String())
		}
		if _, ok := lastC[run]; !ok {
			t.Logf("run %d: killed before its first commit report", run)
		}
		maxSeqEver = max(maxSeqEver, verifyAfterCrash(t, path, run, startSeq, func(r uint64) (uint64, uint64, bool) {
			c, ok := lastC[r]
			return c.seq, c.id, ok
		}, maxAckReported))
		verifySnapshotAndCounter(t, path, run, lastSnap, lastCounter)
		if t.Failed() {
			return
		}
	}
	t.Logf("%d kills; highest committed sequence reported %d, highest acknowledged %d", kills, maxSeqEver, maxAckReported)
	t.Logf("last snapshot reported stored %d, last counter checkpoint %d", lastSnap, lastCounter)
	if maxSeqEver == 0 || maxAckReported == 0 || lastSnap == 0 || lastCounter == 0 {
		t.Fatalf("the children never committed or acknowledged anything: the test proved nothing")
	}
}

// verifyAfterCrash opens the store like the appliance would after the kill and
// checks every promise; it returns the highest sequence in the file.
func verifyAfterCrash(t *testing.T, path string, run uint64, startSeq map[uint64]uint64, lastC func(uint64) (uint64, uint64, bool), maxAckReported uint64) uint64 {
	t.Helper()
	logs := &syncBuffer{}
	s, err := Open(path, Options{Logger: testLogger(logs)})
	if err != nil {
		t.Fatalf("run %d: reopen after SIGKILL: %v", run, err)
	}
	defer s.Close()
	if st := s.Status(); st.QuarantinedTo != "" {
		t.Fatalf("run %d: file was quarantined after a kill: %s", run, st.QuarantineReason)
	}
	var maxSeq uint64
	err = s.db.View(func(tx *bolt.Tx) error {
		for cerr := range tx.Check() {
			return fmt.Errorf("bbolt check: %w", cerr)
		}
		qm := tx.Bucket(bucketQueueMeta)
		acked := getU64(qm, keyAcked)
		if acked < maxAckReported {
			return fmt.Errorf("acked in file %d < acked reported %d: an acknowledgement was lost", acked, maxAckReported)
		}
		present := map[uint64]bool{}
		var prevSeq uint64
		var count, byt uint64
		head := getU64(qm, keyHead)
		if head != 0 && head <= acked {
			return fmt.Errorf("queue head %d not above acked %d: acknowledged records are live", head, acked)
		}
		err := forEachLive(tx, head, func(pr packRecord) error {
			seq := pr.seq
			if seq <= prevSeq {
				return fmt.Errorf("sequence %d after %d", seq, prevSeq)
			}
			if seq <= acked {
				return fmt.Errorf("acknowledged record %d (acked %d) came back", seq, acked)
			}
			prevSeq, maxSeq = seq, seq
			data := pr.data
			r, id := binary.BigEndian.Uint64(data[0:]), binary.BigEndian.Uint64(data[8:])
			if st, ok := startSeq[r]; !ok || st+id != seq {
				return fmt.Errorf("record seq %d holds run %d id %d: not where it was appended (run start %d)", seq, r, id, st)
			}
			present[seq] = true
			count++
			byt += uint64(len(data) + recordOverhead)
			return nil
		})
		if err != nil {
			return err
		}
		if count != getU64(qm, keyCount) || byt != getU64(qm, keyBytes) {
			return fmt.Errorf("queue meta says %d records/%d bytes, file holds %d/%d", getU64(qm, keyCount), getU64(qm, keyBytes), count, byt)
		}
		if next := getU64(qm, keyNextSeq); next <= maxSeq {
			return fmt.Errorf("next_seq %d not above the newest record %d", next, maxSeq)
		}
		// Every record reported committed and not acknowledged is present.
		for r, st := range startSeq {
			cseq, _, ok := lastC(r)
			if !ok {
				continue
			}
			for seq := max(st, acked+1); seq <= cseq; seq++ {
				if !present[seq] {
					return fmt.Errorf("run %d: record seq %d was reported committed but is missing", r, seq)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("run %d: %v", run, err)
	}
	return maxSeq
}

// verifySnapshotAndCounter: the current snapshot is intact and not older than
// the last one reported stored; the counter checkpoint likewise.
func verifySnapshotAndCounter(t *testing.T, path string, run, lastSnap, lastCounter uint64) {
	t.Helper()
	s, err := Open(path, Options{Logger: testLogger(&syncBuffer{})})
	if err != nil {
		t.Fatalf("run %d: %v", run, err)
	}
	defer s.Close()
	cur, err := s.CurrentSnapshot()
	if lastSnap == 0 {
		return
	}
	if err != nil {
		t.Fatalf("run %d: current snapshot after kill: %v (last stored %d)", run, err, lastSnap)
	}
	v, _ := strconv.ParseUint(cur.Version, 10, 64)
	if v < lastSnap || !bytes.Equal(cur.Data, snapshotBytes(v)) {
		t.Fatalf("run %d: current snapshot %d, last reported stored %d (or bytes differ)", run, v, lastSnap)
	}
	cs, err := s.LoadCounters()
	if err != nil || len(cs) != 1 || uint64(cs[0].Count) < lastCounter {
		t.Fatalf("run %d: counters %+v %v, last reported %d", run, cs, err, lastCounter)
	}
}

// childLock holds the store open until stdin closes.
func childLock(path string) error {
	s, err := Open(path, Options{})
	if err != nil {
		return err
	}
	fmt.Println("locked")
	io.Copy(io.Discard, os.Stdin)
	return s.Close()
}

func TestLockTimeout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locked.db")
	cmd := childCmd(t, "lock", path)
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "locked\n" {
		t.Fatalf("child: %q %v", line, err)
	}
	start := time.Now()
	_, err := Open(path, Options{LockTimeout: 300 * time.Millisecond})
	took := time.Since(start)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "another") {
		t.Fatalf("err = %v, want ErrLocked naming the path", err)
	}
	if took < 250*time.Millisecond || took > 5*time.Second {
		t.Fatalf("gave up after %v with a 300ms timeout", took)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("locked file must stay where it is: %v", err)
	}
	// Once the holder exits, it opens.
	stdin.Close()
	cmd.Wait()
	s, err := Open(path, Options{LockTimeout: time.Second})
	if err != nil {
		t.Fatalf("after holder exit: %v", err)
	}
	s.Close()
}
