package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strings"
	"time"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// A migration is one versioned schema change: NNNN_name.sql in portable SQL,
// optionally followed by NNNN_name.postgres.sql or NNNN_name.sqlite.sql for
// what cannot be said portably (triggers, functions).
type migration struct {
	Version string
	SQL     string
}

// MigrationStatus is one row of `doorstep migrate status`.
type MigrationStatus struct {
	Version   string
	AppliedAt *time.Time
}

var sqliteRewrites = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\bBIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY\b`), "INTEGER PRIMARY KEY AUTOINCREMENT"},
	{regexp.MustCompile(`\bTIMESTAMPTZ\b`), "DATETIME"},
	{regexp.MustCompile(`\bJSONB\b`), "TEXT"},
	{regexp.MustCompile(`\bBYTEA\b`), "BLOB"},
	{regexp.MustCompile(`\bDOUBLE PRECISION\b`), "REAL"},
}

func (db *DB) migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	byVersion := map[string]*migration{}
	var order []string
	for _, e := range entries {
		name := e.Name()
		base := strings.TrimSuffix(name, ".sql")
		dialect := ""
		if i := strings.LastIndex(base, "."); i >= 0 {
			base, dialect = base[:i], base[i+1:]
		}
		if dialect != "" && dialect != db.dialect {
			continue
		}
		body, err := fs.ReadFile(migrationFS, "migrations/"+name)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		text := string(body)
		if dialect == "" && db.dialect == SQLite {
			for _, r := range sqliteRewrites {
				text = r.re.ReplaceAllString(text, r.with)
			}
		}
		m, ok := byVersion[base]
		if !ok {
			m = &migration{Version: base}
			byVersion[base] = m
			order = append(order, base)
		}
		if dialect == "" {
			m.SQL = text + "\n" + m.SQL
		} else {
			m.SQL += "\n" + text
		}
	}
	sort.Strings(order)
	out := make([]migration, 0, len(order))
	for _, v := range order {
		out = append(out, *byVersion[v])
	}
	return out, nil
}

const migrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    TEXT PRIMARY KEY,
    applied_at TIMESTAMPTZ NOT NULL
)`

// Migrate applies every pending migration in order, each in its own
// transaction, and returns the versions it applied. On Postgres an advisory
// lock keeps several instances starting at once from racing.
func (db *DB) Migrate(ctx context.Context) ([]string, error) {
	ms, err := db.migrations()
	if err != nil {
		return nil, err
	}
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	create := migrationsTable
	if db.dialect == SQLite {
		create = strings.Replace(create, "TIMESTAMPTZ", "DATETIME", 1)
	}
	if db.dialect == Postgres {
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(727600)`); err != nil {
			return nil, fmt.Errorf("migrate lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(727600)`)
	}
	if _, err := conn.ExecContext(ctx, create); err != nil {
		return nil, fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	applied := map[string]bool{}
	rows, err := conn.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read schema_migrations: %w", err)
		}
		applied[v] = true
	}
	rows.Close()
	var done []string
	for _, m := range ms {
		if applied[m.Version] {
			continue
		}
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return done, fmt.Errorf("migrate %s: %w", m.Version, err)
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			tx.Rollback()
			return done, fmt.Errorf("migrate %s: %w", m.Version, err)
		}
		if _, err := tx.ExecContext(ctx, db.rebind(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`), m.Version, Now()); err != nil {
			tx.Rollback()
			return done, fmt.Errorf("migrate %s: record: %w", m.Version, err)
		}
		if err := tx.Commit(); err != nil {
			return done, fmt.Errorf("migrate %s: commit: %w", m.Version, err)
		}
		done = append(done, m.Version)
	}
	return done, nil
}

func (db *DB) appliedVersions(ctx context.Context) (map[string]time.Time, error) {
	var rows []struct {
		Version   string
		AppliedAt time.Time
	}
	if err := db.gorm.WithContext(ctx).Raw(`SELECT version, applied_at FROM schema_migrations`).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	out := make(map[string]time.Time, len(rows))
	for _, r := range rows {
		out[r.Version] = r.AppliedAt
	}
	return out, nil
}

// MigrationStatus lists every known migration and when it was applied.
func (db *DB) MigrationStatus(ctx context.Context) ([]MigrationStatus, error) {
	ms, err := db.migrations()
	if err != nil {
		return nil, err
	}
	var exists bool
	if db.dialect == Postgres {
		err = db.gorm.WithContext(ctx).Raw(`SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists).Error
	} else {
		err = db.gorm.WithContext(ctx).Raw(`SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&exists).Error
	}
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	applied := map[string]time.Time{}
	if exists {
		if applied, err = db.appliedVersions(ctx); err != nil {
			return nil, err
		}
	}
	out := make([]MigrationStatus, 0, len(ms))
	for _, m := range ms {
		s := MigrationStatus{Version: m.Version}
		if at, ok := applied[m.Version]; ok {
			s.AppliedAt = &at
		}
		out = append(out, s)
	}
	return out, nil
}

// Pending counts migrations not yet applied; /readyz wants zero.
func (db *DB) Pending(ctx context.Context) (int, error) {
	st, err := db.MigrationStatus(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range st {
		if s.AppliedAt == nil {
			n++
		}
	}
	return n, nil
}

// rebind turns ? placeholders into $n for Postgres when using database/sql directly.
func (db *DB) rebind(q string) string {
	if db.dialect != Postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
