// Package telemetry is the gateway's telemetry hot path: the request handler
// hands every finished request (appliance.Record) to Pipeline.OnDone on its
// event loop; the record is encoded into that loop's own ring buffer without
// locks or allocation, and a background goroutine group-commits what the loops
// produced to the store's durable queue (store.AppendBatch), from where the
// sync agent uploads it.
//
// Records are stored in a compact binary form (Encode, version byte 1); the
// uploader turns them into wire.TelemetryRecord with Decode. The store treats
// them as opaque bytes.
//
// It is not the uploader (package agent) and not the queue (package store):
// it neither talks to the control plane nor decides what is kept when the
// queue is full (the store drops the oldest and counts them; Stats exposes
// the counts).
package telemetry
