package shared_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/apimgw/apimgw/appliance/shared"
	"github.com/apimgw/apimgw/internal/testredis"
	"github.com/apimgw/apimgw/wire"
)

// BenchmarkSharedCacheGet is one external cache lookup (a GET round trip to
// a local redis-server, on the calling goroutine as on a call worker): the
// latency a cache-lookup-value with caching-type external adds to a request.
// BenchmarkSharedCacheSet is a store as the pipeline sees it (queued; the
// writer pipelines them).
func BenchmarkSharedCacheGet(b *testing.B) {
	c := benchCache(b)
	c.Set("k", []byte("apimgw1svalue"), time.Minute)
	for deadline := time.Now().Add(5 * time.Second); c.Stats().Sets == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("not stored")
		}
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, ok, err := c.Get(ctx, "k"); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

func BenchmarkSharedCacheSet(b *testing.B) {
	c := benchCache(b)
	val := []byte("apimgw1svalue")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.Set("k", val, time.Minute)
	}
}

func benchCache(b *testing.B) *shared.Cache {
	srv := testredis.Start(b)
	c, err := shared.NewCache(shared.CacheOptions{Cache: wire.ExternalCache{ID: "bench", ConnectionString: srv.Addr()},
		Probe: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	for deadline := time.Now().Add(10 * time.Second); !c.Up(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("cache not up within 10s")
		}
	}
	return c
}
