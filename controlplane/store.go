package controlplane

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Bucket names of the control plane's bbolt file (DataFile in the --data dir).
const (
	bucketAPIs         = "apis"
	bucketOps          = "operations"
	bucketPolicies     = "policies"
	bucketProducts     = "products"
	bucketProductAPIs  = "productApis"
	bucketSubs         = "subscriptions"
	bucketNamedValues  = "namedValues"
	bucketBackends     = "backends"
	bucketFragments    = "policyFragments"
	bucketGateways     = "gateways"
	bucketGatewayAPIs  = "gatewayApis"
	bucketCertificates = "certificates"
	bucketGatewayCAs   = "gatewayCertificateAuthorities"
	bucketGWVersions   = "gatewayVersions"
	bucketGWStatus     = "gatewayStatus"
	bucketTelemetry    = "telemetry"
	bucketMeta         = "meta"
	bucketCaches       = "caches"
)

var allBuckets = []string{bucketAPIs, bucketOps, bucketPolicies, bucketProducts, bucketProductAPIs, bucketSubs,
	bucketNamedValues, bucketBackends, bucketFragments, bucketGateways, bucketGatewayAPIs, bucketGWVersions,
	bucketGWStatus, bucketTelemetry, bucketMeta, bucketCertificates, bucketGatewayCAs,
	bucketCaches, bucketAPISchemas, bucketSchemas}

// DataFile is the name of the bbolt file inside the data directory.
const DataFile = "apimcp.db"

// Options configure a Store. Zero values take the defaults noted.
type Options struct {
	// Now is the clock (time.Now).
	Now func() time.Time
	// Validator checks policy documents on write (nil: WellFormedValidator).
	Validator PolicyValidator
	// Logger receives operational messages; never secrets (slog.Default()).
	Logger *slog.Logger
	// TelemetryRetention is how long telemetry records are kept (30 days).
	TelemetryRetention time.Duration
	// PollInterval is how often a Store on a shared backend (PostgreSQL)
	// checks for configuration writes of other processes in case a
	// notification was lost (1 s).
	PollInterval time.Duration
}

// Store is the control plane's state: the configuration model in memory,
// persisted in a backend (one bbolt file, or PostgreSQL shared by several
// apimcp processes), plus per-gateway snapshots, gateway status and
// telemetry. Its methods are safe for concurrent use. Writers are serialized
// (across processes too, by the backend); every write is validated against
// the whole resulting model and committed in one transaction, then
// published at once (readers see the old or the new model, never a mix).
// Close it once, after the HTTP server has stopped.
type Store struct {
	be     backend
	opts   Options
	mu     sync.Mutex // serializes configuration writes and refreshes
	rev    int64      // backend revision cur reflects; guarded by mu
	loaded bool       // cur has been loaded once; guarded by mu
	cur    atomic.Pointer[model]
	hub    *hub
	status *statusBook
	shared sharedStatus // statuses stored by every process (shared backend)
	closed atomic.Bool
	stop   chan struct{} // closed by Close: ends the follower
	done   chan struct{} // closed when the follower has ended (nil: none)
}

func (o *Options) defaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Validator == nil {
		o.Validator = WellFormedValidator{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.TelemetryRetention <= 0 {
		o.TelemetryRetention = 30 * 24 * time.Hour
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
}

// Open opens (creating if needed) the bbolt file at path and loads it.
func Open(path string, opts Options) (*Store, error) {
	opts.defaults()
	be, err := openBolt(path, opts.Logger)
	if err != nil {
		return nil, err
	}
	s, err := newStore(be, opts)
	if err != nil {
		be.close()
		return nil, fmt.Errorf("controlplane: load %s: %w", path, err)
	}
	return s, nil
}

func newStore(be backend, opts Options) (*Store, error) {
	s := &Store{be: be, opts: opts, hub: newHub(map[string]gwVersion{}), status: &statusBook{byGateway: map[string]*GatewayStatus{}},
		stop: make(chan struct{})}
	s.mu.Lock()
	err := s.refreshLocked()
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if be.shared() {
		s.done = make(chan struct{})
		go s.follow()
	}
	return s, nil
}

// Close closes the backend. Pending long-polls are released.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(s.stop)
	if s.done != nil {
		<-s.done
	}
	s.hub.closeAll()
	return s.be.close()
}

// follow applies configuration writes of other processes on a shared
// backend: at once when the backend says so (PostgreSQL NOTIFY), and every
// PollInterval in case a notification was lost (a reconnect).
func (s *Store) follow() {
	defer close(s.done)
	tick := time.NewTicker(s.opts.PollInterval)
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-s.stop:
			return
		case <-s.be.changed():
		case <-tick.C:
		}
		if err := s.refresh(); err != nil {
			if !failing {
				s.opts.Logger.Warn("controlplane: cannot read the configuration from the store; serving the last one read", "err", err)
			}
			failing = true
			continue
		}
		if failing {
			s.opts.Logger.Info("controlplane: store reachable again")
			failing = false
		}
	}
}

func loadTable[T any](tx backendTx, bucket string, t table[T]) error {
	return tx.forEach(bucket, func(k string, v []byte) error {
		var e entry[T]
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("record %q: %w", k, err)
		}
		if e.Props == nil {
			return fmt.Errorf("record %q: no properties", k)
		}
		t[k] = e
		return nil
	})
}

// refresh brings the model up to the backend's revision (see refreshLocked).
func (s *Store) refresh() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return nil
	}
	return s.refreshLocked()
}

// loaded is the model and rebuilt snapshots read in one backend transaction.
type loaded struct {
	m      *model
	builds []build
	rev    int64
}

// refreshLocked loads the whole model from the backend when its revision
// differs from the one cur reflects (always on the first call), rebuilds
// every gateway's snapshot and publishes those that changed. s.mu is held.
func (s *Store) refreshLocked() error {
	if s.loaded {
		rev, err := s.be.revision()
		if err != nil {
			return err
		}
		if rev == s.rev {
			return nil
		}
	}
	var l *loaded
	err := s.be.update(func(tx backendTx) error {
		if s.loaded && tx.revision() == s.rev {
			return nil
		}
		var err error
		l, err = s.loadIn(tx)
		return err
	})
	if err != nil {
		return err
	}
	if l != nil {
		s.adopt(l)
	}
	return nil
}

// adopt makes a loaded model current. s.mu is held.
func (s *Store) adopt(l *loaded) {
	s.rev, s.loaded = l.rev, true
	s.cur.Store(l.m)
	s.hub.publish(l.builds)
}

// loadIn reads the whole model in tx and rebuilds every gateway's snapshot.
// A snapshot version is the stored one while the stored content hash
// matches, so every process on one database serves the same version with the
// same bytes; a content change not yet stored (the first start of a build
// that renders differently) bumps it, persisted in tx. The hub's known
// versions become the stored ones with those bumps, so a write prepared
// after it in the same transaction numbers on from them. Gateway statuses
// are read on the first load only.
func (s *Store) loadIn(tx backendTx) (*loaded, error) {
	m := newModel()
	versions := map[string]gwVersion{}
	loaders := []struct {
		bucket string
		load   func() error
	}{
		{bucketAPIs, func() error { return loadTable(tx, bucketAPIs, m.apis) }},
		{bucketOps, func() error { return loadTable(tx, bucketOps, m.ops) }},
		{bucketPolicies, func() error { return loadTable(tx, bucketPolicies, m.policies) }},
		{bucketProducts, func() error { return loadTable(tx, bucketProducts, m.products) }},
		{bucketProductAPIs, func() error { return loadTable(tx, bucketProductAPIs, m.productAPIs) }},
		{bucketSubs, func() error { return loadTable(tx, bucketSubs, m.subs) }},
		{bucketNamedValues, func() error { return loadTable(tx, bucketNamedValues, m.namedValues) }},
		{bucketBackends, func() error { return loadTable(tx, bucketBackends, m.backends) }},
		{bucketFragments, func() error { return loadTable(tx, bucketFragments, m.fragments) }},
		{bucketGateways, func() error { return loadTable(tx, bucketGateways, m.gateways) }},
		{bucketGatewayAPIs, func() error { return loadTable(tx, bucketGatewayAPIs, m.gatewayAPIs) }},
		{bucketCertificates, func() error { return loadTable(tx, bucketCertificates, m.certificates) }},
		{bucketGatewayCAs, func() error { return loadTable(tx, bucketGatewayCAs, m.gatewayCAs) }},
		{bucketCaches, func() error { return loadTable(tx, bucketCaches, m.caches) }},
		{bucketAPISchemas, func() error { return loadTable(tx, bucketAPISchemas, m.apiSchemas) }},
		{bucketSchemas, func() error { return loadTable(tx, bucketSchemas, m.schemas) }},
		{bucketGWVersions, func() error {
			return tx.forEach(bucketGWVersions, func(k string, v []byte) error {
				var gv gwVersion
				if err := json.Unmarshal(v, &gv); err != nil {
					return fmt.Errorf("gateway version %q: %w", k, err)
				}
				versions[k] = gv
				return nil
			})
		}},
	}
	if !s.loaded {
		loaders = append(loaders, struct {
			bucket string
			load   func() error
		}{bucketGWStatus, func() error {
			return tx.forEach(bucketGWStatus, func(k string, v []byte) error {
				var st GatewayStatus
				if err := json.Unmarshal(v, &st); err != nil {
					return fmt.Errorf("gateway status %q: %w", k, err)
				}
				s.status.mu.Lock()
				s.status.byGateway[k] = &st
				s.status.mu.Unlock()
				return nil
			})
		}})
	}
	for _, l := range loaders {
		if err := l.load(); err != nil {
			return nil, fmt.Errorf("bucket %s: %w", l.bucket, err)
		}
	}
	s.hub.setKnown(versions)
	builds, err := s.hub.prepare(m, s.opts.Now())
	if err != nil {
		return nil, err
	}
	if err := s.hub.persist(tx, builds, versions); err != nil {
		return nil, err
	}
	known := make(map[string]gwVersion, len(versions))
	for k, v := range versions {
		known[k] = v
	}
	for _, bd := range builds {
		if bd.pub != nil {
			known[bd.gw] = bd.version
		}
	}
	s.hub.setKnown(known)
	return &loaded{m: m, builds: builds, rev: tx.revision()}, nil
}

// dirtyKey names one stored record a write changed.
type dirtyKey struct{ bucket, key string }

// txn is one configuration write in progress: a private copy of the model
// and the records it changed.
type txn struct {
	m     *model
	now   time.Time
	dirty map[dirtyKey]struct{}
	s     *Store
}

func (t *txn) touch(bucket, key string) { t.dirty[dirtyKey{bucket, key}] = struct{}{} }

// errNothing rolls back an update transaction that has nothing to commit.
var errNothing = errors.New("controlplane: nothing to commit")

// update runs fn on a copy of the model; if fn succeeds and every gateway's
// resulting snapshot is valid, the changed records and the bumped snapshot
// versions are committed in one transaction and the new model is published.
// Otherwise nothing changes.
//
// On a shared backend fn runs inside the transaction, which holds the lock
// that serializes the writes of every process: when another process wrote
// since the model was loaded, the model is first reloaded in that same
// transaction, so If-Match and uniqueness rules hold across processes and a
// write never waits for, or loses to, a retry.
func (s *Store) update(fn func(t *txn) error) error {
	if s.closed.Load() {
		return errShuttingDown
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// write runs fn on base and, if it changed anything valid, stores it in
	// tx; fnErr is fn's (or the validation's) verdict, err the backend's.
	write := func(tx backendTx, base *model) (t *txn, builds []build, fnErr, err error) {
		t = &txn{m: base.clone(), now: s.opts.Now(), dirty: map[dirtyKey]struct{}{}, s: s}
		if fnErr = fn(t); fnErr != nil || len(t.dirty) == 0 {
			return t, nil, fnErr, nil
		}
		if builds, fnErr = s.hub.prepare(t.m, t.now); fnErr != nil {
			return t, nil, fnErr, nil
		}
		if tx == nil {
			return t, builds, nil, nil
		}
		return t, builds, nil, s.store(tx, t, builds)
	}
	if !s.be.shared() {
		// One process: the model is the database's; fn and the snapshot
		// builds run before the (short) write transaction.
		t, builds, fnErr, _ := write(nil, s.cur.Load())
		if fnErr != nil || len(t.dirty) == 0 {
			return fnErr
		}
		if err := s.be.update(func(tx backendTx) error { return s.store(tx, t, builds) }); err != nil {
			s.opts.Logger.Error("controlplane: commit failed", "err", err)
			return fmt.Errorf("controlplane: commit: %w", err)
		}
		s.rev++
		s.cur.Store(t.m)
		s.hub.publish(builds)
		return nil
	}
	var (
		reload *loaded
		t      *txn
		builds []build
		fnErr  error
		wrote  bool
	)
	err := s.be.update(func(tx backendTx) error {
		reload, t, builds, fnErr, wrote = nil, nil, nil, nil, false
		base := s.cur.Load()
		if !s.loaded || tx.revision() != s.rev {
			var err error
			if reload, err = s.loadIn(tx); err != nil {
				return err
			}
			base = reload.m
		}
		var err error
		t, builds, fnErr, err = write(tx, base)
		if err != nil {
			return err
		}
		wrote = fnErr == nil && len(t.dirty) > 0
		if !wrote && reload == nil {
			return errNothing
		}
		return nil
	})
	if errors.Is(err, errNothing) {
		err = nil
	}
	if err != nil {
		s.opts.Logger.Error("controlplane: commit failed", "err", err)
		return s.unavailable(fmt.Errorf("controlplane: commit: %w", err))
	}
	if reload != nil {
		s.adopt(reload)
	}
	if !wrote {
		return fnErr
	}
	s.rev++
	s.cur.Store(t.m)
	s.hub.publish(builds)
	return nil
}

// store writes the records t changed and the versions of builds in tx, as
// one configuration write (the revision is bumped).
func (s *Store) store(tx backendTx, t *txn, builds []build) error {
	for k := range t.dirty {
		v, ok, err := t.m.record(k.bucket, k.key)
		if err != nil {
			return err
		}
		if !ok {
			if err := tx.del(k.bucket, k.key); err != nil {
				return err
			}
			continue
		}
		if err := tx.put(k.bucket, k.key, v); err != nil {
			return err
		}
	}
	tx.bumpRevision()
	return s.hub.persist(tx, builds, nil)
}

func marshalEntry[T any](t table[T], key string) ([]byte, bool, error) {
	e, ok := t[key]
	if !ok {
		return nil, false, nil
	}
	b, err := json.Marshal(e)
	return b, true, err
}

// record returns the stored encoding of one record, or false if absent.
func (m *model) record(bucket, key string) ([]byte, bool, error) {
	switch bucket {
	case bucketAPIs:
		return marshalEntry(m.apis, key)
	case bucketOps:
		return marshalEntry(m.ops, key)
	case bucketPolicies:
		return marshalEntry(m.policies, key)
	case bucketProducts:
		return marshalEntry(m.products, key)
	case bucketProductAPIs:
		return marshalEntry(m.productAPIs, key)
	case bucketSubs:
		return marshalEntry(m.subs, key)
	case bucketNamedValues:
		return marshalEntry(m.namedValues, key)
	case bucketBackends:
		return marshalEntry(m.backends, key)
	case bucketFragments:
		return marshalEntry(m.fragments, key)
	case bucketGateways:
		return marshalEntry(m.gateways, key)
	case bucketGatewayAPIs:
		return marshalEntry(m.gatewayAPIs, key)
	case bucketCertificates:
		return marshalEntry(m.certificates, key)
	case bucketGatewayCAs:
		return marshalEntry(m.gatewayCAs, key)
	case bucketCaches:
		return marshalEntry(m.caches, key)
	case bucketAPISchemas:
		return marshalEntry(m.apiSchemas, key)
	case bucketSchemas:
		return marshalEntry(m.schemas, key)
	}
	return nil, false, errors.New("controlplane: unknown bucket " + bucket)
}

// catchUp brings the model up to the backend's revision before a
// management read on a shared backend, so a client that wrote through one
// apimcp reads its write through any other (one cheap revision query when
// nothing changed). When the database cannot be reached the read is served
// from the model last loaded.
func (s *Store) catchUp() {
	if !s.be.shared() {
		return
	}
	if err := s.refresh(); err != nil {
		s.opts.Logger.Debug("controlplane: read served from the last loaded configuration", "err", err)
	}
}

// snapshotModel returns the current model (read-only).
func (s *Store) snapshotModel() *model { return s.cur.Load() }

// unavailable reports a backend failure: on a shared backend (a database
// server that may be restarting) as a 503 the client should retry, else as
// the internal error it is. A validation or other API error passes as is.
func (s *Store) unavailable(err error) error {
	var ae *APIError
	if errors.As(err, &ae) || !s.be.shared() {
		return err
	}
	return &APIError{Kind: ErrUnavailable, Code: "ServiceUnavailable", Message: "The control plane's database cannot be reached; retry shortly.", cause: err}
}
