// Package controlplane is the central management service (apimcp): resources in
// an ARM-shaped management API, per-gateway config snapshots with long-poll,
// heartbeats, telemetry ingest and reports. It never imports the gateway's
// appliance or netstack packages.
package controlplane
