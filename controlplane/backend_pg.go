package controlplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/apimgw/apimgw/wire"
)

// pgChannel is the LISTEN/NOTIFY channel of configuration writes; the
// payload is the new revision.
const pgChannel = "apimcp_config"

// Timeouts of one PostgreSQL operation: a configuration write, anything
// else (a heartbeat, a telemetry batch), and the revision check a management
// read makes first (short: when the database is unreachable the read is
// served from memory).
const (
	pgWriteTimeout    = 15 * time.Second
	pgOpTimeout       = 10 * time.Second
	pgRevisionTimeout = 2 * time.Second
)

// pgBackend keeps everything in PostgreSQL (schema: pgschema/*.sql), shared
// by any number of apimcp processes. A configuration write locks the one
// revision row, so writes of all processes are serialized, bumps it and
// notifies the others (pg_notify at commit); each process listens on one
// connection of its own and, should that fail, polls (Store.follow).
type pgBackend struct {
	pool   *pgxpool.Pool
	log    *slog.Logger
	notify chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

// OpenPostgres connects to the PostgreSQL database at url
// (postgres://user:password@host:port/db?sslmode=...; pgxpool's pool_*
// parameters set the pool), applies the schema migrations it lacks (refusing
// a database migrated by a newer apimcp: ErrSchemaNewer) and loads the
// configuration. Any number of Stores, in any number of processes, may use
// one database at once: together they behave as one.
func OpenPostgres(ctx context.Context, url string, opts Options) (*Store, error) {
	opts.defaults()
	be, err := openPG(ctx, url, opts.Logger)
	if err != nil {
		return nil, err
	}
	s, err := newStore(be, opts)
	if err != nil {
		be.close()
		return nil, fmt.Errorf("controlplane: load from PostgreSQL: %w", err)
	}
	return s, nil
}

func openPG(ctx context.Context, url string, log *slog.Logger) (*pgBackend, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("controlplane: --store: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("controlplane: PostgreSQL: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("controlplane: PostgreSQL at %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	v, err := migrate(ctx, pool)
	if err != nil {
		pool.Close()
		if errors.Is(err, ErrSchemaNewer) {
			return nil, err
		}
		return nil, fmt.Errorf("controlplane: PostgreSQL schema: %w", err)
	}
	log.Info("controlplane: PostgreSQL store", "host", cfg.ConnConfig.Host, "port", cfg.ConnConfig.Port,
		"database", cfg.ConnConfig.Database, "schemaVersion", v)
	lctx, cancel := context.WithCancel(context.Background())
	b := &pgBackend{pool: pool, log: log, notify: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	go b.listen(lctx)
	return b, nil
}

// listen holds one connection in LISTEN and signals b.notify on each
// notification, and once after every (re)connect (notifications sent while
// it was away are lost). It retries with a growing pause, up to 2 s.
func (b *pgBackend) listen(ctx context.Context) {
	defer close(b.done)
	pause := 50 * time.Millisecond
	for ctx.Err() == nil {
		err := b.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		b.log.Debug("controlplane: PostgreSQL LISTEN connection lost; polling until it is back", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, 2*time.Second)
	}
}

func (b *pgBackend) listenOnce(ctx context.Context) error {
	pc, err := b.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	conn := pc.Hijack() // a LISTENing connection is never returned to the pool
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+pgChannel); err != nil {
		return err
	}
	b.signal()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		b.signal()
	}
}

func (b *pgBackend) signal() {
	select {
	case b.notify <- struct{}{}:
	default:
	}
}

func (b *pgBackend) changed() <-chan struct{} { return b.notify }
func (b *pgBackend) shared() bool             { return true }

func (b *pgBackend) close() error {
	b.cancel()
	<-b.done
	b.pool.Close()
	return nil
}

func (b *pgBackend) revision() (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), pgRevisionTimeout)
	defer cancel()
	var rev int64
	err := b.pool.QueryRow(ctx, "SELECT rev FROM apimcp_revision WHERE id = 1").Scan(&rev)
	return rev, err
}

// pgTx is one update transaction. Writes are queued and sent in one round
// trip before the commit.
type pgTx struct {
	ctx    context.Context
	tx     pgx.Tx
	rev    int64
	bump   bool
	writes pgx.Batch
}

func (t *pgTx) revision() int64 { return t.rev }
func (t *pgTx) bumpRevision()   { t.bump = true }

func (t *pgTx) forEach(bucket string, fn func(string, []byte) error) error {
	q := "SELECT key, value::text FROM apimcp_records WHERE bucket = $1"
	args := []any{bucket}
	if bucket == bucketGWStatus {
		q, args = "SELECT gateway, status::text FROM apimcp_gateway_status", nil
	}
	rows, err := t.tx.Query(t.ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var k, v string
	for rows.Next() {
		if err := rows.Scan(&k, &v); err != nil {
			return err
		}
		if err := fn(k, []byte(v)); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (t *pgTx) put(bucket, key string, v []byte) error {
	t.writes.Queue(`INSERT INTO apimcp_records (bucket, key, value) VALUES ($1, $2, $3::text::json)
		ON CONFLICT (bucket, key) DO UPDATE SET value = EXCLUDED.value`, bucket, key, string(v))
	return nil
}

func (t *pgTx) del(bucket, key string) error {
	t.writes.Queue("DELETE FROM apimcp_records WHERE bucket = $1 AND key = $2", bucket, key)
	return nil
}

func (b *pgBackend) update(fn func(backendTx) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), pgWriteTimeout)
	defer cancel()
	return pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		t := &pgTx{ctx: ctx, tx: tx}
		// The lock that serializes configuration writes of every process;
		// read committed then shows each later statement everything
		// committed before it.
		if err := tx.QueryRow(ctx, "SELECT rev FROM apimcp_revision WHERE id = 1 FOR UPDATE").Scan(&t.rev); err != nil {
			return err
		}
		if err := fn(t); err != nil {
			return err
		}
		if t.bump {
			t.writes.Queue("UPDATE apimcp_revision SET rev = rev + 1 WHERE id = 1")
			t.writes.Queue("SELECT pg_notify($1, $2)", pgChannel, strconv.FormatInt(t.rev+1, 10))
		}
		if t.writes.Len() == 0 {
			return nil
		}
		return tx.SendBatch(ctx, &t.writes).Close()
	})
}

func (b *pgBackend) putStatus(gw string, data []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), pgOpTimeout)
	defer cancel()
	_, err := b.pool.Exec(ctx, `INSERT INTO apimcp_gateway_status (gateway, status, updated_at) VALUES ($1, $2::text::json, now())
		ON CONFLICT (gateway) DO UPDATE SET status = EXCLUDED.status, updated_at = EXCLUDED.updated_at`, gw, string(data))
	return err
}

func (b *pgBackend) deleteStatus(gw string) error {
	ctx, cancel := context.WithTimeout(context.Background(), pgOpTimeout)
	defer cancel()
	_, err := b.pool.Exec(ctx, "DELETE FROM apimcp_gateway_status WHERE gateway = $1", gw)
	return err
}

func (b *pgBackend) allStatuses() (map[string][]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), pgRevisionTimeout)
	defer cancel()
	rows, err := b.pool.Query(ctx, "SELECT gateway, status::text FROM apimcp_gateway_status")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]byte{}
	var gw, v string
	for rows.Next() {
		if err := rows.Scan(&gw, &v); err != nil {
			return nil, err
		}
		out[gw] = []byte(v)
	}
	return out, rows.Err()
}

// ingest inserts the batch in one statement; the primary key makes a record
// that is already stored (by this or another apimcp, also one inserting it
// at this moment) a duplicate: ON CONFLICT DO NOTHING, RETURNING counts
// what was accepted.
func (b *pgBackend) ingest(gw string, batch *wire.RawBatch, cutoff time.Time, ack *wire.TelemetryAck) error {
	ack.Accepted, ack.Duplicates, ack.Expired = 0, 0, 0
	n := len(batch.Records)
	ts, seqs, data := make([]int64, 0, n), make([]int64, 0, n), make([][]byte, 0, n)
	for i := range batch.Records {
		r := &batch.Records[i]
		t := wire.RecordTime(r.Data)
		if t.Before(cutoff) {
			ack.Expired++
			continue
		}
		ts, seqs, data = append(ts, t.UnixNano()), append(seqs, int64(r.Seq)), append(data, r.Data)
	}
	if len(ts) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), pgOpTimeout)
	defer cancel()
	var accepted int
	err := b.pool.QueryRow(ctx, `WITH ins AS (
		INSERT INTO apimcp_telemetry (ts, gateway, stream, seq, data)
		SELECT t, $2, $3, s, d FROM unnest($1::bigint[], $4::bigint[], $5::bytea[]) AS u(t, s, d)
		ON CONFLICT DO NOTHING RETURNING 1)
		SELECT count(*) FROM ins`, ts, gw, batch.Stream, seqs, data).Scan(&accepted)
	if err != nil {
		return err
	}
	ack.Accepted = accepted
	ack.Duplicates = len(ts) - accepted
	return nil
}

func (b *pgBackend) pruneTelemetry(cutoff time.Time) (int, error) {
	n := 0
	for {
		ctx, cancel := context.WithTimeout(context.Background(), pgOpTimeout)
		tag, err := b.pool.Exec(ctx, `DELETE FROM apimcp_telemetry WHERE ctid IN (
			SELECT ctid FROM apimcp_telemetry WHERE ts < $1 LIMIT 10000)`, cutoff.UnixNano())
		cancel()
		if err != nil {
			return n, err
		}
		n += int(tag.RowsAffected())
		if tag.RowsAffected() < 10000 {
			return n, nil
		}
	}
}

func (b *pgBackend) scanTelemetry(from, to time.Time, fn func(k, v []byte) bool) error {
	lo, hi := int64(0), int64(1<<63-1)
	if !from.IsZero() {
		lo = from.UnixNano()
	}
	if !to.IsZero() {
		hi = to.UnixNano()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rows, err := b.pool.Query(ctx, `SELECT ts, gateway, stream, seq, data FROM apimcp_telemetry
		WHERE ts >= $1 AND ts <= $2 ORDER BY ts, gateway, stream, seq`, lo, hi)
	if err != nil {
		return err
	}
	defer rows.Close()
	var (
		t, seq     int64
		gw, stream string
		data, key  []byte
	)
	for rows.Next() {
		if err := rows.Scan(&t, &gw, &stream, &seq, &data); err != nil {
			return err
		}
		key = appendTelemetryKey(key[:0], time.Unix(0, t), gw, stream, uint64(seq))
		if !fn(key, data) {
			return nil
		}
	}
	return rows.Err()
}
