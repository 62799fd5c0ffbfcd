package agent

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/apimgw/apimgw/wire"
)

// armError is the control plane's error body.
type armError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// answerError turns a non-success answer into an error wrapping
// ErrTokenExpired or ErrRefused, with the control plane's code and message.
func answerError(what string, resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e armError
	detail := ""
	if json.Unmarshal(body, &e) == nil && e.Error.Code != "" {
		detail = e.Error.Code + ": " + e.Error.Message
	} else if len(body) > 0 {
		detail = string(bytes.TrimSpace(body[:min(len(body), 200)]))
	}
	kind := ErrRefused
	if e.Error.Code == "TokenExpired" {
		kind = ErrTokenExpired
	}
	return fmt.Errorf("%w: %s: HTTP %d %s", kind, what, resp.StatusCode, detail)
}

// offline reports whether err means the control plane cannot be used at
// the moment: unreachable, token refused, or a server error.
func offline(err error) bool {
	return errors.Is(err, ErrUnreachable) || errors.Is(err, ErrTokenExpired) || errors.Is(err, ErrNoToken) ||
		errors.Is(err, errUnauthorized) || errors.Is(err, errServer)
}

// Internal refinements of ErrRefused, for the offline decision.
var (
	errUnauthorized = errors.New("unauthorized")
	errServer       = errors.New("server error")
)

// request sends one request with the current token. A transport failure is
// ErrUnreachable; the caller handles the answer (and closes its body).
func (a *Agent) request(ctx context.Context, method, path string, body []byte, gz bool, hdr http.Header) (*http.Response, error) {
	tok := a.cfg.Token()
	if tok == nil {
		return nil, ErrNoToken
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	// The request also ends when the agent renews its connections.
	callerCtx := ctx
	ctx, cancel := context.WithCancel(ctx)
	epoch := a.currentEpoch()
	stop := context.AfterFunc(epoch, cancel)
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		stop()
		cancel()
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", tok.Header())
	req.Header.Set(wire.HeaderProtocolVersion, strconv.Itoa(wire.ProtocolVersion))
	req.Header.Set("User-Agent", "apimgw/"+a.cfg.Version)
	if body != nil {
		if req.Header.Get("Content-Type") == "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if gz {
			req.Header.Set("Content-Encoding", "gzip")
		}
	}
	resp, err := a.client.Do(req)
	if err != nil {
		stop()
		cancel()
		switch {
		case errors.Is(callerCtx.Err(), context.Canceled):
			return nil, callerCtx.Err() // the agent is stopping
		case callerCtx.Err() == nil && epoch.Err() != nil:
			return nil, errRenewed
		}
		// A timeout is the control plane being unreachable too (a dead
		// connection that nothing reset).
		// Whatever this connection's trouble, do not reuse its idle peers.
		a.client.CloseIdleConnections()
		return nil, fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: func() { stop(); cancel() }}
	return resp, nil
}

// errRenewed: the request was abandoned because the agent renewed its
// connections; the caller sends it again at once, without a backoff.
var errRenewed = errors.New("agent: request abandoned for a fresh connection")

// releasingBody releases the request's context when the body is closed.
type releasingBody struct {
	io.ReadCloser
	release func()
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}

// classify wraps an answer error with the internal refinements.
func classify(err error, status int) error {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return fmt.Errorf("%w (%w)", err, errUnauthorized)
	case status >= 500:
		return fmt.Errorf("%w (%w)", err, errServer)
	}
	return err
}

// postJSON posts v (gzip unless disabled) and decodes a 200 answer into out.
func (a *Agent) postJSON(ctx context.Context, what, path string, v, out any) error {
	body, gz, err := a.encode(v)
	if err != nil {
		return err
	}
	return a.post(ctx, what, path, body, "application/json", gz, out)
}

// post posts body (of contentType, gzipped when gz) and decodes a 200 JSON
// answer into out.
func (a *Agent) post(ctx context.Context, what, path string, body []byte, contentType string, gz bool, out any) error {
	rctx, cancel := context.WithTimeout(ctx, a.shortTimeout())
	defer cancel()
	resp, err := a.request(rctx, http.MethodPost, path, body, gz, http.Header{"Content-Type": {contentType}})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return classify(answerError(what, resp), resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%w: %s: reading the answer: %v", ErrUnreachable, what, err)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%w: %s: answer is not the expected JSON: %v", ErrProtocol, what, err)
	}
	return nil
}

// shortTimeout bounds a heartbeat or telemetry request: about a heartbeat
// interval (at least 5 s, at most RequestTimeout), so that a request stuck on
// a connection a middlebox silently dropped is given up well before the
// integration timeout.
func (a *Agent) shortTimeout() time.Duration {
	return min(max(a.cfg.HeartbeatInterval, 5*time.Second), a.cfg.RequestTimeout)
}

var gzPool = sync.Pool{New: func() any { w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed); return w }}

// encode marshals v, gzipped unless disabled.
func (a *Agent) encode(v any) ([]byte, bool, error) {
	var buf bytes.Buffer
	if a.cfg.DisableGzip {
		if err := json.NewEncoder(&buf).Encode(v); err != nil {
			return nil, false, fmt.Errorf("agent: encode: %w", err)
		}
		return buf.Bytes(), false, nil
	}
	zw := gzPool.Get().(*gzip.Writer)
	defer gzPool.Put(zw)
	zw.Reset(&buf)
	if err := json.NewEncoder(zw).Encode(v); err != nil {
		return nil, false, fmt.Errorf("agent: encode: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, false, fmt.Errorf("agent: encode: %w", err)
	}
	return buf.Bytes(), true, nil
}

// encodeRaw encodes a binary telemetry batch, gzipped unless disabled. The
// uncompressed batch is built in a pooled buffer sized for it up front (a
// batch is some 5,000 records, a few hundred KiB: growing it by appends and
// dropping it per batch showed in the profile).
func (a *Agent) encodeRaw(b *wire.RawBatch) ([]byte, bool, error) {
	size := 64 + len(b.Gateway) + len(b.Stream)
	for _, r := range b.Records {
		size += 2*binary.MaxVarintLen64 + len(r.Data)
	}
	if a.cfg.DisableGzip {
		return wire.AppendRawBatch(make([]byte, 0, size), b), false, nil
	}
	rp := rawPool.Get().(*[]byte)
	defer rawPool.Put(rp)
	if cap(*rp) < size {
		*rp = make([]byte, 0, size)
	}
	raw := wire.AppendRawBatch((*rp)[:0], b)
	*rp = raw[:0]
	var buf bytes.Buffer
	buf.Grow(len(raw) / 4)
	zw := gzPool.Get().(*gzip.Writer)
	defer gzPool.Put(zw)
	zw.Reset(&buf)
	for rest := raw; len(rest) > 0; {
		n := min(len(rest), yieldBytes)
		if _, err := zw.Write(rest[:n]); err != nil {
			return nil, false, fmt.Errorf("agent: encode: %w", err)
		}
		if rest = rest[n:]; len(rest) > 0 {
			runtime.Gosched()
		}
	}
	if err := zw.Close(); err != nil {
		return nil, false, fmt.Errorf("agent: encode: %w", err)
	}
	return buf.Bytes(), true, nil
}

// rawPool holds the uncompressed batch buffers of encodeRaw.
var rawPool = sync.Pool{New: func() any { return new([]byte) }}
