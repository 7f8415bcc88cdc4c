package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/ssosetup/ssosetup"
)

type invite struct {
	id     int64
	status string
	email  string
}

// newMembership is the new_membership stage (SPEC §3.4): bring a user who is not a member into the
// organization, through an approved invite (handed to accept_invite), an invite request (replaced), or a new
// membership.
func newMembership(ctx context.Context, tx *stageTx, j *ssosetup.Job) (string, string, error) {
	var userEmail, username string
	err := tx.QueryRow(ctx, `
		SELECT u.email, u.username, coalesce(m.id, 0) FROM users u
		LEFT JOIN organization_members m ON m.organization_id = $2 AND m.user_id = u.id
		WHERE u.id = $1`, j.Request.UserID, j.OrganizationID).Scan(&userEmail, &username, &j.MemberID)
	if err != nil {
		return "", "", translate(err)
	}
	if j.MemberID != 0 {
		return ssosetup.StageSkipped, "already a member", nil
	}
	inv, err := findInvite(ctx, tx, j, userEmail)
	if err != nil {
		return "", "", err
	}
	detail := "membership created"
	if inv != nil {
		if inv.status == "approved" {
			j.InviteMemberID = inv.id
			return ssosetup.StageSkipped, "approved invite", nil
		}
		if _, err := tx.Exec(ctx, `DELETE FROM organization_members WHERE id = $1`, inv.id); err != nil {
			return "", "", err
		}
		if err := audit(tx, j, auditInviteRequestRemove, inv.id, nil, map[string]string{"email": inv.email}); err != nil {
			return "", "", err
		}
		detail = "invite request replaced by a membership"
	}
	created, err := createMembership(ctx, tx, j, userEmail)
	if err != nil || !created {
		return ssosetup.StageSkipped, "already a member", err
	}
	return ssosetup.StageDone, detail, nil
}

// createMembership makes the acting user a member with the organization's default role and audits
// member.add (SPEC §3.4). It reports false, with the existing membership in j.MemberID, when a concurrent
// job of the same user committed a membership first.
func createMembership(ctx context.Context, tx *stageTx, j *ssosetup.Job, userEmail string) (bool, error) {
	var role string
	err := tx.QueryRow(ctx, `
		INSERT INTO organization_members (organization_id, user_id, role, sso_linked, member_limit_restricted)
		SELECT o.id, $2, o.default_role, true, NOT o.invite_members_enabled FROM organizations o WHERE o.id = $1
		ON CONFLICT (organization_id, user_id) DO NOTHING
		RETURNING id, role`, j.OrganizationID, j.Request.UserID).Scan(&j.MemberID, &role)
	if errors.Is(err, pgx.ErrNoRows) {
		err = tx.QueryRow(ctx, `SELECT id FROM organization_members WHERE organization_id = $1 AND user_id = $2`,
			j.OrganizationID, j.Request.UserID).Scan(&j.MemberID)
		return false, translate(err)
	}
	if err != nil {
		return false, err
	}
	userID := j.Request.UserID
	return true, audit(tx, j, auditMemberAdd, j.MemberID, &userID, map[string]any{
		"email": userEmail, "role": role, "invite_status": "approved", "user": userID,
	})
}

// findInvite returns the pending, unexpired invite the user arrived with (by member id and token), else one
// for the user's e-mail; nil when there is none. Expired invites are never returned: they may carry a role.
func findInvite(ctx context.Context, tx querier, j *ssosetup.Job, userEmail string) (*invite, error) {
	var inv invite
	if in := j.Request.Invite; in != nil && in.MemberID > 0 && in.Token != "" {
		err := tx.QueryRow(ctx, `
			SELECT id, invite_status, coalesce(email, '') FROM organization_members
			WHERE id = $1 AND organization_id = $2 AND user_id IS NULL AND token = $3
				AND (token_expires_at IS NULL OR token_expires_at > now())
			FOR UPDATE`, in.MemberID, j.OrganizationID, in.Token).Scan(&inv.id, &inv.status, &inv.email)
		if err == nil {
			return &inv, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return nil, err
		}
	}
	if userEmail == "" {
		return nil, nil
	}
	err := tx.QueryRow(ctx, `
		SELECT id, invite_status, email FROM organization_members
		WHERE organization_id = $1 AND user_id IS NULL AND lower(email) = lower($2)
			AND (token_expires_at IS NULL OR token_expires_at > now())
		ORDER BY id LIMIT 1 FOR UPDATE`, j.OrganizationID, userEmail).Scan(&inv.id, &inv.status, &inv.email)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &inv, nil
}
