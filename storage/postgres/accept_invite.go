package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/ssosetup/ssosetup"
)

// detailDuplicateInviteRemoved is recorded, and logged as Sentry logs it, when a member's duplicate invite
// was deleted.
const detailDuplicateInviteRemoved = "Pending org invite not accepted - User already org member"

// acceptInvite is the accept_invite stage (SPEC §3.5): accept the approved invite new_membership handed
// over, or, for a user who already was a member, remove a duplicate pending invite.
func acceptInvite(ctx context.Context, tx *stageTx, j *ssosetup.Job) (string, string, error) {
	if j.InviteMemberID != 0 {
		return accept(ctx, tx, j)
	}
	if !j.WasMember {
		return ssosetup.StageSkipped, "no invite", nil
	}
	tag, err := tx.Exec(ctx, `
		DELETE FROM organization_members
		WHERE organization_id = $1 AND user_id IS NULL
			AND lower(email) = lower((SELECT email FROM users WHERE id = $2))
			AND (token_expires_at IS NULL OR token_expires_at > now())`, j.OrganizationID, j.Request.UserID)
	if err != nil {
		return "", "", err
	}
	if tag.RowsAffected() == 0 {
		return ssosetup.StageSkipped, "no duplicate invite", nil
	}
	tx.notice = detailDuplicateInviteRemoved
	return ssosetup.StageDone, detailDuplicateInviteRemoved, nil
}

func accept(ctx context.Context, tx *stageTx, j *ssosetup.Job) (string, string, error) {
	var requiresSSO, hasIdentity bool
	err := tx.QueryRow(ctx, `
		SELECT NOT p.allow_unlinked,
			EXISTS (SELECT 1 FROM auth_identities i WHERE i.auth_provider_id = p.id AND i.user_id = $2)
		FROM auth_providers p WHERE p.organization_id = $1`, j.OrganizationID, j.Request.UserID).
		Scan(&requiresSSO, &hasIdentity)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return "", "", err
	}
	if requiresSSO && !hasIdentity {
		return "", "", ssosetup.Fail(ssosetup.CodeSSORequired)
	}
	// The user may have become a member through another job since new_membership ran: then the invite is a
	// duplicate, and is removed rather than left behind.
	var existing int64
	err = tx.QueryRow(ctx, `SELECT id FROM organization_members WHERE organization_id = $1 AND user_id = $2`,
		j.OrganizationID, j.Request.UserID).Scan(&existing)
	if err == nil {
		j.MemberID = existing
		_, err = tx.Exec(ctx, `DELETE FROM organization_members WHERE id = $1 AND user_id IS NULL`, j.InviteMemberID)
		return ssosetup.StageSkipped, "already a member; invite removed", err
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return "", "", err
	}
	var email, role string
	err = tx.QueryRow(ctx, `
		WITH inv AS (SELECT id, email FROM organization_members
			WHERE id = $1 AND organization_id = $2 AND user_id IS NULL FOR UPDATE)
		UPDATE organization_members m SET user_id = $3, email = NULL, token = NULL, token_expires_at = NULL,
			sso_linked = true, sso_invalid = false
		FROM inv WHERE m.id = inv.id
		RETURNING coalesce(inv.email, ''), m.role`, j.InviteMemberID, j.OrganizationID, j.Request.UserID).
		Scan(&email, &role)
	if errors.Is(err, pgx.ErrNoRows) {
		// Another user accepted the invite, or an admin deleted it, since new_membership handed it over: the
		// user still joins, as new_membership would have made them (SPEC §3.5), never left outside.
		if _, err := createMembership(ctx, tx, j, j.UserEmail); err != nil {
			return "", "", err
		}
		return ssosetup.StageDone, "invite no longer pending; membership created", nil
	}
	if err != nil {
		return "", "", err
	}
	j.MemberID = j.InviteMemberID
	userID := j.Request.UserID
	data := map[string]any{"email": email, "role": role, "invite_status": "approved", "user": userID}
	if err := audit(tx, j, auditMemberAcceptInvite, j.MemberID, &userID, data); err != nil {
		return "", "", err
	}
	if err := audit(tx, j, auditMemberAdd, j.MemberID, &userID, data); err != nil {
		return "", "", err
	}
	err = signal(tx, j, signalMemberJoined, map[string]any{"user_id": userID, "organization_member_id": j.MemberID})
	if err != nil {
		return "", "", err
	}
	return ssosetup.StageDone, "invite accepted", nil
}
