// Package status is the gateway's on-box status page: an http.Handler, served on
// status.listen (default 127.0.0.1:8090), with an HTML page for people
// (self-contained, no external assets, refreshes itself), /status.json with the
// same facts, Prometheus /metrics, /healthz and /readyz, and a rollback action.
//
// It knows nothing about how the gateway works: the appliance implements Source
// and hands its facts over as a plain struct; request metrics come from a
// Recorder that the request path feeds; host facts (CPU, memory, the store's
// disk, load) come from a HostCollector built on gopsutil. It is not the data
// plane's Azure probe path (/status-0123456789abcdef), which the request handler
// answers on the data-plane port.
package status
