package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ssosetup/ssosetup"
)

// Store is the Postgres store. Each exported method owns its transaction.
type Store struct {
	pool        *pgxpool.Pool
	webhookURLs []string
}

// NewStore returns a store on pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool, webhookURLs: []string{}} }

// SetWebhookURLs names the receivers every finished job and batch is announced to (SPEC §11); set it before
// the store is used.
func (s *Store) SetWebhookURLs(urls []string) { s.webhookURLs = append([]string{}, urls...) }

// Pool returns the store's pool, for health checks and tests.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// querier is what stage code needs of a transaction: a pgx.Tx, or a pooled connection inside a transaction
// the stage runner opened itself.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// translate maps driver errors to the domain's sentinels at the boundary.
func translate(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return ssosetup.ErrNotFound
	}
	return err
}
