package appliance

import (
	"errors"

	"github.com/apimgw/apimgw/netstack"
	"github.com/apimgw/apimgw/netstack/http1"
)

// failureKind names why the engine ended an exchange (Exchange.Err), for
// telemetry's Record.Error and the status counters. It classifies with
// errors.Is on netstack's sentinels, never by message text: a client that
// stops sending its body is "client-body-timeout", not a backend timeout.
// status is the engine's answer when known (UpstreamFailed), used only when
// err is nil.
func failureKind(err error, status int) string {
	switch {
	case err == nil:
		switch status {
		case 504:
			return "backend-timeout"
		case 502:
			return "backend-unreachable"
		}
		return "backend-error"
	case errors.Is(err, netstack.ErrUpstreamTimeout), errors.Is(err, netstack.ErrUpstreamConnectTimeout):
		return "backend-timeout"
	case errors.Is(err, netstack.ErrUpstreamUnreachable):
		return "backend-unreachable"
	case errors.Is(err, netstack.ErrUpstreamTLS):
		return "backend-tls-error"
	case errors.Is(err, netstack.ErrRequestBodyTooLarge):
		return "request-too-large"
	case errors.Is(err, netstack.ErrClientBodyTimeout):
		return "client-body-timeout"
	case errors.Is(err, netstack.ErrClientClosed):
		return "client-closed"
	case errors.Is(err, netstack.ErrBadRequestBody):
		return "client-error"
	}
	return "backend-error"
}

// appendErrorBody is the handler's JSON error body writer (APIM's
// {"statusCode":N,"message":"..."}), the same escaping writer the engine and
// the policies use.
func appendErrorBody(dst []byte, status int, msg string) []byte {
	return http1.AppendErrorBody(dst, status, msg)
}
