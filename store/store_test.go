package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestSnapshotHistory(t *testing.T) {
	s, path := openTest(t, Options{KeepSnapshots: 3})
	if _, err := s.CurrentSnapshot(); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("empty store: CurrentSnapshot err = %v, want ErrNoSnapshot", err)
	}
	for i := 1; i <= 5; i++ {
		info, err := s.PutSnapshot(fmt.Sprintf("v%d", i), []byte(fmt.Sprintf(`{"n":%d}`, i)))
		if err != nil {
			t.Fatal(err)
		}
		if info.ID != uint64(i) || !info.Current || info.Checksum != Checksum([]byte(fmt.Sprintf(`{"n":%d}`, i))) {
			t.Fatalf("put %d: info %+v", i, info)
		}
	}
	list, err := s.Snapshots()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, in := range list {
		got = append(got, fmt.Sprintf("%d:%s:%v", in.ID, in.Version, in.Current))
	}
	if want := "5:v5:true 4:v4:false 3:v3:false"; strings.Join(got, " ") != want {
		t.Fatalf("history = %q, want %q", strings.Join(got, " "), want)
	}
	if _, err := s.Snapshot(2); !errors.Is(err, ErrSnapshotNotFound) {
		t.Fatalf("pruned snapshot: err = %v", err)
	}
	// Rollback to v3 survives a restart.
	if snap, err := s.SetCurrentSnapshot(3); err != nil || string(snap.Data) != `{"n":3}` {
		t.Fatalf("rollback: %v %q", err, snap.Data)
	}
	if _, err := s.SetCurrentSnapshot(1); !errors.Is(err, ErrSnapshotNotFound) {
		t.Fatalf("rollback to pruned: err = %v", err)
	}
	s.Close()
	s2, err := Open(path, Options{KeepSnapshots: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	cur, err := s2.CurrentSnapshot()
	if err != nil || cur.ID != 3 || cur.Version != "v3" || string(cur.Data) != `{"n":3}` || !cur.Current {
		t.Fatalf("after restart current = %+v, %v", cur, err)
	}
	// The same version and bytes again adds nothing.
	again, err := s2.PutSnapshot("v3", []byte(`{"n":3}`))
	if err != nil || again.ID != 3 {
		t.Fatalf("re-put of current: %+v %v", again, err)
	}
	// A new one becomes current; history stays at 3 and keeps it.
	if info, err := s2.PutSnapshot("v6", []byte("six")); err != nil || info.ID != 6 {
		t.Fatalf("put v6: %+v %v", info, err)
	}
	list, _ = s2.Snapshots()
	if len(list) != 3 || list[0].ID != 6 || !list[0].Current {
		t.Fatalf("history after v6: %+v", list)
	}
}

func TestSnapshotDamagedBytesAreNotServed(t *testing.T) {
	s, _ := openTest(t, Options{})
	info, err := s.PutSnapshot("v1", []byte("original config"))
	if err != nil {
		t.Fatal(err)
	}
	// Damage the stored bytes behind the store's back.
	err = s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSnapData).Put(u64(info.ID), []byte("originaL config"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CurrentSnapshot(); !errors.Is(err, ErrSnapshotChecksum) {
		t.Fatalf("err = %v, want ErrSnapshotChecksum", err)
	}
}

func TestSnapshotDataIsACopy(t *testing.T) {
	s, _ := openTest(t, Options{})
	in := []byte("abc")
	if _, err := s.PutSnapshot("v", in); err != nil {
		t.Fatal(err)
	}
	in[0] = 'X'
	a, _ := s.CurrentSnapshot()
	a.Data[1] = 'Y'
	b, err := s.CurrentSnapshot()
	if err != nil || string(b.Data) != "abc" {
		t.Fatalf("stored bytes changed through caller slices: %q %v", b.Data, err)
	}
}

func TestMetadata(t *testing.T) {
	s, path := openTest(t, Options{})
	m, err := s.Metadata()
	if err != nil || m.SchemaVersion != SchemaVersion || m.CreatedAt.IsZero() || len(m.StoreID) != 32 {
		t.Fatalf("fresh metadata %+v %v", m, err)
	}
	at := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	if err := s.SetGatewayID("gw1"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetLastSync(at); err != nil {
		t.Fatal(err)
	}
	if err := s.SetLastError("dial tcp: connection refused", at.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	id := m.StoreID
	m, _ = s2.Metadata()
	if m.StoreID != id {
		t.Fatalf("store id changed across restart: %s -> %s", id, m.StoreID)
	}
	if m.GatewayID != "gw1" || !m.LastSync.Equal(at) || m.LastError != "dial tcp: connection refused" || !m.LastErrorAt.Equal(at.Add(time.Minute)) {
		t.Fatalf("metadata after restart: %+v", m)
	}
	if err := s2.SetLastError("", at); err != nil {
		t.Fatal(err)
	}
	if m, _ = s2.Metadata(); m.LastError != "" {
		t.Fatalf("cleared error still %q", m.LastError)
	}
}

func TestCounters(t *testing.T) {
	now := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s, path := openTest(t, Options{Now: clock})
	cs := []Counter{
		{Key: "quota/sub1/api1", Count: 41, Bytes: 1000, WindowStart: now.Add(-time.Hour), WindowEnd: now.Add(23 * time.Hour)},
		{Key: "quota/sub2", Count: 7, WindowStart: now.Add(-time.Hour), WindowEnd: now.Add(time.Minute)},
	}
	if err := s.SaveCounters(cs); err != nil {
		t.Fatal(err)
	}
	cs[0].Count = 42
	if err := s.SaveCounters(cs[:1]); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveCounters([]Counter{{Key: "ok"}, {Key: ""}}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("empty key: err = %v", err)
	}
	s.Close()
	s2, err := Open(path, Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	got, err := s2.LoadCounters()
	if err != nil || len(got) != 2 {
		t.Fatalf("load: %+v %v (the rejected batch must not have written \"ok\")", got, err)
	}
	if got[0].Key != "quota/sub1/api1" || got[0].Count != 42 || got[0].Bytes != 1000 || !got[0].WindowEnd.Equal(cs[0].WindowEnd) {
		t.Fatalf("counter 0 = %+v", got[0])
	}
	mu.Lock()
	now = now.Add(2 * time.Minute) // quota/sub2's window ended
	mu.Unlock()
	if got, _ = s2.LoadCounters(); len(got) != 1 || got[0].Key != "quota/sub1/api1" {
		t.Fatalf("after window end: %+v", got)
	}
	if err := s2.DeleteCounters("quota/sub1/api1"); err != nil {
		t.Fatal(err)
	}
	if got, _ = s2.LoadCounters(); len(got) != 0 {
		t.Fatalf("after delete: %+v", got)
	}
}

func TestQueueAppendReadAck(t *testing.T) {
	s, path := openTest(t, Options{CommitInterval: 20 * time.Millisecond})
	for i := 1; i <= 1000; i++ {
		seq, err := s.Append(rec(i, 300))
		if err != nil || seq != uint64(i) {
			t.Fatalf("append %d: seq %d err %v", i, seq, err)
		}
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, err := s.Read(0, 100, 0)
	if err != nil || len(got) != 100 || got[0].Seq != 1 || got[99].Seq != 100 {
		t.Fatalf("read head: %d records, err %v", len(got), err)
	}
	for _, r := range got {
		if !bytes.Equal(r.Data, rec(int(r.Seq), 300)) || r.Appended.IsZero() {
			t.Fatalf("record %d data mismatch", r.Seq)
		}
	}
	// Pipelined read past an unacknowledged batch.
	next, _ := s.Read(100, 50, 0)
	if len(next) != 50 || next[0].Seq != 101 {
		t.Fatalf("read after 100: %d records first %d", len(next), next[0].Seq)
	}
	// maxBytes stops early but returns at least one record.
	if few, _ := s.Read(0, 100, 1); len(few) != 1 {
		t.Fatalf("maxBytes=1 returned %d records", len(few))
	}
	if err := s.Ack(100); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(50); err != nil {
		t.Fatalf("ack below acked: %v", err)
	}
	if err := s.Ack(1001); !errors.Is(err, ErrAckAhead) {
		t.Fatalf("ack ahead: err = %v", err)
	}
	st, err := s.QueueStats()
	if err != nil || st.Records != 900 || st.HeadSeq != 101 || st.TailSeq != 1000 || st.Acked != 100 || st.Bytes != 900*316 || st.Oldest.IsZero() {
		t.Fatalf("stats %+v %v", st, err)
	}
	if st.Commits == 0 || st.Commits > 200 {
		t.Fatalf("%d commits for 1000 appends: not group-committed", st.Commits)
	}
	s.Close()
	s2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	got, _ = s2.Read(0, 1, 0)
	if len(got) != 1 || got[0].Seq != 101 {
		t.Fatalf("after restart head = %+v", got)
	}
	if seq, _ := s2.Append([]byte("x")); seq != 1001 {
		t.Fatalf("after restart next seq = %d, want 1001", seq)
	}
	if err := s2.Ack(1000); err != nil {
		t.Fatal(err)
	}
	if err := s2.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, _ = s2.QueueStats()
	if st.Records != 1 || st.Bytes != 17 {
		t.Fatalf("stats after ack 1000: %+v", st)
	}
}

func TestQueueBudgetDropsOldestAndCounts(t *testing.T) {
	const per = 300 + recordOverhead
	s, path := openTest(t, Options{QueueMaxBytes: 100 * per, CommitInterval: time.Millisecond})
	for i := 1; i <= 250; i++ {
		if _, err := s.Append(rec(i, 300)); err != nil {
			t.Fatal(err)
		}
		if i%30 == 0 {
			s.Flush(context.Background())
		}
	}
	s.Flush(context.Background())
	if _, err := s.Append(make([]byte, 100*per)); !errors.Is(err, ErrRecordTooLarge) {
		t.Fatalf("oversized record: err = %v", err)
	}
	st, _ := s.QueueStats()
	if st.Records != 100 || st.Bytes != 100*per || st.HeadSeq != 151 || st.TailSeq != 250 {
		t.Fatalf("stats %+v", st)
	}
	if st.DroppedBy[DropQueueFull] != 150 || st.DroppedBy[DropTooLarge] != 1 || st.Dropped != 151 {
		t.Fatalf("drops %+v", st.DroppedBy)
	}
	// A single batch bigger than the budget keeps only its newest records.
	recs := make([][]byte, 150)
	for i := range recs {
		recs[i] = rec(1000+i, 300)
	}
	if first, err := s.AppendBatch(recs); err != nil || first != 251 {
		t.Fatalf("batch: first %d err %v", first, err)
	}
	s.Flush(context.Background())
	st, _ = s.QueueStats()
	if st.Records != 100 || st.HeadSeq != 301 || st.TailSeq != 400 || st.DroppedBy[DropQueueFull] != 300 {
		t.Fatalf("after big batch %+v", st)
	}
	// Drop counts survive a restart.
	s.Close()
	s2, err := Open(path, Options{QueueMaxBytes: 100 * per})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	st, _ = s2.QueueStats()
	if st.DroppedBy[DropQueueFull] != 300 || st.DroppedBy[DropTooLarge] != 1 || st.Records != 100 {
		t.Fatalf("after restart %+v", st)
	}
}

func TestQueueCloseLosesNothing(t *testing.T) {
	path := t.TempDir() + "/q.db"
	s, err := Open(path, Options{CommitInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 500; i++ {
		s.Append(rec(i, 100))
	}
	if st, _ := s.QueueStats(); st.Pending != 500 || st.Records != 0 {
		t.Fatalf("before close: %+v (expected all pending with a 1h interval)", st)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append([]byte("late")); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	if _, err := s.Read(0, 1, 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
	s2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if st, _ := s2.QueueStats(); st.Records != 500 {
		t.Fatalf("after clean close %d records, want 500", st.Records)
	}
}

func TestQueueConcurrentAppendersAndAcker(t *testing.T) {
	s, _ := openTest(t, Options{CommitInterval: 2 * time.Millisecond})
	const writers, each = 4, 2000
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if _, err := s.Append([]byte(fmt.Sprintf("w%d-%d", w, i))); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	seen := map[string]bool{}
	var last uint64
	done := make(chan struct{})
	go func() { wg.Wait(); s.Flush(context.Background()); close(done) }()
	finished := false
	for !finished || len(seen) < writers*each {
		select {
		case <-done:
			finished = true
		default:
		}
		recs, err := s.Read(last, 300, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Seq <= last {
				t.Fatalf("seq %d not increasing after %d", r.Seq, last)
			}
			if seen[string(r.Data)] {
				t.Fatalf("record %q twice", r.Data)
			}
			seen[string(r.Data)] = true
			last = r.Seq
		}
		if len(recs) > 0 {
			if err := s.Ack(last); err != nil {
				t.Fatal(err)
			}
		} else if finished && len(seen) < writers*each {
			t.Fatalf("finished with %d of %d records", len(seen), writers*each)
		}
	}
	if st, _ := s.QueueStats(); st.Records != 0 || st.Bytes != 0 || st.Dropped != 0 {
		t.Fatalf("final stats %+v", st)
	}
}

func TestSchemaTooNewIsRefusedAndKept(t *testing.T) {
	s, path := openTest(t, Options{})
	s.PutSnapshot("v1", []byte("x"))
	s.Close()
	setSchema(t, path, 99)
	_, err := Open(path, Options{})
	if !errors.Is(err, ErrSchemaTooNew) || !strings.Contains(err.Error(), "schema version 99") || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v", err)
	}
	if _, statErr := os.Stat(path); statErr != nil {
		t.Fatalf("newer file was moved: %v", statErr)
	}
	setSchema(t, path, SchemaVersion) // so the cleanup check passes
}

func setSchema(t *testing.T, path string, v uint32) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySchema, u32(v)) }); err != nil {
		t.Fatal(err)
	}
}

func TestSchemaMigration(t *testing.T) {
	s, path := openTest(t, Options{})
	s.PutSnapshot("v1", []byte("x"))
	s.Close()
	defer func(c uint32) { currentSchema = c; delete(migrations, 1) }(currentSchema)
	currentSchema = 2

	// A failing migration changes nothing and is not mistaken for damage.
	migrations[1] = func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketMeta).Put([]byte("migrated"), []byte("half")); err != nil {
			return err
		}
		return errors.New("boom")
	}
	if _, err := Open(path, Options{}); err == nil || errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "migrating schema 1 to 2: boom") {
		t.Fatalf("failing migration: err = %v", err)
	}
	migrations[1] = func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put([]byte("migrated"), []byte("yes"))
	}
	s2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := s2.Metadata()
	var mark string
	s2.db.View(func(tx *bolt.Tx) error { mark = string(tx.Bucket(bucketMeta).Get([]byte("migrated"))); return nil })
	if m.SchemaVersion != 2 || mark != "yes" {
		t.Fatalf("after migration schema %d mark %q", m.SchemaVersion, mark)
	}
	if cur, err := s2.CurrentSnapshot(); err != nil || string(cur.Data) != "x" {
		t.Fatalf("data lost in migration: %v", err)
	}
	s2.Close()
}

// The request path's part of telemetry must not allocate once the batch
// buffers have grown.
func TestAppendDoesNotAllocate(t *testing.T) {
	s, _ := openTest(t, Options{CommitInterval: time.Hour})
	r := rec(1, 300)
	for round := 0; round < 2; round++ {
		for i := 0; i < 3000; i++ {
			s.Append(r)
		}
		s.Flush(context.Background())
	}
	// The committer sleeps (CommitInterval is an hour): every allocation
	// over 2,000 calls would be the Append path's own.
	const n = 2000
	if got, where := mallocs(n, func() {
		if _, err := s.Append(r); err != nil {
			t.Fatal(err)
		}
	}); got != 0 {
		t.Fatalf("Append: %d allocations in %d calls, want 0:\n%s", got, n, where)
	}
}

// Problems of the surroundings are errors, never a reason to move files.
func TestOpenEnvironmentErrorsAreNotCorruption(t *testing.T) {
	dir := t.TempDir()
	notDir := dir + "/file"
	os.WriteFile(notDir, []byte("x"), 0o600)
	_, err := Open(notDir+"/apimgw.db", Options{})
	if err == nil || errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v", err)
	}
	if b, _ := os.ReadFile(notDir); string(b) != "x" {
		t.Fatal("the file in the way was touched")
	}
}

func TestQueueBacklogDropsWhenDiskFallsBehind(t *testing.T) {
	s, _ := openTest(t, Options{CommitInterval: time.Hour, PendingMaxBytes: 10 * (8 + 100)})
	accepted := 0
	for i := 0; i < 25; i++ {
		seq, err := s.Append(rec(i, 100))
		if err != nil {
			t.Fatal(err)
		}
		if seq != 0 {
			accepted++
		}
	}
	st, _ := s.QueueStats()
	if accepted != 10 || st.Pending != 10 || st.DroppedBy[DropBacklog] != 15 {
		t.Fatalf("accepted %d, stats %+v", accepted, st)
	}
	s.Flush(context.Background())
	if st, _ = s.QueueStats(); st.Records != 10 || st.Pending != 0 {
		t.Fatalf("after flush %+v", st)
	}
}

// Every Append that returned a sequence before Close is on disk after it,
// even with appenders racing Close.
func TestCloseRacingAppenders(t *testing.T) {
	path := t.TempDir() + "/race.db"
	s, err := Open(path, Options{CommitInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := 0
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				seq, err := s.Append([]byte("r"))
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil || seq == 0 {
					t.Errorf("append: %d %v", seq, err)
					return
				}
				mu.Lock()
				accepted++
				mu.Unlock()
			}
		}()
	}
	time.Sleep(30 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	s2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	st, _ := s2.QueueStats()
	if st.Records != int64(accepted) || st.Dropped != 0 {
		t.Fatalf("accepted %d appends, file holds %d (dropped %v)", accepted, st.Records, st.DroppedBy)
	}
}

// Flush does not wait out the commit interval.
func TestFlushIsPrompt(t *testing.T) {
	s, _ := openTest(t, Options{CommitInterval: 10 * time.Second})
	s.Append([]byte("x"))
	start := time.Now()
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Flush took %v with a 10s interval", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s.Append([]byte("y"))
	if err := s.Flush(ctx); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Flush: %v", err)
	}
}

// Files written by builds before packs hold one record per key (8-byte
// append time, then the bytes): they are read, acknowledged, evicted and
// counted the same, and new commits add packs behind them.
func TestQueueReadsRecordsOfOlderBuilds(t *testing.T) {
	s, path := openTest(t, Options{})
	s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		qb, qm := tx.Bucket(bucketQueue), tx.Bucket(bucketQueueMeta)
		for i := 1; i <= 10; i++ {
			v := binary.BigEndian.AppendUint64(nil, uint64(time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC).UnixNano()))
			if err := qb.Put(u64(uint64(i)), append(v, rec(i, 100)...)); err != nil {
				return err
			}
		}
		qm.Put(keyNextSeq, u64(11))
		qm.Put(keyCount, u64(10))
		return qm.Put(keyBytes, u64(10*(100+recordOverhead)))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if st, _ := s2.QueueStats(); st.Records != 10 || st.HeadSeq != 1 || st.TailSeq != 10 || st.Oldest.Second() != 1 {
		t.Fatalf("stats of the old file: %+v", st)
	}
	for i := 11; i <= 20; i++ {
		if seq, _ := s2.Append(rec(i, 100)); seq != uint64(i) {
			t.Fatalf("append %d got seq %d", i, seq)
		}
	}
	s2.Flush(context.Background())
	if err := s2.Ack(5); err != nil {
		t.Fatal(err)
	}
	got, err := s2.Read(0, 100, 0)
	if err != nil || len(got) != 15 || got[0].Seq != 6 || got[14].Seq != 20 {
		t.Fatalf("read: %d records, err %v", len(got), err)
	}
	for _, r := range got {
		if !bytes.Equal(r.Data, rec(int(r.Seq), 100)) {
			t.Fatalf("record %d: data differs", r.Seq)
		}
	}
	if st, _ := s2.QueueStats(); st.Records != 15 || st.Bytes != 15*(100+recordOverhead) || st.HeadSeq != 6 || st.TailSeq != 20 {
		t.Fatalf("stats after ack 5: %+v", st)
	}
}

// A large commit is cut into packs; reads and acknowledgements that end
// inside a pack, or just before or after one, see exactly the records after.
func TestQueuePacksSplitAndPartialAcks(t *testing.T) {
	s, path := openTest(t, Options{CommitInterval: time.Hour})
	const n = 1000
	recs := make([][]byte, n)
	for i := range recs {
		recs[i] = rec(i+1, 20+i%50)
	}
	if first, err := s.AppendBatch(recs); err != nil || first != 1 {
		t.Fatalf("append: %d %v", first, err)
	}
	s.Flush(context.Background())
	packFirsts := func() (firsts []uint64) {
		s.db.View(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketQueue).ForEach(func(k, v []byte) error {
				if len(v) > packMaxBytes {
					t.Errorf("pack %x is %d bytes", k, len(v))
				}
				firsts = append(firsts, binary.BigEndian.Uint64(k))
				return nil
			})
		})
		return firsts
	}
	firsts := packFirsts()
	if len(firsts) < 5 || firsts[0] != 1 {
		t.Fatalf("%d records in %d packs %v", n, len(firsts), firsts)
	}
	p2, p4 := firsts[2], firsts[4]
	for _, upTo := range []uint64{1, p2 - 2, p2 - 1, p2, p4 + 1} {
		if err := s.Ack(upTo); err != nil {
			t.Fatal(err)
		}
		got, err := s.Read(0, 3, 0)
		if err != nil || len(got) != 3 || got[0].Seq != upTo+1 || !bytes.Equal(got[0].Data, rec(int(upTo+1), 20+int(upTo)%50)) {
			t.Fatalf("after ack %d: read %d records (first %v), err %v", upTo, len(got), got, err)
		}
		if st, _ := s.QueueStats(); st.Records != int64(n-upTo) || st.HeadSeq != upTo+1 || st.TailSeq != n {
			t.Fatalf("after ack %d: stats %+v", upTo, st)
		}
	}
	if left := packFirsts(); len(left) != len(firsts)-4 || left[0] != p4 {
		t.Fatalf("packs left after acknowledging into the fifth: %v of %v", left, firsts)
	}
	s.Close()
	s2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got, _ := s2.Read(0, 1, 0); len(got) != 1 || got[0].Seq != p4+2 {
		t.Fatalf("after restart: head %+v, want %d", got, p4+2)
	}
}

// Records too large to share a pack get one each; one larger than a pack
// is a pack of its own.
func TestQueueLargeRecordsOwnPacks(t *testing.T) {
	s, _ := openTest(t, Options{CommitInterval: time.Hour})
	sizes := []int{1500, 1500, 3000, 10, 10, 1500, 5000}
	recs := make([][]byte, len(sizes))
	for i, n := range sizes {
		recs[i] = rec(i+1, n)
	}
	s.AppendBatch(recs)
	s.Flush(context.Background())
	got, err := s.Read(0, 100, 0)
	if err != nil || len(got) != len(sizes) {
		t.Fatalf("read %d records, err %v", len(got), err)
	}
	for i, r := range got {
		if !bytes.Equal(r.Data, recs[i]) {
			t.Fatalf("record %d differs", i+1)
		}
	}
	var packs int
	s.db.View(func(tx *bolt.Tx) error { packs = tx.Bucket(bucketQueue).Stats().KeyN; return nil })
	if packs != 5 { // 1500 | 1500 | 3000 | 10 10 1500 | 5000
		t.Fatalf("%d packs, want 5", packs)
	}
}

// TestQueueEvictionWhileSending: records the uploader has on the wire
// (ReadToSend) that the budget evicts before their Ack are not counted as
// dropped: once the upload in flight is acknowledged they were delivered,
// and counting them dropped as well would count them twice (the control
// plane counted them). Records read but not sent (send says no) count as
// dropped when evicted. Evicted sent records never acknowledged count as
// dropped when the file is opened again, once.
func TestQueueEvictionWhileSending(t *testing.T) {
	const per = 300 + recordOverhead
	s, path := openTest(t, Options{QueueMaxBytes: 100 * per, CommitInterval: time.Millisecond})
	appendN := func(from, n int) { t.Helper(); appendFlushed(t, s, from, n) }
	appendN(1, 100) // full: seqs 1..100
	// Read but not sent: no mark.
	if recs, err := s.ReadToSend(0, 20, 0, func([]Record) bool { return false }); err != nil || len(recs) != 20 {
		t.Fatalf("read: %d %v", len(recs), err)
	}
	// Sent: 1..30 on the wire.
	recs, err := s.ReadToSend(0, 30, 0, func([]Record) bool { return true })
	if err != nil || len(recs) != 30 || recs[29].Seq != 30 {
		t.Fatalf("send: %d %v", len(recs), err)
	}
	appendN(101, 40) // evicts 1..40: 30 in flight, 10 dropped
	st, _ := s.QueueStats()
	if st.Records != 100 || st.HeadSeq != 41 || st.EvictedInFlight != 30 || st.DroppedBy[DropQueueFull] != 10 {
		t.Fatalf("after eviction: %+v", st)
	}
	// The upload of 1..30 succeeds: delivered, not dropped.
	if err := s.Ack(30); err != nil {
		t.Fatal(err)
	}
	st, _ = s.QueueStats()
	if st.EvictedInFlight != 0 || st.Dropped != 10 || st.Records != 100 || st.HeadSeq != 41 {
		t.Fatalf("after the ack: %+v", st)
	}
	// Sent 41..60 and 61..70; 41..70 evicted; only 41..60 acknowledged, then
	// the process ends: 61..70 count as dropped on the next open.
	for _, b := range [][2]int{{40, 20}, {60, 10}} {
		if recs, err := s.ReadToSend(uint64(b[0]), b[1], 0, func([]Record) bool { return true }); err != nil || len(recs) != b[1] {
			t.Fatalf("send after %d: %d %v", b[0], len(recs), err)
		}
	}
	appendN(141, 35) // evicts 41..75: 30 in flight, 5 dropped
	if err := s.Ack(60); err != nil {
		t.Fatal(err)
	}
	st, _ = s.QueueStats()
	if st.EvictedInFlight != 10 || st.Dropped != 15 || st.HeadSeq != 76 {
		t.Fatalf("after the second ack: %+v", st)
	}
	s.Close()
	for range 2 { // counted once, however often the file is opened
		s2, err := Open(path, Options{QueueMaxBytes: 100 * per, CommitInterval: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		st, _ = s2.QueueStats()
		if st.EvictedInFlight != 0 || st.Dropped != 25 || st.DroppedBy[DropQueueFull] != 25 || st.Records != 100 {
			t.Fatalf("after reopening: %+v", st)
		}
		s2.Flush(context.Background()) // persists the count and clears the mark
		s2.Close()
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		db.View(func(tx *bolt.Tx) error {
			qm := tx.Bucket(bucketQueueMeta)
			if n, d := getU64(qm, keyInFlight), getU64(qm, []byte(keyDropPrefx+DropQueueFull)); n != 0 || d != 25 {
				t.Errorf("in the file: %d evicted in flight, %d dropped; want 0 and 25", n, d)
			}
			return nil
		})
		db.Close()
	}
}

// TestQueueUnsend: records handed out for sending that never reached the
// control plane (Unsend) are evicted and counted dropped like any other;
// those evicted while they were out count as dropped at Unsend.
func TestQueueUnsend(t *testing.T) {
	const per = 300 + recordOverhead
	s, path := openTest(t, Options{QueueMaxBytes: 100 * per, CommitInterval: time.Millisecond})
	appendN := func(from, n int) { t.Helper(); appendFlushed(t, s, from, n) }
	appendN(1, 100)
	for _, after := range []uint64{0, 20} { // 1..20 and 21..40 out
		if recs, err := s.ReadToSend(after, 20, 0, func([]Record) bool { return true }); err != nil || len(recs) != 20 {
			t.Fatalf("send after %d: %d %v", after, len(recs), err)
		}
	}
	appendN(101, 30) // evicts 1..30, all out
	if st, _ := s.QueueStats(); st.EvictedInFlight != 30 || st.Dropped != 0 {
		t.Fatalf("after eviction: %+v", st)
	}
	// 1..20 may have reached the control plane; 21..40 did not.
	s.Unsend(20)
	if st, _ := s.QueueStats(); st.EvictedInFlight != 20 || st.Dropped != 10 {
		t.Fatalf("after Unsend(20): %+v", st)
	}
	appendN(131, 20) // evicts 31..50: none is out any more
	if st, _ := s.QueueStats(); st.EvictedInFlight != 20 || st.Dropped != 30 || st.HeadSeq != 51 {
		t.Fatalf("after the next eviction: %+v", st)
	}
	s.Unsend(0) // 1..20 did not either
	if st, _ := s.QueueStats(); st.EvictedInFlight != 0 || st.Dropped != 50 {
		t.Fatalf("after Unsend(0): %+v", st)
	}
	s.Close()
	s2, err := Open(path, Options{QueueMaxBytes: 100 * per})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if st, _ := s2.QueueStats(); st.Dropped != 50 || st.Records != 100 {
		t.Fatalf("after reopening: %+v", st)
	}
}

// appendFlushed appends records from..from+n-1 of 300 bytes and flushes.
func appendFlushed(t *testing.T, s *Store, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if _, err := s.Append(rec(i, 300)); err != nil {
			t.Fatal(err)
		}
	}
	s.Flush(context.Background())
}

// TestQueueBacklog: Backlog counts the committed records above a sequence
// and estimates their bytes, without a transaction, through appends,
// acknowledgements and evictions (the uploader polls it to send a batch as
// soon as it is full).
func TestQueueBacklog(t *testing.T) {
	const per = 300 + recordOverhead
	s, _ := openTest(t, Options{QueueMaxBytes: 100 * per, CommitInterval: time.Millisecond})
	check := func(after uint64, want int64) {
		t.Helper()
		n, b := s.Backlog(after)
		if n != want || b != want*300 {
			t.Fatalf("Backlog(%d) = %d records, %d bytes; want %d, %d", after, n, b, want, want*300)
		}
	}
	check(0, 0)
	if _, err := s.Append(rec(1, 300)); err != nil {
		t.Fatal(err)
	}
	check(0, 0) // appended, not committed
	s.Flush(context.Background())
	check(0, 1)
	appendFlushed(t, s, 2, 59)
	check(0, 60)
	check(20, 40)
	check(60, 0)
	check(1000, 0)
	if err := s.Ack(30); err != nil {
		t.Fatal(err)
	}
	check(0, 30)
	check(40, 20)
	appendFlushed(t, s, 61, 90) // 120 records for a budget of 100: 31..50 evicted
	check(0, 100)
	check(60, 90)
	if recs, err := s.Read(0, 1000, 0); err != nil || int64(len(recs)) != 100 || recs[0].Seq != 51 {
		t.Fatalf("Read after eviction: %d records from %d, %v", len(recs), recs[0].Seq, err)
	}
}

// TestReadToSendInto: reads into one ReadBuffer reuse its memory (no
// allocation once it is large enough) and return the same records as
// fresh reads.
func TestReadToSendInto(t *testing.T) {
	s, _ := openTest(t, Options{CommitInterval: time.Millisecond})
	appendFlushed(t, s, 1, 200)
	var rb ReadBuffer
	yes := func([]Record) bool { return true }
	for _, after := range []uint64{0, 50, 100} {
		got, err := s.ReadToSendInto(&rb, after, 50, 0, yes)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := s.Read(after, 50, 0)
		if len(got) != 50 || got[0].Seq != after+1 {
			t.Fatalf("after %d: %d records from %d", after, len(got), got[0].Seq)
		}
		for i := range got {
			if got[i].Seq != want[i].Seq || !bytes.Equal(got[i].Data, want[i].Data) || !got[i].Appended.Equal(want[i].Appended) {
				t.Fatalf("after %d: record %d differs", after, i)
			}
		}
	}
	allocs := testing.AllocsPerRun(20, func() {
		if _, err := s.ReadToSendInto(&rb, 100, 50, 0, yes); err != nil {
			t.Fatal(err)
		}
	})
	fresh := testing.AllocsPerRun(20, func() { s.ReadToSend(100, 50, 0, yes) })
	if allocs >= fresh {
		t.Fatalf("a read into a buffer allocates %.0f times, a fresh read %.0f", allocs, fresh)
	}
}
