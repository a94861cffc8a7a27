// Package dbtest gives tests real databases: a fresh embedded SQLite and a
// fresh PostgreSQL database per test, created from a migrated template made
// once per test package and dropped by Main.
//
// Postgres is found at DOORSTEP_TEST_POSTGRES_URL, or else at
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable. When it cannot
// be reached the Postgres variants skip with a loud message, unless
// DOORSTEP_TEST_REQUIRE_POSTGRES=1, when they fail.
package dbtest

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/doorstep-dev/doorstep/server/store"
)

const defaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// AdminURL is the server URL tests connect to for creating databases.
func AdminURL() string {
	if u := os.Getenv("DOORSTEP_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return defaultURL
}

// RequirePostgres reports whether Postgres tests must fail rather than skip.
func RequirePostgres() bool { return os.Getenv("DOORSTEP_TEST_REQUIRE_POSTGRES") == "1" }

var (
	tmplOnce sync.Once
	tmplName string
	tmplErr  error
	mu       sync.Mutex
	created  []string
)

// Main wraps testing.M.Run for packages that use Postgres: it drops the
// package's template database afterwards. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if tmplName != "" {
		if admin, err := sql.Open("pgx", AdminURL()); err == nil {
			dropDB(admin, tmplName)
			admin.Close()
		}
	}
	os.Exit(code)
}

// Dialects runs fn once on SQLite and once on Postgres, as subtests.
func Dialects(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, NewSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, NewPostgres(t)) })
}

// NewSQLite opens a migrated embedded database in a temporary directory.
func NewSQLite(t testing.TB) *store.DB {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(context.Background(), store.Config{DataDir: dir})
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate sqlite: %v", err)
	}
	return db
}

// NewPostgres opens a fresh migrated Postgres database for this test.
func NewPostgres(t testing.TB) *store.DB {
	t.Helper()
	u := NewPostgresURL(t)
	db, err := store.Open(context.Background(), store.Config{URL: u, MaxOpenConns: 10})
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// NewPostgresURL creates a fresh migrated database and returns its URL; the
// database is dropped when the test ends. Tests that start server processes
// use it to hand them the URL.
func NewPostgresURL(t testing.TB) string {
	t.Helper()
	admin, err := sql.Open("pgx", AdminURL())
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = admin.PingContext(ctx)
		cancel()
	}
	if err != nil {
		msg := fmt.Sprintf("\n!!! PostgreSQL is not reachable at %s: %v\n!!! Postgres variants of the tests are NOT running. Set DOORSTEP_TEST_POSTGRES_URL, or DOORSTEP_TEST_REQUIRE_POSTGRES=1 to make this fatal.\n", redact(AdminURL()), err)
		if RequirePostgres() {
			t.Fatal(msg)
		}
		fmt.Fprint(os.Stderr, msg)
		t.Skip(msg)
	}
	t.Cleanup(func() { admin.Close() })
	tmplOnce.Do(func() { tmplName, tmplErr = makeTemplate(admin) })
	if tmplErr != nil {
		t.Fatalf("postgres template: %v", tmplErr)
	}
	name := fmt.Sprintf("doorstep_t_%d_%d", os.Getpid(), time.Now().UnixNano())
	mu.Lock() // CREATE DATABASE ... TEMPLATE needs the template to have no other sessions
	_, err = admin.Exec(`CREATE DATABASE ` + name + ` TEMPLATE ` + tmplName)
	mu.Unlock()
	if err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() { dropDB(admin, name) })
	return withDatabase(AdminURL(), name)
}

func makeTemplate(admin *sql.DB) (string, error) {
	name := fmt.Sprintf("doorstep_tmpl_%d_%d", os.Getpid(), time.Now().UnixNano())
	if _, err := admin.Exec(`CREATE DATABASE ` + name); err != nil {
		return "", err
	}
	db, err := store.Open(context.Background(), store.Config{URL: withDatabase(AdminURL(), name), MaxOpenConns: 2})
	if err != nil {
		return "", err
	}
	_, err = db.Migrate(context.Background())
	db.Close()
	if err != nil {
		dropDB(admin, name)
		return "", err
	}
	return name, nil
}

func dropDB(admin *sql.DB, name string) {
	admin.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`)
}

func withDatabase(raw, name string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Path = "/" + name
	return u.String()
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return strings.Replace(u.Redacted(), "xxxxx", "***", 1)
}
