// Package store is the gateway's bbolt file: config snapshot history, the durable
// telemetry queue, long-window counters and metadata. It hides bbolt from its
// callers: typed methods over named buckets, values copied out of transactions.
package store
