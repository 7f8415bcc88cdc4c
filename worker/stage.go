package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/enqueue"
	"github.com/ssosetup/ssosetup/eventstream"
	"github.com/ssosetup/ssosetup/storage/postgres"
	"github.com/ssosetup/ssosetup/tasks"
	"github.com/ssosetup/ssosetup/tracing"
)

// stage is the task handler of every stage: decode the payload, run the stage through the store's
// exactly-once frame (postgres.Store.RunStage; the stage's logic is in storage/postgres/<stage>.go), then
// enqueue what follows — also when the stage was already recorded by an earlier delivery, unless the next
// stage has run too, so that a crash between the commit and the enqueue cannot stop the chain.
func (w *Worker) stage(name string) asynq.Handler {
	var prepare postgres.Prepare
	if name == ssosetup.StageSaveEvent {
		prepare = w.writeEvent
	}
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		p, err := tasks.ParseStage(t)
		if err != nil {
			return permanent(err) // a malformed payload is archived, never retried
		}
		id := p.SetupID
		retried, _ := asynq.GetRetryCount(ctx)
		began := time.Now()
		run := ssosetup.Run{SetupID: id, Retry: p.Run, Attempt: retried + 1, StartedAt: began}
		ctx, span := startStageSpan(ctx, t, name, run)
		out, err := w.store.RunStage(ctx, name, run, prepare)
		defer endStageSpan(span, out, err)
		w.observeStage(name, began, out, err)
		j := out.Job
		switch {
		case errors.Is(err, ssosetup.ErrStageDone):
			if out.NextRecorded {
				return nil
			}
		case errors.Is(err, ssosetup.ErrJobFinished), errors.Is(err, ssosetup.ErrStaleRun):
			return nil
		case errors.Is(err, ssosetup.ErrNotFound):
			return permanent(fmt.Errorf("setup %s: %w", id, err))
		case err != nil:
			if je, ok := ssosetup.AsJobError(err); ok {
				w.log.InfoContext(ctx, "setup failed", "setup_id", id, "stage", name, "code", je.Code)
				return permanent(err)
			}
			return fmt.Errorf("%s for setup %s: %w", name, id, err)
		default:
			if out.Notice != "" {
				w.log.InfoContext(ctx, out.Notice, "setup_id", id, "stage", name, "flow", j.Flow,
					"organization_id", j.OrganizationID, "user_id", j.Request.UserID)
			}
			if out.Signalled {
				w.signals.wake()
			}
		}
		return w.enqueueNext(ctx, name, j)
	})
}

// enqueueNext enqueues the stage after stage or, after finish, a setup's e-mail task; deterministic task ids
// keep a repeated enqueue single.
func (w *Worker) enqueueNext(ctx context.Context, stage string, j ssosetup.Job) error {
	if next := ssosetup.NextStage(stage); next != "" {
		return enqueue.Stage(ctx, w.client, next, j.ID, j.Retries, j.Queue, w.taskOpts...)
	}
	if j.Flow != ssosetup.FlowSetup || j.Request.Provider == nil {
		return nil
	}
	_, err := w.client.EnqueueContext(ctx, tasks.NewEmailMissingLinks(tasks.EmailMissingLinksPayload{
		OrganizationID: j.OrganizationID, ActorUserID: j.Request.UserID, Provider: j.Request.Provider.Key,
		SetupID: j.ID,
	}, tracing.Headers(ctx)), w.taskOpts...)
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueue e-mails of setup %s: %w", j.ID, err)
	}
	return nil
}

// writeEvent is save_event's prepare step: the job's event goes into the eventstream, through the batcher,
// before the stage's transaction, which never waits on ClickHouse. A repeat writes the same event again
// (its id is deterministic), which the table's sort key deduplicates.
func (w *Worker) writeEvent(ctx context.Context, j ssosetup.Job) error {
	ev := eventstream.Build(eventstream.FromJob(j))
	if err := w.batcher.Save(ctx, ev, j.Queue == tasks.QueueBulk); err != nil {
		return fmt.Errorf("save event: %w", err)
	}
	return nil
}

// observeStage records a stage run's duration and, when the job reached a final status, the job.
func (w *Worker) observeStage(name string, began time.Time, out ssosetup.Outcome, err error) {
	outcome := stageOutcome(out, err)
	w.metrics.StageDuration.WithLabelValues(name, outcome).Observe(time.Since(began).Seconds())
	switch {
	case outcome == ssosetup.StageFailed:
		w.metrics.JobsFinished.WithLabelValues(out.Job.Flow, ssosetup.StatusFailed).Inc()
		w.metrics.JobFailures.WithLabelValues(out.Detail).Inc()
	case err == nil && name == ssosetup.StageFinish:
		w.metrics.JobsFinished.WithLabelValues(out.Job.Flow, ssosetup.StatusSucceeded).Inc()
	}
}

// startStageSpan starts a stage run's span (SPEC §13), in the job's trace as the task's headers carry it.
func startStageSpan(ctx context.Context, t *asynq.Task, stage string, run ssosetup.Run) (context.Context, trace.Span) {
	ctx = tracing.FromHeaders(ctx, t.Headers())
	return tracing.Tracer().Start(ctx, t.Type(), trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
		attribute.String("ssosetup.setup_id", run.SetupID.String()), attribute.String("ssosetup.stage", stage),
		attribute.Int("ssosetup.attempt", run.Attempt), attribute.Int("ssosetup.run", run.Retry)))
}

// endStageSpan records a stage run's outcome on its span and ends it.
func endStageSpan(span trace.Span, out ssosetup.Outcome, err error) {
	outcome := stageOutcome(out, err)
	if outcome == "error" {
		span.SetStatus(codes.Error, err.Error())
	}
	span.SetAttributes(attribute.String("ssosetup.flow", out.Job.Flow), attribute.String("ssosetup.outcome", outcome),
		attribute.String("ssosetup.detail", out.Detail))
	span.End()
}

// stageOutcome names what a stage run came to, for its metric and its span: done, skipped or failed;
// already_done when an earlier run had recorded it; nothing_to_do for a task of a finished job or of an
// earlier run; error for anything to retry.
func stageOutcome(out ssosetup.Outcome, err error) string {
	switch {
	case errors.Is(err, ssosetup.ErrStageDone):
		return "already_done"
	case errors.Is(err, ssosetup.ErrJobFinished), errors.Is(err, ssosetup.ErrStaleRun):
		return "nothing_to_do"
	case err != nil && out.Status != ssosetup.StageFailed:
		return "error"
	}
	return out.Status
}
