// Package postgres is the Postgres store: the domain tables, the setup jobs' state and their embedded,
// versioned migrations.
package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ssosetup/ssosetup/tracing"
)

// DefaultConnectTimeout bounds how long opening a pool waits for the first connection, so that a wrong
// DATABASE_URL fails fast instead of hanging.
const DefaultConnectTimeout = 5 * time.Second

// Open parses url, opens a pool and checks that the server answers. maxConns is the pool's size unless url
// sets pool_max_conns itself; 0 keeps pgx's default.
func Open(ctx context.Context, url string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	if maxConns > 0 && !strings.Contains(url, "pool_max_conns=") {
		cfg.MaxConns = maxConns
	}
	if tracing.Enabled() {
		// A span per statement beneath a job's spans (SPEC §13); none when tracing is off.
		// Statement spans without the pool's acquire spans, the statements' text (the span's name has its
		// start) or connection details: a job makes about sixty of them, and their size is what an export costs.
		cfg.ConnConfig.Tracer = otelpgx.NewTracer(otelpgx.WithTracerProvider(tracing.ParentOnly()),
			otelpgx.WithDisableAcquireTracer(), otelpgx.WithDisableSQLStatementInAttributes(),
			otelpgx.WithDisableConnectionDetailsInAttributes())
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, cfg.ConnConfig.ConnectTimeout+time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}
