package controlplane

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
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
)

var allBuckets = []string{bucketAPIs, bucketOps, bucketPolicies, bucketProducts, bucketProductAPIs, bucketSubs,
	bucketNamedValues, bucketBackends, bucketFragments, bucketGateways, bucketGatewayAPIs, bucketGWVersions,
	bucketGWStatus, bucketTelemetry, bucketMeta, bucketCertificates, bucketGatewayCAs}

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
}

// Store is the control plane's state: the configuration model in memory,
// persisted in one bbolt file, plus per-gateway snapshots, gateway status and
// telemetry. Its methods are safe for concurrent use. Writers are serialized;
// every write is validated against the whole resulting model and committed in
// one bbolt transaction, then published at once (readers see the old or the
// new model, never a mix). Close it once, after the HTTP server has stopped.
type Store struct {
	db        *bolt.DB
	opts      Options
	mu        sync.Mutex // serializes configuration writes
	cur       atomic.Pointer[model]
	hub       *hub
	status    *statusBook
	closed    atomic.Bool
	telemetry *telemetryStore
}

// Open opens (creating if needed) the bbolt file at path and loads it.
func Open(path string, opts Options) (*Store, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Validator == nil {
		opts.Validator = WellFormedValidator{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.TelemetryRetention <= 0 {
		opts.TelemetryRetention = 30 * 24 * time.Hour
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("controlplane: open %s: %w", path, err)
	}
	// Batch (telemetry, heartbeats) waits this long for company: short, so
	// one gateway flushing its backlog batch after batch is not slowed down.
	db.MaxBatchDelay = time.Millisecond
	s := &Store{db: db, opts: opts}
	s.telemetry = &telemetryStore{db: db, retention: opts.TelemetryRetention, now: opts.Now}
	if err := s.load(); err != nil {
		db.Close()
		return nil, fmt.Errorf("controlplane: load %s: %w", path, err)
	}
	return s, nil
}

// Close closes the bbolt file. Pending long-polls are released.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	s.hub.closeAll()
	return s.db.Close()
}

func loadTable[T any](b *bolt.Bucket, t table[T]) error {
	return b.ForEach(func(k, v []byte) error {
		var e entry[T]
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("record %q: %w", k, err)
		}
		if e.Props == nil {
			return fmt.Errorf("record %q: no properties", k)
		}
		t[string(k)] = e
		return nil
	})
}

func (s *Store) load() error {
	m := newModel()
	versions := map[string]gwVersion{}
	statuses := map[string]*GatewayStatus{}
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
				return err
			}
		}
		loaders := []struct {
			bucket string
			load   func(*bolt.Bucket) error
		}{
			{bucketAPIs, func(b *bolt.Bucket) error { return loadTable(b, m.apis) }},
			{bucketOps, func(b *bolt.Bucket) error { return loadTable(b, m.ops) }},
			{bucketPolicies, func(b *bolt.Bucket) error { return loadTable(b, m.policies) }},
			{bucketProducts, func(b *bolt.Bucket) error { return loadTable(b, m.products) }},
			{bucketProductAPIs, func(b *bolt.Bucket) error { return loadTable(b, m.productAPIs) }},
			{bucketSubs, func(b *bolt.Bucket) error { return loadTable(b, m.subs) }},
			{bucketNamedValues, func(b *bolt.Bucket) error { return loadTable(b, m.namedValues) }},
			{bucketBackends, func(b *bolt.Bucket) error { return loadTable(b, m.backends) }},
			{bucketFragments, func(b *bolt.Bucket) error { return loadTable(b, m.fragments) }},
			{bucketGateways, func(b *bolt.Bucket) error { return loadTable(b, m.gateways) }},
			{bucketGatewayAPIs, func(b *bolt.Bucket) error { return loadTable(b, m.gatewayAPIs) }},
			{bucketCertificates, func(b *bolt.Bucket) error { return loadTable(b, m.certificates) }},
			{bucketGatewayCAs, func(b *bolt.Bucket) error { return loadTable(b, m.gatewayCAs) }},
			{bucketGWVersions, func(b *bolt.Bucket) error {
				return b.ForEach(func(k, v []byte) error {
					var gv gwVersion
					if err := json.Unmarshal(v, &gv); err != nil {
						return fmt.Errorf("gateway version %q: %w", k, err)
					}
					versions[string(k)] = gv
					return nil
				})
			}},
			{bucketGWStatus, func(b *bolt.Bucket) error {
				return b.ForEach(func(k, v []byte) error {
					var st GatewayStatus
					if err := json.Unmarshal(v, &st); err != nil {
						return fmt.Errorf("gateway status %q: %w", k, err)
					}
					statuses[string(k)] = &st
					return nil
				})
			}},
		}
		for _, l := range loaders {
			if err := l.load(tx.Bucket([]byte(l.bucket))); err != nil {
				return fmt.Errorf("bucket %s: %w", l.bucket, err)
			}
		}
		if n, err := migrateTelemetry(tx); err != nil {
			return fmt.Errorf("bucket %s: %w", bucketTelemetry, err)
		} else if n > 0 {
			s.opts.Logger.Info("controlplane: telemetry records converted to the wire record format", "records", n)
		}
		// Rebuild every gateway's snapshot; a content change since the last
		// run (e.g. a new build renders differently) bumps its version.
		s.hub = newHub(versions)
		builds, err := s.hub.prepare(m, s.opts.Now())
		if err != nil {
			return err
		}
		if err := s.hub.persist(tx, builds); err != nil {
			return err
		}
		s.hub.publish(builds)
		return nil
	})
	if err != nil {
		return err
	}
	s.status = &statusBook{byGateway: statuses}
	s.cur.Store(m)
	return nil
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

// update runs fn on a copy of the model; if fn succeeds and every gateway's
// resulting snapshot is valid, the changed records and the bumped snapshot
// versions are committed in one bbolt transaction and the new model is
// published. Otherwise nothing changes.
func (s *Store) update(fn func(t *txn) error) error {
	if s.closed.Load() {
		return errShuttingDown
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := &txn{m: s.cur.Load().clone(), now: s.opts.Now(), dirty: map[dirtyKey]struct{}{}, s: s}
	if err := fn(t); err != nil {
		return err
	}
	if len(t.dirty) == 0 {
		return nil
	}
	builds, err := s.hub.prepare(t.m, t.now)
	if err != nil {
		return err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		for k := range t.dirty {
			b := tx.Bucket([]byte(k.bucket))
			v, ok, err := t.m.record(k.bucket, k.key)
			if err != nil {
				return err
			}
			if !ok {
				if err := b.Delete([]byte(k.key)); err != nil {
					return err
				}
				continue
			}
			if err := b.Put([]byte(k.key), v); err != nil {
				return err
			}
		}
		return s.hub.persist(tx, builds)
	})
	if err != nil {
		s.opts.Logger.Error("controlplane: commit failed", "err", err)
		return fmt.Errorf("controlplane: commit: %w", err)
	}
	s.cur.Store(t.m)
	s.hub.publish(builds)
	return nil
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
	}
	return nil, false, errors.New("controlplane: unknown bucket " + bucket)
}

// snapshotModel returns the current model (read-only).
func (s *Store) snapshotModel() *model { return s.cur.Load() }
