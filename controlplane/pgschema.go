package controlplane

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrSchemaNewer: the PostgreSQL database was migrated by a newer apimcp than
// this one; it refuses to start rather than write to a schema it does not know.
var ErrSchemaNewer = errors.New("controlplane: database schema is newer than this apimcp")

// pgMigrations are the schema versions, pgschema/NNNN_name.sql, applied in
// order, each once, forward only. A released file is never edited: a change
// is a new file.
//
//go:embed pgschema/*.sql
var pgMigrations embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations returns the embedded migrations in order; their numbers
// must run 1, 2, 3, ... without a gap.
func loadMigrations() ([]migration, error) {
	ents, err := fs.ReadDir(pgMigrations, "pgschema")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range ents {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("controlplane: migration file %q is not named NNNN_name.sql", e.Name())
		}
		b, err := pgMigrations.ReadFile("pgschema/" + e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("controlplane: migration %s: expected number %d", m.name, i+1)
		}
	}
	return out, nil
}

// schemaLockKey is the advisory lock every apimcp holds while it checks and
// migrates the schema, so two starting at once do not both migrate.
const schemaLockKey = 0x61706d6370 // "apmcp"

// migrate brings the database's schema to the newest embedded version and
// returns the version it has. A database newer than this binary is refused
// (ErrSchemaNewer) and left alone.
func migrate(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	ms, err := loadMigrations()
	if err != nil {
		return 0, err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(schemaLockKey)); err != nil {
		return 0, err
	}
	defer conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", int64(schemaLockKey))
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS apimcp_schema (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return 0, err
	}
	var have int
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM apimcp_schema").Scan(&have); err != nil {
		return 0, err
	}
	if have > len(ms) {
		return have, fmt.Errorf("%w: the database has schema version %d, this apimcp knows versions up to %d; run the newer apimcp (or restore a backup made before it ran)",
			ErrSchemaNewer, have, len(ms))
	}
	for _, m := range ms[have:] {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO apimcp_schema (version, name) VALUES ($1, $2)", m.version, m.name)
			return err
		})
		if err != nil {
			return have, fmt.Errorf("controlplane: migration %s: %w", m.name, err)
		}
		have = m.version
	}
	return have, nil
}
