package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/ssosetup/ssosetup"
)

// start checks the preconditions of SPEC §3.1, in order. A failure writes nothing but the job's own state.
func start(ctx context.Context, tx *stageTx, j *ssosetup.Job) (string, string, error) {
	r := &j.Request
	if !r.Authenticated {
		return "", "", ssosetup.Fail(ssosetup.CodeNotAuthenticated)
	}
	if r.UserID != r.PipelineUserID {
		return "", "", ssosetup.Fail(ssosetup.CodeUIDMismatch)
	}
	// One query for the organization, its provider and the user: a missing user leaves active null.
	var providerID *int64
	var providerKey *string
	var active *bool
	err := tx.QueryRow(ctx, `
		SELECT o.id, o.slug, p.id, p.provider, u.is_active, EXISTS (SELECT 1 FROM organization_members m
			WHERE m.organization_id = o.id AND m.user_id = u.id)
		FROM organizations o
		LEFT JOIN auth_providers p ON p.organization_id = o.id
		LEFT JOIN users u ON u.id = $3
		WHERE o.id = $1 OR ($1 = 0 AND o.slug = $2)`, r.OrganizationID, r.OrganizationSlug, r.UserID).
		Scan(&j.OrganizationID, &j.OrgSlug, &providerID, &providerKey, &active, &j.WasMember)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", ssosetup.Fail(ssosetup.CodeOrgNotFound)
	}
	if err != nil {
		return "", "", err
	}
	if active == nil || !*active {
		return "", "", ssosetup.Fail(ssosetup.CodeUserNotFound)
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
		if r.Provider != nil { // always, once the request was validated
			j.Provider = r.Provider.Key // the provider this setup creates
		}
		return ssosetup.StageDone, "preconditions met", nil
	}
	if providerID == nil {
		return "", "", ssosetup.Fail(ssosetup.CodeProviderNotConfigured)
	}
	if r.Provider != nil && r.Provider.Key != "" && r.Provider.Key != *providerKey {
		return "", "", ssosetup.Fail(ssosetup.CodeProviderMismatch)
	}
	j.AuthProviderID, j.Provider = *providerID, *providerKey
	return ssosetup.StageDone, "preconditions met", nil
}
