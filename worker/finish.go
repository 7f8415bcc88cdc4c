package worker

import (
	"context"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/storage"
	"github.com/ssosetup/ssosetup/storage/postgres"
	"github.com/ssosetup/ssosetup/tasks"
)

// finish runs the finish stage (SPEC §3.7), then enqueues the setup's e-mail task and wakes the signal
// forwarder. The e-mail task is enqueued again when a redelivered finish finds its stage done, so that a crash
// after the commit cannot lose it; its deterministic id keeps it single.
func (w *Worker) finish(ctx context.Context, run postgres.Run) (postgres.Outcome, error) {
	out, err := w.store.Finish(ctx, run)
	if err != nil && !errors.Is(err, storage.ErrStageDone) {
		return out, err
	}
	j := out.Job
	if j.Flow == ssosetup.FlowSetup && j.Request.Provider != nil {
		_, eerr := w.client.EnqueueContext(ctx, tasks.NewEmailMissingLinks(tasks.EmailMissingLinksPayload{
			OrganizationID: j.OrganizationID, ActorUserID: j.Request.UserID, Provider: j.Request.Provider.Key,
			SetupID: j.ID,
		}))
		if eerr != nil && !errors.Is(eerr, asynq.ErrTaskIDConflict) {
			return out, fmt.Errorf("enqueue e-mails of setup %s: %w", j.ID, eerr)
		}
	}
	// Only a setup (sso_enabled) or an accepted invite (member_joined) wrote a signal; the forwarder's
	// periodic round catches anything else.
	if j.Flow == ssosetup.FlowSetup || j.InviteMemberID != 0 {
		w.signals.wake()
	}
	if err == nil {
		w.log.InfoContext(ctx, "setup succeeded", "setup_id", j.ID, "flow", j.Flow, "organization_id", j.OrganizationID)
	}
	return out, err
}
