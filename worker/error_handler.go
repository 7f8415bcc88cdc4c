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
	if setupID, perr := tasks.ParseStage(t); perr == nil {
		w.failJob(ctx, setupID)
	}
}

// failJob fails an unfinished job with internal_error after its stage gave up.
func (w *Worker) failJob(ctx context.Context, setupID uuid.UUID) {
	failCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	flow, changed, err := w.store.FailJob(failCtx, setupID, ssosetup.CodeInternal)
	if err != nil {
		w.log.ErrorContext(ctx, "could not mark setup failed", "setup_id", setupID, "error", err.Error())
		return
	}
	if changed {
		w.log.ErrorContext(ctx, "setup failed: a stage gave up", "setup_id", setupID, "code", ssosetup.CodeInternal)
		w.metrics.JobsFinished.WithLabelValues(flow, ssosetup.StatusFailed).Inc()
		w.metrics.JobFailures.WithLabelValues(ssosetup.CodeInternal).Inc()
	}
}
