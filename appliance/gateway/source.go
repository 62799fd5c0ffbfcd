package gateway

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/apimgw/apimgw/appliance/agent"
	"github.com/apimgw/apimgw/appliance/status"
)

var _ status.Source = (*Gateway)(nil)

// Facts reports the gateway's state to the status page (quick: counters,
// cached state and small bbolt reads, no network I/O).
func (g *Gateway) Facts(ctx context.Context) status.Facts {
	g.mu.Lock()
	cfg, ap, lastErr, lastErrAt, activity, ready := g.cfg, g.applied, g.lastErr, g.lastErrAt, g.activity, g.ready
	listeners := append([]status.Listener(nil), g.listeners...)
	g.mu.Unlock()

	f := status.Facts{Version: g.opts.Version, GatewayName: cfg.GatewayName, StartedAt: g.started, Activity: activity,
		Listeners: listeners, StorePath: cfg.StorePath}
	for _, s := range cfg.Settings() {
		f.Settings = append(f.Settings, status.Setting{Key: s.Key, Value: s.Value, From: s.From})
	}
	switch {
	case cfg.LocalPath != "":
		f.Mode = status.ModeStandalone
	case cfg.Endpoint != "":
		f.Mode = status.ModeHybrid
		f.ControlPlane.Endpoint = cfg.Endpoint
	default:
		f.Mode = status.ModeUnconfigured
	}
	f.ControlPlane.LastError, f.ControlPlane.LastErrorAt = lastErr, lastErrAt
	if cfg.Token != nil {
		f.Token = &status.Token{GatewayID: cfg.Token.GatewayID, Expiry: cfg.Token.Expiry}
	}
	if g.state != nil {
		cs := g.state.CacheStats()
		f.Policies = status.PolicyFacts{CacheEntries: cs.Entries, CacheBytes: cs.Bytes, CacheBudget: cs.Budget, CacheHits: cs.Hits,
			CacheMisses: cs.Misses, CacheEvictions: cs.Evictions, CacheExpired: cs.Expired}
		for _, m := range g.state.EmittedMetrics() {
			pm := status.PolicyMetric{Namespace: m.Namespace, Name: m.Name, Sum: m.Sum, Count: m.Count}
			for _, d := range m.Dimensions {
				pm.Dimensions = append(pm.Dimensions, [2]string{d.Name, d.Value})
			}
			f.Policies.Metrics = append(f.Policies.Metrics, pm)
		}
	}
	compiled := g.handler.Current()
	f.Ready = ready && compiled != nil
	switch {
	case compiled == nil:
		f.NotReadyReason = "no configuration loaded yet"
	case !ready:
		f.NotReadyReason = "starting"
	}
	if compiled != nil {
		for _, a := range compiled.Snapshot.APIs {
			f.APIs = append(f.APIs, status.API{ID: a.ID, Name: a.DisplayName, Path: a.Path, Operations: len(a.Operations)})
		}
	}
	f.Snapshot.Current, f.Snapshot.AppliedAt = ap.version, ap.at
	if infos, err := g.store.Snapshots(); err == nil {
		for _, in := range infos {
			// Each row shows the facts stored with it (rows stored before the
			// store kept them have none: origin "" is shown as unknown).
			e := status.SnapshotEntry{Version: in.Version, ReceivedAt: in.AcceptedAt, Current: in.Current,
				Origin: in.Origin, APIs: in.APIs}
			if in.Current && e.Origin == "" && compiled != nil && strconv.FormatUint(compiled.Snapshot.Version, 10) == in.Version {
				e.APIs = len(compiled.Snapshot.APIs)
			}
			f.Snapshot.History = append(f.Snapshot.History, e)
		}
	}
	if g.state != nil {
		cs := g.state.Stats()
		f.Counters = status.PolicyCounters{RateKeys: cs.RateKeys, QuotaKeys: cs.QuotaKeys,
			RateEvictions: cs.RateEvictions, QuotaEvictions: cs.QuotaEvictions, MaxKeys: cs.MaxKeys}
	}
	if g.state != nil {
		es := g.state.ExternalCacheStats()
		f.Policies.ExternalUnconfigured = es.Unconfigured
		if cs, ok := g.caches.Stats(); ok {
			f.ExternalCache = &status.ExternalCache{ID: cs.ID, Location: cs.Location, Addr: cs.Addr, Up: cs.Up, Since: cs.Since,
				Hits: es.Hits, Misses: es.Misses, Errors: es.Errors, Down: es.Down, Stores: es.Stores + es.Removes, Skipped: es.Skipped,
				Fallbacks: cs.Fallbacks, LastError: cs.LastError, LastErrAt: cs.LastErrorAt}
		}
	}
	if g.shared != nil {
		ss := g.shared.Stats()
		f.SharedCounters = &status.SharedCounters{Addr: ss.Addr, Sharing: ss.Sharing, Since: ss.Since, Sent: ss.Sent,
			Failed: ss.Failed, Dropped: ss.Dropped, Local: ss.Local, Fallbacks: ss.Fallbacks, Resumed: ss.Resumed,
			LastError: ss.LastError, LastErrorAt: ss.LastErrorAt}
	}
	if g.tracer != nil {
		for _, c := range g.tracer.Counts() {
			f.Traces = append(f.Traces, status.TraceCount{Severity: c.Severity, Outcome: c.Outcome, Count: c.Count})
		}
	}
	if qs, err := g.store.QueueStats(); err == nil {
		f.Telemetry = status.Backlog{Records: uint64(qs.Records), Bytes: uint64(qs.Bytes), MaxBytes: uint64(qs.MaxBytes),
			Oldest: qs.Oldest, Dropped: qs.Dropped}
	}
	if ag := g.currentAgent(); ag != nil {
		as := ag.Status()
		cp := as.ControlPlaneFacts()
		if cp.LastError == "" || lastErrAt.After(cp.LastErrorAt) && lastErr != "" {
			cp.LastError, cp.LastErrorAt = lastErr, lastErrAt
		}
		f.ControlPlane = cp
		if t := as.TokenFacts(); t != nil {
			f.Token = t
		}
		f.Telemetry.LastUpload = as.LastUpload
		if as.Token.State == agent.TokenExpired {
			f.Activity = activity + "; " + as.Token.Message
		}
	}
	return f
}

// Rollback serves an older stored snapshot again.
func (g *Gateway) Rollback(ctx context.Context, version string) error {
	if g.config().LocalPath != "" {
		return fmt.Errorf("%w: in standalone mode the snapshot file decides; edit it instead", status.ErrRollbackRefused)
	}
	infos, err := g.store.Snapshots()
	if err != nil {
		return err
	}
	for _, in := range infos {
		if in.Version != version {
			continue
		}
		snap, err := g.store.Snapshot(in.ID)
		if err != nil {
			return err
		}
		// apply compiles before it swaps: a snapshot that no longer compiles
		// changes nothing.
		if err := g.apply(snap.Data, "rollback", false); err != nil {
			return fmt.Errorf("%w: snapshot %s does not compile any more: %v", status.ErrRollbackRefused, version, err)
		}
		if _, err := g.store.SetCurrentSnapshot(in.ID); err != nil {
			return fmt.Errorf("snapshot %s serves, but the store did not record it as current: %w", version, err)
		}
		g.log.Warn("rolled back", "version", version, "at", time.Now())
		return nil
	}
	return fmt.Errorf("%w: %s", status.ErrUnknownSnapshot, strconv.Quote(version))
}
