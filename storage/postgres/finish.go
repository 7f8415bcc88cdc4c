package postgres

import (
	"context"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/redact"
)

// finish is the finish stage (SPEC §3.7): in the setup flow it writes the sso.enable audit entry and the
// sso_enabled signal; in both it marks the job succeeded with its redirect and messages. The worker enqueues
// the e-mail task once it committed.
func finish(ctx context.Context, tx *stageTx, j *ssosetup.Job) (string, string, error) {
	if j.Flow == ssosetup.FlowSetup {
		p := j.Request.Provider
		err := audit(tx, j, auditSSOEnable, j.AuthProviderID, nil, map[string]any{
			"provider": p.Key, "config": redact.Map(nonNil(p.Config)),
		})
		if err != nil {
			return "", "", err
		}
		err = signal(tx, j, signalSSOEnabled, map[string]any{"user_id": j.Request.UserID, "provider": p.Key})
		if err != nil {
			return "", "", err
		}
		j.AddMessage(ssosetup.MessageConfigured)
	}
	j.Result = &ssosetup.Result{Redirect: ssosetup.SuccessRedirect(j.Flow, j.OrgSlug), Messages: j.Messages}
	tx.notice = "setup succeeded"
	return ssosetup.StageDone, "succeeded", nil
}
