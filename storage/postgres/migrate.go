package postgres

import (
	"context"
	"embed"
	"fmt"
	"hash/crc64"
	"io/fs"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate applies every pending migration to the pool's current schema and returns how many it applied.
//
// goose was chosen over a hand-made runner (and over tern) because it embeds SQL files, records versions in
// its own table, and serializes concurrent runs with a session advisory lock: several replicas may run
// `ssosetup migrate` on start at once. The lock id is derived from the schema so that tests, which migrate a
// schema each, do not queue behind one another.
func Migrate(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	var schema string
	if err := pool.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return 0, fmt.Errorf("read current schema: %w", err)
	}
	locker, err := lock.NewPostgresSessionLocker(
		lock.WithLockID(int64(crc64.Checksum([]byte("ssosetup-migrate:"+schema), crc64.MakeTable(crc64.ECMA))>>1)),
		lock.WithLockTimeout(1, 300), // poll every second, give up after five minutes
	)
	if err != nil {
		return 0, err
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return 0, err
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, db, sub, goose.WithSessionLocker(locker))
	if err != nil {
		return 0, err
	}
	results, err := provider.Up(ctx)
	if err != nil {
		return 0, fmt.Errorf("apply migrations: %w", err)
	}
	return len(results), nil
}
