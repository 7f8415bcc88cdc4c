package postgres

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Email is one recorded outbound e-mail.
type Email struct {
	ID       int64
	MemberID int64
	To       string
	Subject  string
	Body     string
}

// MissingLinkEmails is the request to e-mail every member of an organization who has not linked SSO yet.
type MissingLinkEmails struct {
	SetupID        uuid.UUID
	OrganizationID int64
	ActorUserID    int64
	Provider       string
	BaseURL        string
}

// RecordMissingLinkEmails writes one "Action Required" e-mail per member of the organization without
// sso_linked (pending invites included), exactly once per setup and member, and returns those of the setup
// still to send: not sent, and not refused for good. ssosetup.ErrNotFound when the actor or the organization
// is gone.
func (s *Store) RecordMissingLinkEmails(ctx context.Context, req MissingLinkEmails) ([]Email, error) {
	var out []Email
	var actorEmail, orgName, slug string
	err := s.pipelinedTx(ctx, func(b *pgx.Batch) {
		b.Queue(`SELECT u.email, o.name, o.slug FROM users u, organizations o WHERE u.id = $1 AND o.id = $2`,
			req.ActorUserID, req.OrganizationID).QueryRow(func(row pgx.Row) error {
			return translate(row.Scan(&actorEmail, &orgName, &slug))
		})
	}, func(_ querier, b *pgx.Batch) error {
		subject := "Action Required for " + orgName
		body := fmt.Sprintf("%s has configured %s single sign-on for %s.\n\n"+
			"Link your account to keep access to the organization:\n%s/auth/login/%s/\n",
			actorEmail, req.Provider, orgName, req.BaseURL, slug)
		b.Queue(`
			INSERT INTO outbound_emails (setup_id, organization_id, member_id, to_address, subject, body)
			SELECT $1, m.organization_id, m.id, coalesce(u.email, m.email), $3, $4
			FROM organization_members m LEFT JOIN users u ON u.id = m.user_id
			WHERE m.organization_id = $2 AND NOT m.sso_linked AND coalesce(u.email, m.email, '') <> ''
			ON CONFLICT (setup_id, member_id) DO NOTHING`, req.SetupID, req.OrganizationID, subject, body)
		b.Queue(`UPDATE setups SET emails_recorded_at = now() WHERE id = $1 AND emails_recorded_at IS NULL`,
			req.SetupID)
		b.Queue(`
			SELECT id, member_id, to_address, subject, body FROM outbound_emails
			WHERE setup_id = $1 AND sent_at IS NULL AND error IS NULL
			ORDER BY id`, req.SetupID).Query(func(rows pgx.Rows) (err error) {
			out, err = pgx.CollectRows(rows, pgx.RowToStructByPos[Email])
			return err
		})
		return nil
	})
	return out, err
}

// emailClaimTimeout is how long a claim holds: longer than one sending can take (a 10 s dial and a 30 s
// conversation, worker/mailer.go), after which the run that claimed it is dead and another may send it.
const emailClaimTimeout = "1 minute"

// ClaimEmail claims an unsent e-mail for one sending, so that concurrent runs of the e-mail task never both
// send it (SPEC §4); false when it is sent, refused for good, or claimed by a run that is still alive.
func (s *Store) ClaimEmail(ctx context.Context, id int64) (bool, error) {
	tag, err := s.pool.Exec(ctx, `
		UPDATE outbound_emails SET claimed_at = now()
		WHERE id = $1 AND sent_at IS NULL AND error IS NULL
			AND (claimed_at IS NULL OR claimed_at < now() - interval '`+emailClaimTimeout+`')`, id)
	return tag.RowsAffected() == 1, err
}

// MarkEmailSent records the outcome of sending a claimed e-mail: sent; refused for good (permanent, the
// server's 5xx, recorded in error and never retried); or a failure to retry, which releases the claim.
func (s *Store) MarkEmailSent(ctx context.Context, id int64, sendErr error, permanent bool) error {
	var err error
	switch {
	case sendErr == nil:
		_, err = s.pool.Exec(ctx, `UPDATE outbound_emails SET sent_at = now(), error = NULL WHERE id = $1`, id)
	case permanent:
		_, err = s.pool.Exec(ctx, `UPDATE outbound_emails SET error = $2 WHERE id = $1`, id, sendErr.Error())
	default:
		_, err = s.pool.Exec(ctx, `UPDATE outbound_emails SET claimed_at = NULL WHERE id = $1`, id)
	}
	return err
}
