package controlplane

import (
	"fmt"
	"net/http"
)

// APIError is an error as the management API reports it, in ARM's shape:
// {"error":{"code","message","details":[{"code","target","message"}]}}. Kind is
// one of the package sentinels and decides the HTTP status.
type APIError struct {
	Kind    error         `json:"-"`
	Code    string        `json:"code"`
	Message string        `json:"message"`
	Details []ErrorDetail `json:"details,omitempty"`
	cause   error         // logged, never shown (ErrUnavailable)
}

// ErrorDetail is one entry of an ARM error's details.
type ErrorDetail struct {
	Code    string `json:"code"`
	Target  string `json:"target,omitempty"`
	Message string `json:"message"`
}

func (e *APIError) Error() string {
	s := e.Code + ": " + e.Message
	for _, d := range e.Details {
		if d.Target != "" {
			s += "; " + d.Target + ": " + d.Message
		} else {
			s += "; " + d.Message
		}
	}
	return s
}

// Unwrap returns Kind.
func (e *APIError) Unwrap() error { return e.Kind }

// Status is the HTTP status for the error.
func (e *APIError) Status() int {
	switch e.Kind {
	case ErrNotFound:
		return http.StatusNotFound
	case ErrValidation:
		return http.StatusBadRequest
	case ErrConflict:
		return http.StatusConflict
	case ErrPrecondition:
		return http.StatusPreconditionFailed
	case ErrUnauthorized:
		return http.StatusUnauthorized
	case ErrTooLarge:
		return http.StatusRequestEntityTooLarge
	case ErrClosed, ErrUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func notFound(format string, args ...any) *APIError {
	return &APIError{Kind: ErrNotFound, Code: "ResourceNotFound", Message: fmt.Sprintf(format, args...)}
}

func conflict(format string, args ...any) *APIError {
	return &APIError{Kind: ErrConflict, Code: "Conflict", Message: fmt.Sprintf(format, args...)}
}

// validation builds a 400 ValidationError with one detail per problem.
func validation(msg string, details ...ErrorDetail) *APIError {
	return &APIError{Kind: ErrValidation, Code: "ValidationError", Message: msg, Details: details}
}

func invalidField(target, format string, args ...any) *APIError {
	m := fmt.Sprintf(format, args...)
	return validation("One or more fields contain incorrect values: "+target+": "+m, ErrorDetail{Code: "ValidationError", Target: target, Message: m})
}

var errShuttingDown = &APIError{Kind: ErrClosed, Code: "ServiceUnavailable", Message: "The control plane is shutting down; retry shortly."}
