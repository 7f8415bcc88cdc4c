package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"maps"

	"github.com/jackc/pgx/v5"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/redact"
)

// attachIdentity is the attach_identity stage (SPEC §3.3): in the setup flow it first creates the
// organization's auth provider; in both flows it links the identity to the acting user.
func attachIdentity(ctx context.Context, tx *stageTx, j *ssosetup.Job) (string, string, error) {
	if j.Flow == ssosetup.FlowSetup {
		if err := createProvider(ctx, tx, j); err != nil {
			return "", "", err
		}
	}
	isNew, err := linkIdentity(ctx, tx, j)
	if err != nil {
		return "", "", err
	}
	// Mark the acting user's membership linked, without touching its other flags.
	err = tx.QueryRow(ctx, `
		WITH m AS (SELECT id FROM organization_members WHERE organization_id = $1 AND user_id = $2),
		upd AS (UPDATE organization_members SET sso_linked = true, sso_invalid = false
			WHERE id = (SELECT id FROM m) AND (NOT sso_linked OR sso_invalid))
		SELECT coalesce((SELECT id FROM m), 0)`, j.OrganizationID, j.Request.UserID).Scan(&j.MemberID)
	if err != nil {
		return "", "", err
	}
	if !isNew {
		return ssosetup.StageDone, "identity re-linked", nil
	}
	userID := j.Request.UserID
	err = audit(tx, j, auditIdentityLink, j.IdentityID, &userID, map[string]any{
		"user_id": userID, "data": redact.Map(nonNil(j.Request.Identity.Data)),
	})
	if err != nil {
		return "", "", err
	}
	j.AddMessage(ssosetup.MessageLinked)
	return ssosetup.StageDone, "identity linked", nil
}

// createProvider creates the organization's auth provider. The organization_id unique index decides between
// concurrent setups: the loser's insert does nothing and its job fails already_configured.
func createProvider(ctx context.Context, tx *stageTx, j *ssosetup.Job) error {
	config, err := json.Marshal(nonNil(j.Request.Provider.Config))
	if err != nil {
		return err
	}
	err = tx.QueryRow(ctx, `
		INSERT INTO auth_providers (organization_id, provider, config) VALUES ($1, $2, $3)
		ON CONFLICT (organization_id) DO NOTHING RETURNING id`,
		j.OrganizationID, j.Request.Provider.Key, config).Scan(&j.AuthProviderID)
	if errors.Is(err, pgx.ErrNoRows) {
		return ssosetup.Fail(ssosetup.CodeAlreadyConfigured)
	}
	return err
}

// linkIdentity finds the identity by ident, else by user (the IdP's id for the user changed), and points it
// at the acting user, or creates it. It reports whether the identity is new.
func linkIdentity(ctx context.Context, tx *stageTx, j *ssosetup.Job) (bool, error) {
	provider, user, ident := j.AuthProviderID, j.Request.UserID, j.Request.Identity.ID
	var owner int64
	var oldData map[string]any
	err := tx.QueryRow(ctx, `
		SELECT id, user_id, data FROM auth_identities
		WHERE auth_provider_id = $1 AND (ident = $2 OR user_id = $3)
		ORDER BY (ident = $2) DESC LIMIT 1 FOR UPDATE`, provider, ident, user).Scan(&j.IdentityID, &owner, &oldData)
	if errors.Is(err, pgx.ErrNoRows) {
		data, err := json.Marshal(nonNil(j.Request.Identity.Data))
		if err != nil {
			return false, err
		}
		err = tx.QueryRow(ctx, `
			INSERT INTO auth_identities (auth_provider_id, user_id, ident, data) VALUES ($1, $2, $3, $4)
			RETURNING id`, provider, user, ident, data).Scan(&j.IdentityID)
		return err == nil, err
	}
	if err != nil {
		return false, err
	}
	if owner != user {
		if err := wipeIdentity(ctx, tx, j, owner); err != nil {
			return false, err
		}
	}
	data, err := json.Marshal(mergeIdentityData(oldData, j.Request.Identity.Data))
	if err != nil {
		return false, err
	}
	_, err = tx.Exec(ctx, `
		UPDATE auth_identities SET user_id = $2, ident = $3, data = $4, last_verified = now(), last_synced = now()
		WHERE id = $1`, j.IdentityID, user, ident, data)
	return false, err
}

// wipeIdentity prepares taking over an identity that belongs to previousOwner: the acting user's other
// identities of this provider go, and the previous owner's membership is marked invalid.
func wipeIdentity(ctx context.Context, tx querier, j *ssosetup.Job, previousOwner int64) error {
	_, err := tx.Exec(ctx, `DELETE FROM auth_identities WHERE auth_provider_id = $1 AND user_id = $2 AND id <> $3`,
		j.AuthProviderID, j.Request.UserID, j.IdentityID)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `
		UPDATE organization_members SET sso_invalid = true, sso_linked = false
		WHERE organization_id = $1 AND user_id = $2`, j.OrganizationID, previousOwner)
	return err
}

// mergeIdentityData returns the new identity data, keeping the old refresh_token when the new data has none
// (providers send it only on the first grant).
func mergeIdentityData(old, fresh map[string]any) map[string]any {
	out := maps.Clone(nonNil(fresh))
	if _, ok := out["refresh_token"]; !ok {
		if rt, ok := old["refresh_token"]; ok {
			out["refresh_token"] = rt
		}
	}
	return out
}

func nonNil(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}
