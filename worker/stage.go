package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/enqueue"
	"github.com/ssosetup/ssosetup/storage"
	"github.com/ssosetup/ssosetup/storage/postgres"
	"github.com/ssosetup/ssosetup/tasks"
)

// stageFunc runs one stage of a job; the store's stage methods have this shape.
type stageFunc func(ctx context.Context, run postgres.Run) (postgres.Outcome, error)

// stage wraps a stage function into a task handler that enqueues the next stage afterwards — also when the
// stage was already recorded by an earlier delivery, unless the next stage has run too. A stage that often
// has nothing to do is first offered a quick skip, which records it in one statement when that holds.
func (w *Worker) stage(name string, fn stageFunc) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		id, err := tasks.ParseStage(t)
		if err != nil {
			return permanent(err) // a malformed payload is archived, never retried
		}
		retried, _ := asynq.GetRetryCount(ctx)
		began := time.Now()
		run := postgres.Run{SetupID: id, Attempt: retried + 1, StartedAt: began}
		out, skipped, err := w.store.QuickSkip(ctx, name, run)
		if err == nil && !skipped {
			out, err = fn(ctx, run)
		}
		w.observeStage(name, began, out, err)
		switch {
		case errors.Is(err, storage.ErrStageDone):
			if out.NextRecorded {
				return nil
			}
		case errors.Is(err, postgres.ErrJobFinished):
			return nil
		case errors.Is(err, storage.ErrNotFound):
			return permanent(fmt.Errorf("setup %s: %w", id, err))
		case err != nil:
			if je, ok := ssosetup.AsJobError(err); ok {
				w.log.InfoContext(ctx, "setup failed", "setup_id", id, "stage", name, "code", je.Code)
				return permanent(err)
			}
			return fmt.Errorf("%s for setup %s: %w", name, id, err)
		}
		next := ssosetup.NextStage(name)
		if next == "" {
			return nil
		}
		return enqueue.Stage(ctx, w.client, next, id, out.Job.Queue)
	})
}

// disable2FA runs the stage and logs the line Sentry logs when it clears require_2fa.
func (w *Worker) disable2FA(ctx context.Context, run postgres.Run) (postgres.Outcome, error) {
	out, err := w.store.Disable2FA(ctx, run)
	if err == nil && out.Status == ssosetup.StageDone {
		w.log.InfoContext(ctx, "Require 2fa disabled during sso setup", "organization_id", out.Job.OrganizationID,
			"setup_id", run.SetupID)
	}
	return out, err
}

// acceptInvite runs the stage and logs when a member's duplicate invite was removed.
func (w *Worker) acceptInvite(ctx context.Context, run postgres.Run) (postgres.Outcome, error) {
	out, err := w.store.AcceptInvite(ctx, run)
	if err == nil && out.Detail == postgres.DetailDuplicateInviteRemoved {
		w.log.InfoContext(ctx, postgres.DetailDuplicateInviteRemoved, "organization_id", out.Job.OrganizationID,
			"user_id", out.Job.Request.UserID, "setup_id", run.SetupID)
	}
	return out, err
}

// observeStage records a stage run's duration and, when the job reached a final status, the job.
func (w *Worker) observeStage(name string, began time.Time, out postgres.Outcome, err error) {
	outcome := out.Status
	switch {
	case errors.Is(err, storage.ErrStageDone):
		outcome = "already_done"
	case err != nil && out.Status != ssosetup.StageFailed:
		outcome = "error"
	}
	w.metrics.StageDuration.WithLabelValues(name, outcome).Observe(time.Since(began).Seconds())
	switch {
	case outcome == ssosetup.StageFailed:
		w.metrics.JobsFinished.WithLabelValues(out.Job.Flow, ssosetup.StatusFailed).Inc()
		w.metrics.JobFailures.WithLabelValues(out.Detail).Inc()
	case err == nil && name == ssosetup.StageFinish:
		w.metrics.JobsFinished.WithLabelValues(out.Job.Flow, ssosetup.StatusSucceeded).Inc()
	}
}
