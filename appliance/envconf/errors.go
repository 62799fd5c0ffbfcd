package envconf

import (
	"errors"
	"fmt"
)

// Sentinel errors of package envconf; test with errors.Is.
var (
	// ErrMalformed: a line is not key=value (LineError names file and line).
	ErrMalformed = errors.New("envconf: malformed line")
	// ErrInvalidValue: a known key has a value of the wrong form.
	ErrInvalidValue = errors.New("envconf: invalid value")
	// ErrToken: config.service.auth is not a gateway token.
	ErrToken = errors.New("envconf: invalid gateway token")
	// ErrNoSource: neither config.service.endpoint nor config.local.path is set.
	ErrNoSource = errors.New("envconf: no configuration source")
	// ErrUnsupported: an Azure setting apimgw cannot honour (Microsoft Entra
	// authentication).
	ErrUnsupported = errors.New("envconf: unsupported setting")
)

// LineError is an error tied to one line of a file, or to one environment
// variable. Line is 0 for errors
// about the file as a whole (a missing required key).
type LineError struct {
	File string
	Line int
	Key  string // "" for a line that has no key
	// Env is true when the value came from the environment variable named
	// Key, not from the file.
	Env bool
	Err error
}

func (e *LineError) Error() string {
	if e.Env {
		return fmt.Sprintf("environment variable %s: %v", e.Key, e.Err)
	}
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Key != "" {
		return fmt.Sprintf("%s: %s: %v", loc, e.Key, e.Err)
	}
	return fmt.Sprintf("%s: %v", loc, e.Err)
}

func (e *LineError) Unwrap() error { return e.Err }
