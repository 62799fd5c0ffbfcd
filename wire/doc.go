// Package wire holds what crosses the wire between the control plane (apimcp)
// and gateways (apimgw): the config snapshot schema, heartbeats, telemetry batches
// and the protocol version integer. It is shared by both ends and imports only
// the standard library.
package wire
