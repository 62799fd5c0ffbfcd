package store

import (
	"context"
	"syscall"
	"testing"
	"time"
)

// Gateway-sized records (a telemetry record of the bench's pipeline is about
// 60 bytes), the way the telemetry pipeline appends them: batches of 100.
// Besides wall-clock rates they report the process's CPU time per record
// (user+system, getrusage), which a machine shared with other work disturbs
// far less than wall-clock: the figure docs/benchmarks.md compares.

const smallRecord = 64

func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, n int, cpu0 time.Duration) {
	b.ReportMetric(float64(processCPU()-cpu0)/float64(n), "cpu-ns/record")
}

func appendSmall(b *testing.B, s *Store, n int) {
	b.Helper()
	batch := make([][]byte, 100)
	for i := range batch {
		batch[i] = rec(i, smallRecord)
	}
	for done := 0; done < n; done += len(batch) {
		if _, err := s.AppendBatch(batch[:min(len(batch), n-done)]); err != nil {
			b.Fatal(err)
		}
		if done%20000 == 0 {
			s.Flush(context.Background())
		}
	}
	if err := s.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkAppendSmall: group commit of gateway-sized records.
func BenchmarkAppendSmall(b *testing.B) {
	s := benchStore(b)
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), processCPU()
	appendSmall(b, s, b.N)
	reportRate(b, b.N, start)
	reportCPU(b, b.N, cpu0)
	if st, _ := s.QueueStats(); st.Dropped != 0 || st.Records != int64(b.N) {
		b.Fatalf("dropped %v, queued %d of %d", st.DroppedBy, st.Records, b.N)
	}
}

// BenchmarkReadAckSmall: the uploader's loop over gateway-sized records,
// 5,000 per batch (the agent's default): read from the head, acknowledge.
func BenchmarkReadAckSmall(b *testing.B) {
	s := benchStore(b)
	appendSmall(b, s, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), processCPU()
	for done := 0; done < b.N; {
		recs, err := s.Read(0, 5000, 4<<20)
		if err != nil || len(recs) == 0 {
			b.Fatalf("read: %d %v", len(recs), err)
		}
		if err := s.Ack(recs[len(recs)-1].Seq); err != nil {
			b.Fatal(err)
		}
		done += len(recs)
	}
	reportRate(b, b.N, start)
	reportCPU(b, b.N, cpu0)
}
