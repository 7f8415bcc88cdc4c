// Package storagetest gives each test its own isolated piece of the real services: a Postgres schema with
// the migrations applied, a ClickHouse database, and a Redis database index, all removed when the test ends.
// The services are found through TEST_DATABASE_URL, TEST_CLICKHOUSE_URL and TEST_REDIS_URL, which default to
// what `scripts/services.sh up` starts; `go test ./...` can therefore run packages in parallel.
package storagetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/url"
	"os"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ssosetup/ssosetup/storage/clickhouse"
	"github.com/ssosetup/ssosetup/storage/postgres"
)

// Default service addresses, matching scripts/services.sh.
const (
	DefaultDatabaseURL   = "postgres://ssosetup:ssosetup@127.0.0.1:5432/ssosetup_test?sslmode=disable"
	DefaultClickHouseURL = "clickhouse://127.0.0.1:9000/default"
	DefaultRedisURL      = "redis://127.0.0.1:6379/0"
)

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// uniqueName returns a lowercase identifier that no other test uses.
func uniqueName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// PostgresURL creates a fresh schema, applies the migrations to it, drops it when the test ends, and returns
// a URL whose connections use that schema.
func PostgresURL(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	base := envOr("TEST_DATABASE_URL", DefaultDatabaseURL)
	admin, err := postgres.Open(ctx, base, 2)
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL: %v (run `scripts/services.sh up`)", err)
	}
	defer admin.Close()
	schema := uniqueName("t_")
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		admin, err := postgres.Open(context.Background(), base, 1)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer admin.Close()
		if _, err := admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	pool, err := postgres.Open(ctx, u.String(), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := postgres.Migrate(ctx, pool); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return u.String()
}

// Postgres returns a pool on a fresh, migrated schema (see PostgresURL).
func Postgres(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := postgres.Open(context.Background(), PostgresURL(t), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// ClickHouseURL creates a fresh database with the events table, drops it when the test ends, and returns its
// URL.
func ClickHouseURL(t testing.TB) string {
	t.Helper()
	u, err := url.Parse(envOr("TEST_CLICKHOUSE_URL", DefaultClickHouseURL))
	if err != nil {
		t.Fatalf("TEST_CLICKHOUSE_URL: %v", err)
	}
	db := uniqueName("t_")
	u.Path = "/" + db
	if err := clickhouse.Migrate(context.Background(), u.String()); err != nil {
		t.Fatalf("TEST_CLICKHOUSE_URL: %v (run `scripts/services.sh up`)", err)
	}
	t.Cleanup(func() {
		u2 := *u
		u2.Path = "/default"
		conn, err := clickhouse.Open(context.Background(), u2.String())
		if err != nil {
			t.Errorf("drop database %s: %v", db, err)
			return
		}
		defer conn.Close()
		if err := conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db); err != nil {
			t.Errorf("drop database %s: %v", db, err)
		}
	})
	return u.String()
}

// ClickHouse returns a connection to a fresh database holding the events table (see ClickHouseURL).
func ClickHouse(t testing.TB) driver.Conn {
	t.Helper()
	conn, err := clickhouse.Open(context.Background(), ClickHouseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// Logger sends slog output to the test's log, so that it shows only for failing or verbose tests.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}
