// Package agent is the gateway's sync agent: the only part of apimgw that
// talks to the control plane, always by outbound HTTP(S) requests (pull
// model). It long-polls the gateway's config snapshot with ETag and hands
// each new candidate to the composition root's Apply callback (checksum, dry
// run compile, store, swap); it posts a heartbeat every interval (versions,
// host facts, telemetry backlog, last error); and it uploads the telemetry
// queue from the store in batches, deleting only what the control plane
// acknowledged. Failures back off exponentially with jitter; nothing it does
// ever stops the data plane: with the control plane gone, the token expired or
// its DNS name unresolvable, the gateway keeps serving its last good config and
// keeps queueing telemetry, and Status says so plainly.
//
// It is not the config compiler (package appliance), the store (package
// store) or the telemetry hot path (package telemetry); the protocol is
// docs/protocol.md and package wire. docs/sync.md describes the agent.
package agent
