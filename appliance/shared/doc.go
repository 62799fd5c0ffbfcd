// Package shared is the Redis glue of the gateway's state shared between
// replicas: it fills policy.SharedCounters (rate-limit, rate-limit-by-key,
// quota and quota-by-key counters) with a go-redis client configured by
// env.conf's policy.rate-limit.redis.url.
//
// It never stands between a request and its answer: policy.State decides
// every call locally, this package sends the increments in pipelined batches
// from its own goroutine and hands the shared totals back. When Redis is
// unreachable it says so (Stats, the status page, /metrics), the State counts
// locally, and sharing resumes when a probe finds Redis again.
//
// It is not the control plane's storage, and it holds no cache entries.
package shared
