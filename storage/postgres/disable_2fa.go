package postgres

import (
	"context"

	"github.com/ssosetup/ssosetup"
)

// disable2FA is the disable_2fa stage (SPEC §3.2): an organization can have SSO or required 2FA, not both.
func disable2FA(ctx context.Context, tx *stageTx, j *ssosetup.Job) (string, string, error) {
	if j.Flow != ssosetup.FlowSetup {
		return ssosetup.StageSkipped, "link flow", nil
	}
	tag, err := tx.Exec(ctx, `UPDATE organizations SET require_2fa = false WHERE id = $1 AND require_2fa`,
		j.OrganizationID)
	if err != nil {
		return "", "", err
	}
	if tag.RowsAffected() == 0 {
		return ssosetup.StageSkipped, "require_2fa was not set", nil
	}
	err = audit(tx, j, auditOrgEdit, j.OrganizationID, nil,
		map[string]string{"require_2fa": "to False when enabling SSO"})
	if err != nil {
		return "", "", err
	}
	tx.notice = "Require 2fa disabled during sso setup"
	return ssosetup.StageDone, "require_2fa disabled", nil
}
