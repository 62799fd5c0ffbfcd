// Package http1 is a sans-IO HTTP/1.1 parser and serializer: it takes bytes and
// returns events, and never touches a socket, so the same core serves gnet
// connections and TLS connections. It is strict RFC 9112 because a proxy that
// parses differently from its backend enables request smuggling. It imports only
// the standard library.
package http1
