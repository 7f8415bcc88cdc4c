package main

import (
	"context"
	"fmt"
	"log/slog"

	chdriver "github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/hibiken/asynq"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/ssosetup/ssosetup/tracing"

	"github.com/ssosetup/ssosetup/storage/clickhouse"
)

// deps are the clients a command opened; close releases them in reverse order of opening.
type deps struct {
	pool   *pgxpool.Pool
	ch     chdriver.Conn
	redis  asynq.RedisConnOpt
	rdb    redis.UniversalClient
	closer []func()
}

func (d *deps) close() {
	for i := len(d.closer) - 1; i >= 0; i-- {
		d.closer[i]()
	}
}

// openDeps opens Postgres, ClickHouse and Redis, failing with the name of the setting that is wrong.
func openDeps(ctx context.Context, cfg config, log *slog.Logger, pgConns int32) (*deps, error) {
	d := &deps{}
	var err error
	if d.pool, err = openPostgres(ctx, cfg, pgConns); err != nil {
		return nil, err
	}
	d.closer = append(d.closer, d.pool.Close)
	if d.ch, err = clickhouse.Open(ctx, cfg.ClickHouseURL); err != nil {
		d.close()
		return nil, settingError("CLICKHOUSE_URL", cfg.ClickHouseURL, err)
	}
	d.closer = append(d.closer, func() { d.ch.Close() })
	if d.redis, err = redisOpt(cfg); err != nil {
		d.close()
		return nil, err
	}
	d.rdb = d.redis.MakeRedisClient().(redis.UniversalClient)
	d.closer = append(d.closer, func() { d.rdb.Close() })
	if err := d.rdb.Ping(ctx).Err(); err != nil {
		d.close()
		return nil, settingError("REDIS_URL", cfg.RedisURL, err)
	}
	log.DebugContext(ctx, "connected", "postgres", maskURL(cfg.DatabaseURL), "clickhouse", maskURL(cfg.ClickHouseURL),
		"redis", maskURL(cfg.RedisURL))
	return d, nil
}

// redisOpt reads REDIS_URL (redis://, rediss://, redis-sentinel://) or REDIS_CLUSTER_ADDRS.
func redisOpt(cfg config) (asynq.RedisConnOpt, error) {
	if len(cfg.RedisClusterAddrs) > 0 {
		return tracing.Redis(asynq.RedisClusterClientOpt{Addrs: cfg.RedisClusterAddrs}), nil
	}
	opt, err := asynq.ParseRedisURI(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL %s: %s", maskURL(cfg.RedisURL), oneLine(err))
	}
	return tracing.Redis(opt), nil
}
