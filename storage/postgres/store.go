package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ssosetup/ssosetup/storage"
)

// Store is the Postgres store. Each exported method owns its transaction.
type Store struct {
	pool *pgxpool.Pool
}

// NewStore returns a store on pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Pool returns the store's pool, for health checks and tests.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// querier is what stage code needs of a transaction: a pgx.Tx, or a pooled connection inside a transaction
// the stage runner opened itself.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// translate maps driver errors to storage's sentinels at the boundary.
func translate(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.ErrNotFound
	}
	return err
}

// pipelinedTx runs a transaction with BEGIN and COMMIT riding on the first and last round trips: BEGIN
// travels with the statements read queues; then work (which may use what read's callbacks scanned) may run
// statements of its own through q, and queues on last what travels with COMMIT. work returning an error,
// or any statement failing, rolls the transaction back. Without statements of work's own, that is two round
// trips where pgx.BeginFunc takes four plus one per statement.
func (s *Store) pipelinedTx(ctx context.Context, read func(*pgx.Batch), work func(q querier, last *pgx.Batch) error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	committed := false
	defer func() {
		if !committed {
			rollback(ctx, conn)
		}
	}()
	batch := &pgx.Batch{}
	batch.Queue("BEGIN")
	read(batch)
	if err := conn.SendBatch(ctx, batch).Close(); err != nil {
		return err
	}
	batch = &pgx.Batch{}
	if err := work(conn, batch); err != nil {
		return err
	}
	batch.Queue("COMMIT")
	if err := conn.SendBatch(ctx, batch).Close(); err != nil {
		return err
	}
	committed = true
	return nil
}

// rollback ends a transaction that could not commit; a connection that cannot even roll back is closed, so
// that the pool never hands out a connection inside a transaction.
func rollback(ctx context.Context, conn *pgxpool.Conn) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
		_ = conn.Conn().Close(ctx)
	}
}
