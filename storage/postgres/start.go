package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/ssosetup/ssosetup"
)

// Start runs the start stage: the preconditions of SPEC §3.1, in order. A failure writes nothing but the
// job's own state.
func (s *Store) Start(ctx context.Context, run Run) (Outcome, error) {
	return s.runStage(ctx, ssosetup.StageStart, run, start)
}

func start(ctx context.Context, tx querier, j *Job) (string, string, error) {
	r := &j.Request
	if !r.Authenticated {
		return "", "", ssosetup.Fail(ssosetup.CodeNotAuthenticated)
	}
	if r.UserID != r.PipelineUserID {
		return "", "", ssosetup.Fail(ssosetup.CodeUIDMismatch)
	}
	var providerID *int64
	var providerKey *string
	err := tx.QueryRow(ctx, `
		SELECT o.id, o.slug, p.id, p.provider FROM organizations o
		LEFT JOIN auth_providers p ON p.organization_id = o.id
		WHERE o.id = $1 OR ($1 = 0 AND o.slug = $2)`, r.OrganizationID, r.OrganizationSlug).
		Scan(&j.OrganizationID, &j.OrgSlug, &providerID, &providerKey)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", ssosetup.Fail(ssosetup.CodeOrgNotFound)
	}
	if err != nil {
		return "", "", err
	}
	var active bool
	err = tx.QueryRow(ctx, `
		SELECT u.is_active, EXISTS (SELECT 1 FROM organization_members m
			WHERE m.organization_id = $2 AND m.user_id = u.id)
		FROM users u WHERE u.id = $1`, r.UserID, j.OrganizationID).Scan(&active, &j.WasMember)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && !active) {
		return "", "", ssosetup.Fail(ssosetup.CodeUserNotFound)
	}
	if err != nil {
		return "", "", err
	}
	if r.Identity.ID == "" {
		return "", "", ssosetup.Fail(ssosetup.CodeInvalidIdentity)
	}
	if j.Flow == ssosetup.FlowSetup {
		if !j.WasMember {
			return "", "", ssosetup.Fail(ssosetup.CodeNotAMember)
		}
		if providerID != nil && *providerID != j.AuthProviderID {
			return "", "", ssosetup.Fail(ssosetup.CodeAlreadyConfigured)
		}
		return ssosetup.StageDone, "preconditions met", nil
	}
	if providerID == nil {
		return "", "", ssosetup.Fail(ssosetup.CodeProviderNotConfigured)
	}
	if r.Provider != nil && r.Provider.Key != "" && r.Provider.Key != *providerKey {
		return "", "", ssosetup.Fail(ssosetup.CodeProviderMismatch)
	}
	j.AuthProviderID = *providerID
	return ssosetup.StageDone, "preconditions met", nil
}
