package postgres

import (
	"context"

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
	q, ok := quickSkips[stage]
	if !ok {
		return Outcome{}, false, nil
	}
	out, res, err := s.recordAlone(ctx, stage, ssosetup.StageSkipped, run, q.when, q.detail)
	return out, res == recorded, err
}
