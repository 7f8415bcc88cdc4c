// Package clickhouse is the eventstream store: the `events` table of SPEC §7.2 and batched inserts into it.
//
// The DDL and queries stay inside what both ClickHouse 18.16 (Debian's, used by the tests) and current
// ClickHouse (docker-compose) accept: no LowCardinality, DateTime64, Map, codecs or TTL, and batch inserts
// always name their columns.
package clickhouse

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// DefaultDialTimeout bounds connecting, so that a wrong CLICKHOUSE_URL fails fast instead of hanging.
const DefaultDialTimeout = 5 * time.Second

// Options parses a clickhouse:// URL into driver options with the product's timeouts.
func Options(url string) (*clickhouse.Options, error) {
	opts, err := clickhouse.ParseDSN(url)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if opts.Protocol != clickhouse.Native {
		return nil, fmt.Errorf("only the native protocol (clickhouse://host:9000/db) is supported")
	}
	if opts.DialTimeout == 0 || opts.DialTimeout == 30*time.Second { // 30 s is the driver's default
		opts.DialTimeout = DefaultDialTimeout
	}
	if opts.ReadTimeout == 0 || opts.ReadTimeout == 5*time.Minute {
		opts.ReadTimeout = 30 * time.Second
	}
	return opts, nil
}

// Open connects to the database named in url and checks that the server answers.
func Open(ctx context.Context, url string) (driver.Conn, error) {
	opts, err := Options(url)
	if err != nil {
		return nil, err
	}
	return open(ctx, opts)
}

func open(ctx context.Context, opts *clickhouse.Options) (driver.Conn, error) {
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, opts.DialTimeout+time.Second)
	defer cancel()
	if err := conn.Ping(pingCtx); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}
