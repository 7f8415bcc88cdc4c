package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/redact"
)

// CancelSetup is the web tier's cancel (SPEC §10): the job stops at its next stage boundary (CancelJob) and
// its status document is returned. Cancelling a cancelled job changes nothing; a succeeded or failed one is
// a *ssosetup.ConflictError.
func (s *Store) CancelSetup(ctx context.Context, id uuid.UUID) (ssosetup.SetupStatus, error) {
	if _, _, err := s.CancelJob(ctx, id, AnyRun); err != nil {
		return ssosetup.SetupStatus{}, err
	}
	st, err := s.SetupStatus(ctx, id)
	if err == nil && st.Status != ssosetup.StatusCancelled && ssosetup.IsFinished(st.Status) {
		return st, &ssosetup.ConflictError{Message: fmt.Sprintf(
			"setup %s already %s; only a queued or running setup can be cancelled", id, st.Status)}
	}
	return st, err
}

// Retried is where a retried job goes on: the stage to enqueue, for the job's new run, on its queue.
type Retried struct {
	Stage       string
	Run         int
	Queue       string
	Traceparent string // the job's trace, which its new run continues
}

// RetrySetup makes a failed or cancelled job queued again, to be re-driven from the stage where it stopped
// (SPEC §10): stages recorded done or skipped stay, the failed stage runs again in the new run and its
// record is replaced then. When the job's end gave require_2fa back (2FA compensation), disable_2fa runs
// again too. The caller enqueues the returned stage. Under the job's row lock, so a retry is safe against
// a concurrent cancel, retry or late stage run.
//
// With an idempotency key, a repeat returns where the job is without retrying it again. A job that is not
// finished, or succeeded, is a *ssosetup.ConflictError; so is one whose remaining stages need values its
// end scrubbed from its stored request (SPEC §4), which must be submitted again instead.
func (s *Store) RetrySetup(ctx context.Context, id uuid.UUID, key string) (Retried, error) {
	var r Retried
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		repeat, err := claimAction(ctx, tx, key, "retry", id)
		if err != nil {
			return err
		}
		var status, flow string
		var raw []byte
		var compensated bool
		// The lock is a statement of its own, so that the read after it sees what a cancel or stage that held
		// the lock before committed (its compensation entry, its record).
		if err := tx.QueryRow(ctx, `SELECT 1 FROM setups WHERE id = $1 FOR UPDATE`, id).Scan(new(int)); err != nil {
			return translate(err)
		}
		err = tx.QueryRow(ctx, `
			SELECT status, stage, flow, queue, retries, request, coalesce(traceparent, ''),
				EXISTS (SELECT 1 FROM audit_log_entries a
					WHERE a.setup_id = s.id AND a.run = s.retries AND a.step = 'compensation')
			FROM setups s WHERE id = $1`, id).
			Scan(&status, &r.Stage, &flow, &r.Queue, &r.Run, &raw, &r.Traceparent, &compensated)
		if err != nil {
			return translate(err)
		}
		if repeat {
			if ssosetup.IsFinished(status) {
				r.Stage = "" // the earlier retry's run has finished already: nothing to enqueue
			}
			return nil
		}
		if status != ssosetup.StatusFailed && status != ssosetup.StatusCancelled {
			return &ssosetup.ConflictError{Message: fmt.Sprintf(
				"setup %s is %s; only a failed or cancelled setup can be retried", id, status)}
		}
		rows, err := tx.Query(ctx, `SELECT stage FROM setup_stages WHERE setup_id = $1 AND status <> 'failed'`, id)
		if err != nil {
			return err
		}
		done, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		var req ssosetup.Request
		if err := json.Unmarshal(raw, &req); err != nil {
			return fmt.Errorf("decode stored request of setup %s: %w", id, err)
		}
		if missing := scrubbedButNeeded(req, flow, done); len(missing) > 0 {
			return &ssosetup.ConflictError{Message: fmt.Sprintf("setup %s cannot be retried: its remaining stages "+
				"need %v, which were scrubbed from its stored request when it ended; submit a new setup", id, missing)}
		}
		b := &pgx.Batch{}
		if compensated && slices.Index(ssosetup.Stages, ssosetup.StageDisable2FA) < slices.Index(ssosetup.Stages, r.Stage) {
			// require_2fa was given back: disable_2fa must clear it again before the provider is created.
			b.Queue(`DELETE FROM setup_stages WHERE setup_id = $1 AND stage = $2`, id, ssosetup.StageDisable2FA)
			r.Stage = ssosetup.StageDisable2FA
		}
		r.Run++
		b.Queue(`
			UPDATE setups SET status = 'queued', stage = $2, retries = $3, error_code = NULL, error_message = NULL,
				result = NULL, finished_at = NULL, cancel_requested = false, updated_at = now()
			WHERE id = $1`, id, r.Stage, r.Run)
		b.Queue(`UPDATE batches SET unfinished = unfinished + 1, finished_at = NULL
			WHERE id = (SELECT batch_id FROM setups WHERE id = $1)`, id)
		return tx.SendBatch(ctx, b).Close()
	})
	return r, err
}

// scrubbedButNeeded names the parts of a finished job's request that its end scrubbed and a stage it has
// not done yet would read: attach_identity reads the provider's config (setup) and the identity's data,
// new_membership the invite's token.
func scrubbedButNeeded(req ssosetup.Request, flow string, done []string) []string {
	var missing []string
	if !slices.Contains(done, ssosetup.StageAttachIdentity) {
		if flow == ssosetup.FlowSetup && req.Provider != nil && redact.HasSecretKeys(req.Provider.Config) {
			missing = append(missing, "provider.config")
		}
		if redact.HasSecretKeys(req.Identity.Data) {
			missing = append(missing, "identity.data")
		}
	}
	if !slices.Contains(done, ssosetup.StageNewMembership) && req.Invite != nil && req.Invite.Token == redact.Placeholder {
		missing = append(missing, "invite.token")
	}
	return missing
}

// claimAction records an action's idempotency key in tx; repeat means the key was used before for the same
// action on the same target. Another action or target is ssosetup.ErrIdempotencyConflict. No key claims
// nothing.
func claimAction(ctx context.Context, tx pgx.Tx, key, action string, target uuid.UUID) (repeat bool, err error) {
	if key == "" {
		return false, nil
	}
	var gotAction string
	var gotTarget uuid.UUID
	err = tx.QueryRow(ctx, `
		WITH ins AS (
			INSERT INTO idempotent_actions (idempotency_key, action, target) VALUES ($1, $2, $3)
			ON CONFLICT (idempotency_key) DO NOTHING RETURNING action, target
		)
		SELECT action, target, false FROM ins
		UNION ALL
		SELECT action, target, true FROM idempotent_actions WHERE idempotency_key = $1 AND NOT EXISTS (SELECT 1 FROM ins)`,
		key, action, target).Scan(&gotAction, &gotTarget, &repeat)
	if errors.Is(err, pgx.ErrNoRows) {
		// Taken by a concurrent request that committed after this statement's snapshot was taken.
		return false, &ssosetup.ConflictError{Message: "a request with this Idempotency-Key is in progress; try again"}
	}
	if err != nil {
		return false, err
	}
	if repeat && (gotAction != action || gotTarget != target) {
		return false, ssosetup.ErrIdempotencyConflict
	}
	return repeat, nil
}
