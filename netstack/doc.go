// Package netstack is the event-loop HTTP/1.1 reverse-proxy engine on gnet:
// client and upstream connections, per-loop upstream pools, the per-loop timer
// wheel and graceful shutdown. Clients may also speak HTTP/2 (h2.go, through
// netstack/http2); each stream is served by the same HTTP/1.1 exchange code. It knows nothing about API management: it calls a
// Handler for every request and does what the handler decides (answer, forward
// with a changed head, or suspend while work runs off the loop).
package netstack
