package controlplane

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/apimgw/apimgw/wire"
)

func uintString(v uint64) string { return strconv.FormatUint(v, 10) }

// serveGateway handles the gateway-facing endpoints (docs/protocol.md).
func (h *Handler) serveGateway(w *statusWriter, r *http.Request) {
	w.Header().Set(wire.HeaderProtocolVersion, strconv.Itoa(wire.ProtocolVersion))
	auth := r.Header.Get("Authorization")
	if auth == "" {
		w.Header().Set("WWW-Authenticate", wire.TokenScheme)
		writeError(w, &APIError{Kind: ErrUnauthorized, Code: "InvalidToken", Message: "Authorization: GatewayKey <token> is missing."})
		return
	}
	gw, err := h.s.AuthenticateGateway(auth)
	if err != nil {
		w.Header().Set("WWW-Authenticate", wire.TokenScheme)
		writeError(w, err)
		return
	}
	w.gw = gw
	switch r.URL.Path {
	case wire.PathConfig:
		if r.Method != http.MethodGet {
			writeMethodNotAllowed(w, r)
			return
		}
		h.serveConfig(w, r, gw)
	case wire.PathHeartbeat:
		if r.Method != http.MethodPost {
			writeMethodNotAllowed(w, r)
			return
		}
		var hb wire.Heartbeat
		if err := h.readGatewayJSON(w, r, 1<<20, &hb); err != nil {
			writeError(w, err)
			return
		}
		if err := hb.Validate(); err != nil {
			writeError(w, validation(err.Error()))
			return
		}
		if hb.Gateway != gw {
			writeError(w, invalidField("gateway", "heartbeat names gateway %q but the token is for %q", hb.Gateway, gw))
			return
		}
		ack, err := h.s.Heartbeat(gw, &hb)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, ack)
	case wire.PathTelemetry:
		if r.Method != http.MethodPost {
			writeMethodNotAllowed(w, r)
			return
		}
		b, err := h.readTelemetry(w, r)
		if err != nil {
			writeError(w, err)
			return
		}
		if b.Gateway != gw {
			writeError(w, invalidField("gateway", "batch names gateway %q but the token is for %q", b.Gateway, gw))
			return
		}
		ack, err := h.s.Ingest(gw, b)
		if err != nil {
			h.opts.Logger.Error("controlplane: telemetry ingest failed", "gateway", gw, "err", err)
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, ack)
	default:
		writeError(w, notFound("No gateway endpoint at %q.", r.URL.Path))
	}
}

// readGatewayBody reads a (possibly gzip-encoded) body of at most limit
// bytes after decoding.
func (h *Handler) readGatewayBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	var body io.Reader = http.MaxBytesReader(w, r.Body, limit)
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(body)
		if err != nil {
			return nil, validation("The request body is not valid gzip: " + err.Error())
		}
		defer zr.Close()
		body = io.LimitReader(zr, limit+1)
	}
	data, err := io.ReadAll(body)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) || int64(len(data)) > limit {
		return nil, &APIError{Kind: ErrTooLarge, Code: "RequestEntityTooLarge", Message: "The request body is larger than " + strconv.FormatInt(limit, 10) + " bytes."}
	}
	if err != nil {
		return nil, validation("The request body could not be read: " + err.Error())
	}
	return data, nil
}

// readGatewayJSON decodes a (possibly gzip-encoded) JSON body of at most
// limit bytes after decoding.
func (h *Handler) readGatewayJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	data, err := h.readGatewayBody(w, r, limit)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return validation("The request body is not valid JSON: " + err.Error())
	}
	return nil
}

// readTelemetry reads and validates a telemetry batch: binary
// (wire.TelemetryBatchContentType, what apimgw sends) or JSON.
func (h *Handler) readTelemetry(w http.ResponseWriter, r *http.Request) (*wire.RawBatch, error) {
	tooLarge := func(err error) error {
		return &APIError{Kind: ErrTooLarge, Code: "RequestEntityTooLarge", Message: err.Error()}
	}
	ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	if strings.EqualFold(strings.TrimSpace(ct), wire.TelemetryBatchContentType) {
		data, err := h.readGatewayBody(w, r, h.opts.MaxTelemetryBytes)
		if err != nil {
			return nil, err
		}
		b, err := wire.ParseRawBatch(data)
		switch {
		case errors.Is(err, wire.ErrTelemetryTooLarge):
			return nil, tooLarge(err)
		case err != nil:
			return nil, validation(err.Error())
		}
		return b, nil
	}
	var b wire.TelemetryBatch
	if err := h.readGatewayJSON(w, r, h.opts.MaxTelemetryBytes, &b); err != nil {
		return nil, err
	}
	if err := b.Validate(); err != nil {
		if errors.Is(err, wire.ErrTelemetryTooLarge) {
			return nil, tooLarge(err)
		}
		return nil, validation(err.Error())
	}
	return RawBatchOf(&b), nil
}

// parseWait reads ?wait= as seconds ("30") or a Go duration ("30s").
func parseWait(s string, max time.Duration) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	var d time.Duration
	if n, err := strconv.Atoi(s); err == nil {
		d = time.Duration(n) * time.Second
	} else if d, err = time.ParseDuration(s); err != nil {
		return 0, invalidField("wait", "%q is not a number of seconds or a duration such as 30s", s)
	}
	if d < 0 {
		return 0, invalidField("wait", "%q is negative", s)
	}
	return min(d, max), nil
}

func etagMatches(ifNoneMatch, etag string) bool {
	for _, t := range strings.Split(ifNoneMatch, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

// serveConfig answers the snapshot long-poll: with If-None-Match equal to the
// current ETag and ?wait=D, it holds the request until the snapshot changes
// (answering 200 at once) or D passes (304).
func (h *Handler) serveConfig(w *statusWriter, r *http.Request, gw string) {
	wait, err := parseWait(r.URL.Query().Get("wait"), h.opts.MaxWait)
	if err != nil {
		writeError(w, err)
		return
	}
	h.s.noteConfigRequest(gw)
	pub, changed, ok := h.s.hub.current(gw)
	if !ok {
		writeError(w, notFound("Gateway %q was not found.", gw))
		return
	}
	inm := r.Header.Get("If-None-Match")
	if inm != "" && etagMatches(inm, pub.etag) && wait > 0 {
		timer := time.NewTimer(wait)
		select {
		case <-changed:
		case <-timer.C:
		case <-r.Context().Done():
			timer.Stop()
			return
		}
		timer.Stop()
		if h.s.closed.Load() {
			writeError(w, errShuttingDown)
			return
		}
		pub, _, ok = h.s.hub.current(gw)
		if !ok {
			writeError(w, notFound("Gateway %q was not found.", gw))
			return
		}
	}
	w.Header().Set("ETag", pub.etag)
	w.Header().Set(wire.HeaderSnapshotVersion, uintString(pub.version))
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Vary", "Accept-Encoding")
	if inm != "" && etagMatches(inm, pub.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	body := pub.body
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		w.Header().Set("Content-Encoding", "gzip")
		body = pub.gzipped()
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

func acceptsGzip(ae string) bool {
	for _, part := range strings.Split(ae, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") {
			return !strings.Contains(strings.ReplaceAll(params, " ", ""), "q=0") || strings.Contains(params, "q=0.")
		}
	}
	return false
}
