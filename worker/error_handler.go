package worker

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/tasks"
)

// handleError logs a failed task once, and fails the job with internal_error when a stage's retries are
// exhausted, so that the web tier sees an outcome instead of a job stuck in "running".
func (w *Worker) handleError(ctx context.Context, t *asynq.Task, err error) {
	id, _ := asynq.GetTaskID(ctx)
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	final := errors.Is(err, asynq.SkipRetry) || retried >= maxRetry
	attrs := []any{"task_id", id, "type", t.Type(), "attempt", retried + 1, "error", err.Error()}
	if _, isJobErr := ssosetup.AsJobError(err); isJobErr {
		return // the job failed with its code; handled and logged by the stage
	}
	if isOutage(err) && !final {
		// Retried for as long as the outage lasts, without using up a retry (asynq's IsFailure).
		w.metrics.TaskRetries.WithLabelValues(t.Type(), "outage").Inc()
		w.log.WarnContext(ctx, "task failed: a dependency is unavailable; will retry", attrs...)
		return
	}
	if !final {
		w.metrics.TaskRetries.WithLabelValues(t.Type(), "error").Inc()
		w.log.WarnContext(ctx, "task failed; will retry", attrs...)
		return
	}
	w.log.ErrorContext(ctx, "task failed for good; archived", attrs...)
	if _, isStage := tasks.IsStageType(t.Type()); !isStage || errors.Is(err, asynq.SkipRetry) {
		return
	}
	if p, perr := tasks.ParseStage(t); perr == nil {
		w.failJob(ctx, p.SetupID, p.Run)
	}
}

// failJob fails an unfinished job with internal_error after its stage, of the job's run, gave up.
func (w *Worker) failJob(ctx context.Context, setupID uuid.UUID, run int) {
	w.endJob(ctx, setupID, run, ssosetup.StatusFailed, "setup failed: a stage gave up", w.store.FailJob)
}

// cancelJob cancels an unfinished job whose stage task, of the job's run, an operator archived.
func (w *Worker) cancelJob(ctx context.Context, setupID uuid.UUID, run int) {
	w.endJob(ctx, setupID, run, ssosetup.StatusCancelled, "setup cancelled: its task was archived in the dashboard", w.store.CancelJob)
}

func (w *Worker) endJob(ctx context.Context, setupID uuid.UUID, run int, status, why string,
	end func(context.Context, uuid.UUID, int) (string, bool, error)) {
	endCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	flow, changed, err := end(endCtx, setupID, run)
	if err != nil {
		w.log.ErrorContext(ctx, "could not end setup; the reconciler will try again", "setup_id", setupID,
			"status", status, "error", err.Error())
		return
	}
	if changed {
		w.log.WarnContext(ctx, why, "setup_id", setupID, "status", status)
		w.metrics.JobsFinished.WithLabelValues(flow, status).Inc()
		if status == ssosetup.StatusFailed {
			w.metrics.JobFailures.WithLabelValues(ssosetup.CodeInternal).Inc()
		}
	}
}
