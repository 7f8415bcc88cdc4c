package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ssosetup/ssosetup/storage/clickhouse"
	"github.com/ssosetup/ssosetup/storage/postgres"
)

// migrate applies both schemas; each error names the setting and its (masked) address.
func migrate(ctx context.Context, cfg config, log *slog.Logger) error {
	pool, err := openPostgres(ctx, cfg, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	n, err := postgres.Migrate(ctx, pool)
	if err != nil {
		return settingError("DATABASE_URL", cfg.DatabaseURL, err)
	}
	log.InfoContext(ctx, "postgres schema up to date", "applied", n)
	if err := clickhouse.Migrate(ctx, cfg.ClickHouseURL); err != nil {
		return settingError("CLICKHOUSE_URL", cfg.ClickHouseURL, err)
	}
	log.InfoContext(ctx, "clickhouse schema up to date")
	return nil
}

// settingError names the environment variable and its masked address in one line, so that an operator sees at
// once which setting to fix.
func settingError(name, url string, err error) error {
	return fmt.Errorf("%s %s: %s", name, maskURL(url), oneLine(err))
}

func openPostgres(ctx context.Context, cfg config, maxConns int32) (*pgxpool.Pool, error) {
	pool, err := postgres.Open(ctx, cfg.DatabaseURL, maxConns)
	if err != nil {
		return nil, settingError("DATABASE_URL", cfg.DatabaseURL, err)
	}
	return pool, nil
}
