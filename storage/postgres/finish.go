package postgres

import (
	"context"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/redact"
)

// Finish runs the finish stage (SPEC §3.7): in the setup flow it writes the sso.enable audit entry and the
// sso_enabled signal; in both it marks the job succeeded with its redirect and messages. The worker enqueues
// the e-mail task after it returns.
func (s *Store) Finish(ctx context.Context, run Run) (Outcome, error) {
	return s.runStage(ctx, ssosetup.StageFinish, run, finish)
}

func finish(ctx context.Context, tx *stageTx, j *Job) (string, string, error) {
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
		j.addMessage(ssosetup.MessageConfigured)
	}
	j.Result = &Result{Redirect: ssosetup.SuccessRedirect(j.Flow, j.OrgSlug), Messages: j.Messages}
	return ssosetup.StageDone, "succeeded", nil
}
