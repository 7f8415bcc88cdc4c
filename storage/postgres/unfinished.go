package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ssosetup/ssosetup"
)

// AnyRun ends a job whatever its current run (the web tier's cancel); a task's end names its own run.
const AnyRun = -1

// FailJob fails an unfinished job in run with internal_error outside any stage (a stage of that run ran out
// of retries). It returns the job's flow and whether the job was changed; a job retried since is left alone.
func (s *Store) FailJob(ctx context.Context, id uuid.UUID, run int) (flow string, changed bool, err error) {
	return s.endJob(ctx, id, run, ssosetup.StatusFailed, ssosetup.CodeInternal)
}

// CancelJob cancels an unfinished job in run (AnyRun for any): it stops at its next stage boundary. The end
// takes the job's row lock, which a running stage holds until it commits, so a stage either committed before
// (it stays done) or finds the job finished and does nothing. It returns the job's flow and whether the job
// was changed; a finished job is left as it is.
func (s *Store) CancelJob(ctx context.Context, id uuid.UUID, run int) (flow string, changed bool, err error) {
	return s.endJob(ctx, id, run, ssosetup.StatusCancelled, ssosetup.CodeCancelled)
}

// endJob ends an unfinished job with status and code, scrubs its stored request as every finished job's
// is, compensates for a cleared require_2fa (compensate2FASQL) and announces the end (finishedSQL), all in
// one transaction.
func (s *Store) endJob(ctx context.Context, id uuid.UUID, run int, status, code string) (flow string, changed bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var raw []byte
		err := tx.QueryRow(ctx, `SELECT flow, request FROM setups WHERE id = $1 AND status IN ('queued', 'running')
			AND ($2 < 0 OR retries = $2) FOR UPDATE`, id, run).Scan(&flow, &raw)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		var req ssosetup.Request
		if err := json.Unmarshal(raw, &req); err != nil {
			return fmt.Errorf("decode stored request of setup %s: %w", id, err)
		}
		if raw, err = json.Marshal(req.Scrubbed()); err != nil {
			return err
		}
		b := &pgx.Batch{}
		b.Queue(`
			UPDATE setups SET status = $2, error_code = $3, error_message = $4, request = $5,
				cancel_requested = cancel_requested OR $2 = 'cancelled', finished_at = now(), updated_at = now()
			WHERE id = $1`, id, status, code, ssosetup.Message(code), raw)
		b.Queue(compensate2FASQL, id)
		s.queueFinished(b, id)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		changed = true
		return nil
	})
	return flow, changed, err
}
