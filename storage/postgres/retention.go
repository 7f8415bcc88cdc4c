package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// retentionLock is the advisory lock key under which one worker at a time cleans up (SPEC §15): one per
// schema, since advisory locks are per database.
const retentionLock = `hashtextextended('ssosetup retention ' || current_schema(), 0)`

// retentionChunk bounds one deletion, so that cleanup never holds its locks for long.
const retentionChunk = 500

// Cleanup is what one run of the retention cleanup deleted.
type Cleanup struct {
	Setups, Batches int
}

// CleanUp deletes finished setups that finished more than retention ago, with their stages, signals,
// e-mails, webhook deliveries and idempotent actions (the audit log and the organizations' data stay), and
// finished batches none of whose jobs is left, in chunks. It runs at most once per interval across all
// workers: under an advisory lock, and only when the last run is older than interval. ran is false when
// another worker holds the lock or the last run is recent.
func (s *Store) CleanUp(ctx context.Context, retention, interval time.Duration) (c Cleanup, ran bool, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return c, false, err
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(`+retentionLock+`)`).Scan(&locked); err != nil || !locked {
		return c, false, err
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(`+retentionLock+`)`)
	}()
	var recent bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM maintenance_runs WHERE name = 'retention'
		AND finished_at > now() - make_interval(secs => $1))`, interval.Seconds()).Scan(&recent); err != nil || recent {
		return c, false, err
	}
	for {
		var n int
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `
				WITH old AS (
					SELECT id FROM setups WHERE status IN ('succeeded', 'failed', 'cancelled')
						AND finished_at < now() - make_interval(secs => $1)
					ORDER BY finished_at LIMIT $2 FOR UPDATE SKIP LOCKED
				), signals AS (
					DELETE FROM signals WHERE setup_id IN (SELECT id FROM old)
				), emails AS (
					DELETE FROM outbound_emails WHERE setup_id IN (SELECT id FROM old)
				), actions AS (
					DELETE FROM idempotent_actions WHERE target IN (SELECT id FROM old)
				), gone AS (
					DELETE FROM setups WHERE id IN (SELECT id FROM old) RETURNING 1
				)
				SELECT count(*) FROM gone`, retention.Seconds(), retentionChunk).Scan(&n)
		})
		if err != nil {
			return c, true, err
		}
		c.Setups += n
		if n < retentionChunk {
			break
		}
	}
	tag, err := conn.Exec(ctx, `
		DELETE FROM batches b WHERE finished_at < now() - make_interval(secs => $1)
			AND NOT EXISTS (SELECT 1 FROM setups s WHERE s.batch_id = b.id)`, retention.Seconds())
	if err != nil {
		return c, true, err
	}
	c.Batches = int(tag.RowsAffected())
	_, err = conn.Exec(ctx, `INSERT INTO maintenance_runs (name, finished_at) VALUES ('retention', now())
		ON CONFLICT (name) DO UPDATE SET finished_at = excluded.finished_at`)
	return c, true, err
}
