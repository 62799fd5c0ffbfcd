package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/apimgw/apimgw/wire"
)

// syncLoop long-polls the config until ctx ends. Failures back off
// (BackoffMin doubling to BackoffMax, with jitter); a refused or missing token
// waits the longest delay at once, since only a new token (Kick) helps.
func (a *Agent) syncLoop(ctx context.Context) {
	failures := 0
	for ctx.Err() == nil {
		a.checkToken()
		err := a.syncOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errRenewed) {
			continue // again at once, on a fresh connection
		}
		if err == nil {
			if failures > 0 {
				a.mu.Lock()
				a.st.failures, a.st.nextRetry = 0, time.Time{}
				a.mu.Unlock()
			}
			failures = 0
			continue
		}
		failures++
		d := a.backoff(failures)
		if errors.Is(err, ErrTokenExpired) || errors.Is(err, ErrNoToken) || errors.Is(err, errUnauthorized) {
			d = a.backoff(64) // BackoffMax with jitter
		}
		a.failed(fmt.Errorf("config sync: %w", err), offline(err))
		a.mu.Lock()
		a.st.failures, a.st.nextRetry = failures, a.cfg.Clock.Now().Add(d)
		a.mu.Unlock()
		a.sleep(ctx, d)
	}
}

// waitParam formats the long-poll wait for ?wait=.
func waitParam(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.Itoa(int(d / time.Second))
	}
	return d.String()
}

// syncOnce makes one config request: a new snapshot is applied (or
// rejected, which is recorded but is not a sync failure), "not modified"
// just counts as a sync. It returns the errors that call for a backoff.
func (a *Agent) syncOnce(ctx context.Context) error {
	a.mu.Lock()
	etag := a.st.etag
	a.mu.Unlock()
	hdr := http.Header{}
	if etag != "" {
		hdr.Set("If-None-Match", etag)
	}
	rctx, cancel := context.WithTimeout(ctx, a.cfg.LongPollWait+30*time.Second)
	defer cancel()
	resp, err := a.request(rctx, http.MethodGet, wire.PathConfig+"?wait="+waitParam(a.cfg.LongPollWait), nil, false, hdr)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotModified:
		a.succeeded(false)
		a.noteSync()
		return nil
	case http.StatusOK:
	default:
		return classify(answerError("GET "+wire.PathConfig, resp), resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxSnapshotBytes+1))
	if err != nil {
		return fmt.Errorf("%w: reading the snapshot: %v", ErrUnreachable, err)
	}
	a.succeeded(false)
	newTag := resp.Header.Get("ETag")
	version, _ := strconv.ParseUint(resp.Header.Get(wire.HeaderSnapshotVersion), 10, 64)
	if len(body) > maxSnapshotBytes {
		a.reject(newTag, version, fmt.Errorf("snapshot is larger than %d bytes", maxSnapshotBytes))
		return nil
	}
	var peek struct {
		Version  uint64 `json:"version"`
		Checksum string `json:"checksum"`
	}
	_ = json.Unmarshal(body, &peek) // Apply reports a body that is not JSON
	if version == 0 {
		version = peek.Version
	}
	if _, cur := a.cfg.Current(); peek.Checksum != "" && peek.Checksum == cur {
		// The snapshot being served (e.g. the one loaded from the store at
		// start): nothing to apply, only its ETag to remember.
		a.mu.Lock()
		a.st.etag, a.st.rejected = newTag, nil
		a.mu.Unlock()
		a.noteSync()
		return nil
	}
	start := time.Now()
	if err := a.cfg.Apply(ctx, body); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		a.reject(newTag, version, err)
		a.noteSync()
		return nil
	}
	a.mu.Lock()
	a.st.etag, a.st.rejected = newTag, nil
	a.st.applied++
	a.mu.Unlock()
	a.noteSync()
	a.log.Info("agent: applied config snapshot", "version", version, "bytes", len(body), "took", time.Since(start).Round(time.Microsecond))
	a.heartbeatSoon() // tell the control plane we are in sync
	return nil
}

// reject records a refused candidate. Its ETag is remembered, so the
// long-poll waits for the next change instead of fetching the same bad
// snapshot again and again; the last good config keeps serving.
func (a *Agent) reject(etag string, version uint64, err error) {
	now := a.cfg.Clock.Now()
	ver, _ := a.cfg.Current()
	a.log.Error("agent: config snapshot REJECTED; still serving the last good one", "rejected_version", version, "serving_version", ver, "err", err.Error())
	// The error first, the rejection after: whoever sees Status().Rejected
	// also sees the error that goes with it.
	a.noteError(fmt.Errorf("%w: version %d: %v (still serving version %d)", ErrRejected, version, err, ver), false, false)
	a.mu.Lock()
	a.st.etag = etag
	a.st.rejected = &Rejection{Version: version, Error: err.Error(), At: now}
	a.mu.Unlock()
	a.heartbeatSoon()
}

// noteSync records a successful sync, in the store at most twice a minute.
func (a *Agent) noteSync() {
	now := a.cfg.Clock.Now()
	a.mu.Lock()
	a.st.lastSync = now
	persist := now.Sub(a.st.persistedSync) >= 30*time.Second
	if persist {
		a.st.persistedSync = now
	}
	a.mu.Unlock()
	if persist {
		if err := a.cfg.Store.SetLastSync(now); err != nil {
			a.log.Error("agent: cannot record the last sync in the store", "err", err)
		}
	}
}
