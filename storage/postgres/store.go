package postgres

import (
	"context"
	"errors"

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

// isUniqueViolation reports a unique-constraint conflict (SQLSTATE 23505), optionally of one constraint.
func isUniqueViolation(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && (constraint == "" || pgErr.ConstraintName == constraint)
}

// inTwoTrips runs a transaction in two round trips: BEGIN and the statements read queues, then the
// statements write queues (it may use what read's callbacks scanned) and COMMIT. write returning an error,
// or any statement failing, rolls the transaction back.
func (s *Store) inTwoTrips(ctx context.Context, read func(*pgx.Batch), write func(*pgx.Batch) error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	batch := &pgx.Batch{}
	batch.Queue("BEGIN")
	read(batch)
	if err := conn.SendBatch(ctx, batch).Close(); err != nil {
		rollback(ctx, conn)
		return err
	}
	batch = &pgx.Batch{}
	if err := write(batch); err != nil {
		rollback(ctx, conn)
		return err
	}
	batch.Queue("COMMIT")
	if err := conn.SendBatch(ctx, batch).Close(); err != nil {
		rollback(ctx, conn)
		return err
	}
	return nil
}
