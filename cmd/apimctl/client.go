package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// Exit codes scripts can rely on (docs/apimctl.md).
const (
	exitOK          = 0
	exitFailure     = 1 // server error (5xx), I/O error, anything else
	exitUsage       = 2 // bad command line
	exitNotFound    = 3 // 404
	exitRejected    = 4 // 400, 405, 409, 412, 413: the server refused the input; nothing changed
	exitAuth        = 5 // 401, 403
	exitUnreachable = 6 // could not connect to the control plane
)

// client talks to the control plane's management API.
type client struct {
	server string
	token  string
	http   *http.Client
}

// apiError is a non-2xx answer.
type apiError struct {
	status  int
	code    string
	message string
	details []struct{ Code, Target, Message string }
}

func (e *apiError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s", e.status, http.StatusText(e.status))
	if e.code != "" {
		fmt.Fprintf(&b, " (%s)", e.code)
	}
	if e.message != "" {
		b.WriteString(": " + e.message)
	}
	for _, d := range e.details {
		if d.Message == "" || strings.Contains(e.message, d.Message) && len(e.details) == 1 {
			continue
		}
		b.WriteString("\n  - ")
		if d.Target != "" {
			b.WriteString(d.Target + ": ")
		}
		b.WriteString(d.Message)
	}
	return b.String()
}

type connError struct{ err error }

func (e *connError) Error() string { return e.err.Error() }

// do sends a request and returns the body of a 2xx answer.
func (c *client) do(method, path string, body any) ([]byte, int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, strings.TrimSuffix(c.server, "/")+path, rd)
	if err != nil {
		return nil, 0, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, 0, &connError{fmt.Errorf("cannot reach the control plane at %s: %w", c.server, err)}
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, res.StatusCode, &connError{err}
	}
	if res.StatusCode >= 300 {
		e := &apiError{status: res.StatusCode}
		var env struct {
			Error struct {
				Code    string
				Message string
				Details []struct{ Code, Target, Message string }
			}
		}
		if json.Unmarshal(data, &env) == nil {
			e.code, e.message, e.details = env.Error.Code, env.Error.Message, env.Error.Details
		} else {
			e.message = strings.TrimSpace(string(data))
		}
		return data, res.StatusCode, e
	}
	return data, res.StatusCode, nil
}

// exitCode maps an error to the documented exit code and prints it.
func fail(err error) int {
	fmt.Fprintln(os.Stderr, "apimctl:", err)
	var ae *apiError
	var ce *connError
	var ne net.Error
	switch {
	case errors.As(err, &ae):
		switch {
		case ae.status == 404:
			return exitNotFound
		case ae.status == 401 || ae.status == 403:
			return exitAuth
		case ae.status >= 400 && ae.status < 500:
			return exitRejected
		}
		return exitFailure
	case errors.As(err, &ce), errors.As(err, &ne):
		return exitUnreachable
	}
	return exitFailure
}

func newHTTPClient() *http.Client {
	return &http.Client{Timeout: 60 * time.Second}
}
