package store

import (
	"bufio"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Benchmarks for docs/benchmarks.md. Each queue figure has its baseline in
// the same run: the same work with one bbolt transaction per record.

const benchRecord = 300

func benchStore(b *testing.B) *Store {
	b.Helper()
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{QueueMaxBytes: 1 << 40, Logger: testLogger(&syncBuffer{})})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func reportRate(b *testing.B, n int, start time.Time) {
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "records/s")
}

// BenchmarkAppend: group commit, as the telemetry pipeline uses it. The clock
// includes the final Flush, so every record is on disk when it stops.
func BenchmarkAppend(b *testing.B) {
	s := benchStore(b)
	r := rec(1, benchRecord)
	b.ReportAllocs()
	b.SetBytes(benchRecord)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := s.Append(r); err != nil {
			b.Fatal(err)
		}
		// A producer faster than the disk would make the store drop
		// (DropBacklog); wait for the disk now and then to measure what is
		// sustainable.
		if i%20000 == 19999 {
			s.Flush(context.Background())
		}
	}
	if err := s.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	reportRate(b, b.N, start)
	st, _ := s.QueueStats()
	if st.Dropped != 0 || st.Records != int64(b.N) {
		b.Fatalf("dropped %v, queued %d of %d", st.DroppedBy, st.Records, b.N)
	}
	b.ReportMetric(float64(b.N)/float64(max(st.Commits, 1)), "records/commit")
}

// BenchmarkAppendBaselineTxnPerRecord: the same records, one write
// transaction (one fsync) each.
func BenchmarkAppendBaselineTxnPerRecord(b *testing.B) {
	s := benchStore(b)
	r := rec(1, benchRecord)
	val := make([]byte, 8+benchRecord)
	copy(val[8:], r)
	b.ReportAllocs()
	b.SetBytes(benchRecord)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		err := s.db.Update(func(tx *bolt.Tx) error {
			binary.BigEndian.PutUint64(val, uint64(time.Now().UnixNano()))
			return tx.Bucket(bucketQueue).Put(u64(uint64(i+1)), val)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, b.N, start)
}

func fill(b *testing.B, s *Store, n int) {
	b.Helper()
	r := rec(1, benchRecord)
	for i := 0; i < n; i++ {
		s.Append(r)
		if i%20000 == 19999 {
			s.Flush(context.Background())
		}
	}
	if err := s.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	if st, _ := s.QueueStats(); st.Records != int64(n) {
		b.Fatalf("filled %d of %d", st.Records, n)
	}
}

// BenchmarkReadAck: the uploader's loop, 1000 records per batch: read from
// the head, acknowledge (one durable transaction per batch).
func BenchmarkReadAck(b *testing.B) {
	s := benchStore(b)
	fill(b, s, b.N)
	b.ReportAllocs()
	b.SetBytes(benchRecord)
	b.ResetTimer()
	start := time.Now()
	done := 0
	for done < b.N {
		recs, err := s.Read(0, 1000, 0)
		if err != nil || len(recs) == 0 {
			b.Fatalf("read: %d %v", len(recs), err)
		}
		if err := s.Ack(recs[len(recs)-1].Seq); err != nil {
			b.Fatal(err)
		}
		done += len(recs)
	}
	reportRate(b, b.N, start)
}

// BenchmarkReadAckBaselineTxnPerRecord: read the head record and delete it,
// one transaction each.
func BenchmarkReadAckBaselineTxnPerRecord(b *testing.B) {
	s := benchStore(b)
	fill(b, s, b.N)
	b.ReportAllocs()
	b.SetBytes(benchRecord)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		var key []byte
		s.db.View(func(tx *bolt.Tx) error {
			k, v := tx.Bucket(bucketQueue).Cursor().First()
			key = append([]byte(nil), k...)
			_ = append([]byte(nil), v...)
			return nil
		})
		err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketQueue).Delete(key) })
		if err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, b.N, start)
}

// BenchmarkQueue1M fills a queue with 1,000,000 records of 300 bytes and
// reports the file size against the raw record bytes, the process RSS, and
// the Go heap after 100k and after 1M records (it must not grow with queue
// length), the time to reopen the full file (with the consistency check) and
// to drain it. Run with -benchtime=1x.
func BenchmarkQueue1M(b *testing.B) {
	const total, step = 1_000_000, 100_000
	for i := 0; i < b.N; i++ {
		path := filepath.Join(b.TempDir(), "1m.db")
		s, err := Open(path, Options{QueueMaxBytes: 1 << 40, Logger: testLogger(&syncBuffer{})})
		if err != nil {
			b.Fatal(err)
		}
		r := rec(1, benchRecord)
		start := time.Now()
		var heap100k, heap500k uint64
		for n := 1; n <= total; n++ {
			s.Append(r)
			if n%20000 == 0 {
				s.Flush(context.Background())
			}
			if n%step == 0 {
				s.Flush(context.Background())
				switch n {
				case step:
					heap100k = heapInUse()
				case 5 * step:
					heap500k = heapInUse()
				}
			}
		}
		appendRate := float64(total) / time.Since(start).Seconds()
		heap1M := heapInUse()
		fi, _ := os.Stat(path)
		raw := float64(total * benchRecord)
		b.ReportMetric(appendRate, "append-records/s")
		b.ReportMetric(float64(fi.Size())/(1<<20), "file-MiB")
		b.ReportMetric(raw/(1<<20), "raw-MiB")
		b.ReportMetric(float64(fi.Size())/raw, "file/raw")
		b.ReportMetric(float64(procStatus("RssAnon"))/(1<<10), "rss-anon-MiB")
		b.ReportMetric(float64(procStatus("RssFile"))/(1<<10), "rss-file-MiB")
		b.ReportMetric(float64(heap100k)/(1<<20), "heap-MiB@100k")
		b.ReportMetric(float64(heap500k)/(1<<20), "heap-MiB@500k")
		b.ReportMetric(float64(heap1M)/(1<<20), "heap-MiB@1M")
		s.Close()

		start = time.Now()
		s, err = Open(path, Options{Logger: testLogger(&syncBuffer{})})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(time.Since(start).Milliseconds()), "reopen-checked-ms")
		// The check touched every page: the mapped file now counts in RSS
		// (page cache, reclaimable), the Go heap does not grow.
		b.ReportMetric(float64(procStatus("RssFile"))/(1<<10), "rss-file-MiB-after-check")
		b.ReportMetric(float64(heapInUse())/(1<<20), "heap-MiB-after-check")
		start = time.Now()
		drained := 0
		for {
			recs, err := s.Read(0, 2000, 0)
			if err != nil {
				b.Fatal(err)
			}
			if len(recs) == 0 {
				break
			}
			drained += len(recs)
			if err := s.Ack(recs[len(recs)-1].Seq); err != nil {
				b.Fatal(err)
			}
		}
		if drained != total {
			b.Fatalf("drained %d of %d", drained, total)
		}
		b.ReportMetric(float64(total)/time.Since(start).Seconds(), "drain-records/s")
		s.Close()
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// procStatus reads a kB field of /proc/self/status, in KiB.
func procStatus(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			v, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return v
		}
	}
	return 0
}
