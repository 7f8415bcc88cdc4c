// Package storage holds what the Postgres and ClickHouse stores share: sentinel errors that callers test
// with errors.Is. The stores themselves live in storage/postgres and storage/clickhouse.
package storage
