// Package shared is the Redis glue of the gateway's state shared between
// replicas: it fills policy.SharedCounters (rate-limit, rate-limit-by-key,
// quota and quota-by-key counters) with a go-redis client configured by
// env.conf's policy.rate-limit.redis.url.
//
// It never blocks an event loop. In exact mode (the default) it also fills
// policy.Leaser: a lease request takes a budget of calls from the shared
// count atomically (a Lua script that never goes beyond the limit) and the
// State admits calls from it; a request without budget is suspended off the
// loop until the answer. In approximate mode policy.State decides every call
// locally, and this package sends the increments in pipelined batches from its
// own goroutine and hands the shared totals back. When Redis is unreachable it
// says so (Stats, the status page, /metrics), the State counts locally, and
// sharing resumes when a probe finds Redis again.
//
// It also fills policy.ExternalCache (cache.go): the external cache of the
// cache policies, on the Redis of the snapshot's /caches resource; lookups
// are one round trip on a call worker, stores are queued and written in
// batches, and while Redis is unreachable lookups miss and stores are
// skipped until it answers.
//
// It is not the control plane's storage.
package shared
