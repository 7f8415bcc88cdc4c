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

// FailJob fails an unfinished job with internal_error outside any stage (its retries ran out). It returns
// the job's flow and whether the job was changed. Off the hot path: a transaction of its own.
func (s *Store) FailJob(ctx context.Context, id uuid.UUID) (flow string, changed bool, err error) {
	return s.endJob(ctx, id, ssosetup.StatusFailed, ssosetup.CodeInternal)
}

// CancelJob cancels an unfinished job (an operator archived its task, SPEC §4): it stops at its next stage
// boundary, since every stage's frame finds it no longer running. A stage that committed stays done. It
// returns the job's flow and whether the job was changed; a finished job is left as it is.
func (s *Store) CancelJob(ctx context.Context, id uuid.UUID) (flow string, changed bool, err error) {
	return s.endJob(ctx, id, ssosetup.StatusCancelled, ssosetup.CodeCancelled)
}

// endJob ends an unfinished job with status and code, scrubs its stored request as every finished job's
// is, and compensates for a cleared require_2fa (compensate2FA), all in one transaction.
func (s *Store) endJob(ctx context.Context, id uuid.UUID, status, code string) (flow string, changed bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var raw []byte
		err := tx.QueryRow(ctx, `SELECT flow, request FROM setups WHERE id = $1 AND status IN ('queued', 'running') FOR UPDATE`,
			id).Scan(&flow, &raw)
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
		_, err = tx.Exec(ctx, `
			UPDATE setups SET status = $2, error_code = $3, error_message = $4, request = $5,
				cancel_requested = cancel_requested OR $2 = 'cancelled', finished_at = now(), updated_at = now()
			WHERE id = $1`, id, status, code, ssosetup.Message(code), raw)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, compensate2FASQL, id); err != nil {
			return err
		}
		changed = true
		return nil
	})
	return flow, changed, err
}

// compensate2FASQL is SPEC §2's 2FA compensation for job $1, which has just ended failed or cancelled: when
// its disable_2fa cleared require_2fa and the organization has no auth provider (the setup did not get as far
// as SSO), require_2fa is set back and audited, so that the organization is never left with neither. It
// does nothing for a job that is still running, that never cleared require_2fa, or that was compensated
// already (require_2fa is set again, and the audit entry is unique per setup, run and step).
const compensate2FASQL = `
	WITH j AS (
		SELECT s.id, s.organization_id, s.user_id, s.retries, s.request->>'ip_address' AS ip FROM setups s
		WHERE s.id = $1 AND s.status IN ('failed', 'cancelled')
			AND EXISTS (SELECT 1 FROM setup_stages st WHERE st.setup_id = s.id AND st.stage = 'disable_2fa' AND st.status = 'done')
	), org AS (
		UPDATE organizations o SET require_2fa = true FROM j
		WHERE o.id = j.organization_id AND NOT o.require_2fa
			AND NOT EXISTS (SELECT 1 FROM auth_providers p WHERE p.organization_id = o.id)
		RETURNING o.id
	)
	INSERT INTO audit_log_entries (organization_id, setup_id, event, actor_user_id, actor_label, target_object_id,
		ip_address, data, run, step)
	SELECT org.id, j.id, 'org.edit', j.user_id, coalesce((SELECT username FROM users WHERE id = j.user_id), ''),
		org.id, j.ip, '{"require_2fa": "to True when SSO setup did not complete"}', j.retries, 'compensation'
	FROM org, j
	ON CONFLICT (setup_id, run, step, event) WHERE setup_id IS NOT NULL DO NOTHING`
