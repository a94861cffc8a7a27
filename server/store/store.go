// Package store is the one package that talks to the database. It opens
// PostgreSQL or the embedded SQLite through gorm, applies the versioned
// migrations, runs transactions with bounded retry, and holds the queries on
// household data, each of which takes the acting user's scope.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Dialects.
const (
	Postgres = "postgres"
	SQLite   = "sqlite"
)

// Config says where the database is.
type Config struct {
	// URL is a postgres:// URL. Empty selects the embedded SQLite in DataDir.
	URL string
	// DataDir holds doorstep.db when URL is empty.
	DataDir string
	// MaxOpenConns caps the Postgres pool (default 20).
	MaxOpenConns int
}

// DB is an open database.
type DB struct {
	gorm    *gorm.DB
	sql     *sql.DB
	dialect string
}

// Open connects and configures the pool. It does not migrate.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	gcfg := &gorm.Config{
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true,
		PrepareStmt:            false,
		NowFunc:                Now,
		TranslateError:         false,
	}
	var (
		dialect string
		gdb     *gorm.DB
		err     error
	)
	if cfg.URL == "" {
		dialect = SQLite
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("create data dir: %w", err)
		}
		gdb, err = gorm.Open(sqlite.Open(sqliteDSN(filepath.Join(cfg.DataDir, "doorstep.db"))), gcfg)
	} else {
		if !strings.HasPrefix(cfg.URL, "postgres://") && !strings.HasPrefix(cfg.URL, "postgresql://") {
			return nil, errors.New("database URL must start with postgres://")
		}
		dialect = Postgres
		gdb, err = gorm.Open(postgres.Open(cfg.URL), gcfg)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dialect, err)
	}
	sqlDB, err := gdb.DB()
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dialect, err)
	}
	if dialect == SQLite {
		// One connection: SQLite allows one writer, and a single connection
		// turns contention into queueing in Go instead of "database is locked".
		sqlDB.SetMaxOpenConns(1)
		sqlDB.SetMaxIdleConns(1)
		sqlDB.SetConnMaxLifetime(0)
	} else {
		n := cfg.MaxOpenConns
		if n <= 0 {
			n = 20
		}
		sqlDB.SetMaxOpenConns(n)
		sqlDB.SetMaxIdleConns(n)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(pingCtx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("ping %s: %w", dialect, err)
	}
	return &DB{gorm: gdb, sql: sqlDB, dialect: dialect}, nil
}

func sqliteDSN(path string) string {
	return "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)" +
		"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
}

// Dialect is Postgres or SQLite.
func (db *DB) Dialect() string { return db.dialect }

// SQL exposes the pool for metrics and health checks.
func (db *DB) SQL() *sql.DB { return db.sql }

// Close closes the pool.
func (db *DB) Close() error { return db.sql.Close() }

// Ping checks the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.sql.PingContext(ctx) }

// RefreshStatistics runs ANALYZE on tables a bulk load has just filled, so
// the planner stops treating them as empty before autovacuum gets to them.
// Until then Postgres can plan even a primary-key probe, such as the
// foreign-key check on every pushed visit, as a scan of the whole branch. On
// SQLite it does nothing: its planner needs no statistics for these queries.
func (db *DB) RefreshStatistics(ctx context.Context, tables ...string) error {
	if db.dialect != Postgres || len(tables) == 0 {
		return nil
	}
	if err := db.gorm.WithContext(ctx).Exec("ANALYZE " + strings.Join(tables, ", ")).Error; err != nil {
		return fmt.Errorf("analyze %s: %w", strings.Join(tables, ", "), err)
	}
	return nil
}

// Gorm returns a session bound to ctx, for read-only queries outside a transaction.
func (db *DB) Gorm(ctx context.Context) *gorm.DB { return db.gorm.WithContext(ctx) }

// Tx is an open transaction.
type Tx struct {
	*gorm.DB
	db      *DB
	changes []pendingChange
	after   []func()
}

// Dialect of the database the transaction runs on.
func (tx *Tx) Dialect() string { return tx.db.dialect }

// AfterCommit registers fn to run once the transaction has committed.
func (tx *Tx) AfterCommit(fn func()) { tx.after = append(tx.after, fn) }

const maxTxAttempts = 5

// Transact runs fn in a transaction, rolling back on error or panic. Postgres
// serialization failures and deadlocks are retried a bounded number of times,
// so fn must be safe to run again.
func (db *DB) Transact(ctx context.Context, fn func(tx *Tx) error) error {
	var err error
	for attempt := 1; attempt <= maxTxAttempts; attempt++ {
		var tx *Tx
		err = db.gorm.WithContext(ctx).Transaction(func(g *gorm.DB) error {
			tx = &Tx{DB: g, db: db}
			if err := fn(tx); err != nil {
				return err
			}
			return tx.flushChanges()
		})
		if err == nil {
			for _, f := range tx.after {
				f()
			}
			return nil
		}
		if !retryable(err) || ctx.Err() != nil {
			return err
		}
		time.Sleep(time.Duration(attempt*attempt)*10*time.Millisecond + time.Duration(rand.IntN(10))*time.Millisecond)
	}
	return fmt.Errorf("transaction gave up after %d attempts: %w", maxTxAttempts, err)
}

func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "40001" || pgErr.Code == "40P01"
	}
	return strings.Contains(err.Error(), "SQLITE_BUSY")
}

// IsUniqueViolation reports whether err is a unique-constraint violation.
func IsUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// Now is the database clock: UTC, truncated to microseconds so that values
// round-trip through both dialects unchanged.
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// NewID returns a new time-ordered UUID (v7) for server-created rows.
func NewID() string { return uuid.Must(uuid.NewV7()).String() }

// ErrNotFound is returned when a row does not exist or is outside the actor's scope.
var ErrNotFound = errors.New("not found")
