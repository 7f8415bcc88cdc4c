package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/ssosetup/ssosetup"
)

// quickSkip is a stage that often has nothing to do, with the SQL that tells (a predicate on the job's row,
// alias s) and the detail it then records (an SQL expression). Each must agree with what the stage's full run
// would find and record; TestQuickSkipsAgreeWithFullRuns holds them to it.
type quickSkip struct {
	when, detail string
}

// pendingDuplicateInvite holds when the org has an unexpired pending invite for the acting user's e-mail:
// accept_invite must then remove it.
const pendingDuplicateInvite = `EXISTS (SELECT 1 FROM organization_members m JOIN users u ON u.id = s.user_id
	WHERE m.organization_id = s.organization_id AND m.user_id IS NULL AND lower(m.email) = lower(u.email)
		AND (m.token_expires_at IS NULL OR m.token_expires_at > now()))`

// quickSkips are offered for the stages most jobs skip. new_membership is not among them: it has work for most
// links, where trying first would cost a statement for nothing.
var quickSkips = map[string]quickSkip{
	ssosetup.StageDisable2FA: {
		when: `s.flow = 'link'
			OR NOT coalesce((SELECT o.require_2fa FROM organizations o WHERE o.id = s.organization_id), false)`,
		detail: `CASE WHEN s.flow = 'link' THEN 'link flow' ELSE 'require_2fa was not set' END`,
	},
	ssosetup.StageAcceptInvite: {
		when:   `s.invite_member_id IS NULL AND NOT (coalesce(s.was_member, false) AND ` + pendingDuplicateInvite + `)`,
		detail: `CASE WHEN coalesce(s.was_member, false) THEN 'no duplicate invite' ELSE 'no invite' END`,
	},
}

// QuickSkip records stage as skipped in one statement, without the stage's transaction, when the job has
// nothing to do there. It reports false when that does not hold, or the stage is already recorded, or the job
// is not running: the caller then runs the stage in full, which deals with each of those. A skip writes
// nothing but its record, so it needs no lock: the record's primary key decides between concurrent runs.
func (s *Store) QuickSkip(ctx context.Context, stage string, run Run) (Outcome, bool, error) {
	var out Outcome
	q, ok := quickSkips[stage]
	if !ok {
		return out, false, nil
	}
	err := s.pool.QueryRow(ctx, `
		WITH job AS (
			SELECT s.id, s.flow, s.queue, coalesce(s.organization_id, 0) AS organization_id, (`+q.detail+`) AS detail
			FROM setups s WHERE s.id = $1 AND s.status = 'running' AND (`+q.when+`)
		), rec AS (
			INSERT INTO setup_stages (setup_id, stage, status, attempts, detail, started_at)
			SELECT id, $2, 'skipped', $3, detail, $4 FROM job
			ON CONFLICT (setup_id, stage) DO NOTHING RETURNING setup_id
		), moved AS (
			UPDATE setups SET stage = $5, updated_at = now() WHERE id = (SELECT setup_id FROM rec)
		)
		SELECT job.flow, job.queue, job.organization_id, job.detail FROM job JOIN rec ON rec.setup_id = job.id`,
		run.SetupID, stage, run.Attempt, run.StartedAt, ssosetup.NextStage(stage)).
		Scan(&out.Job.Flow, &out.Job.Queue, &out.Job.OrganizationID, &out.Detail)
	if errors.Is(err, pgx.ErrNoRows) {
		return out, false, nil
	}
	if err != nil {
		return out, false, err
	}
	out.Job.ID, out.Status = run.SetupID, ssosetup.StageSkipped
	return out, true, nil
}
