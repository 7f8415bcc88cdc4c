package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/ssosetup/ssosetup/enqueue"
	"github.com/ssosetup/ssosetup/storage/postgres"
	"github.com/ssosetup/ssosetup/tasks"
	"github.com/ssosetup/ssosetup/tracing"
)

// reconciler makes Postgres, the source of truth, win over Redis: every interval it finds unfinished jobs
// whose current stage has no task in Redis (lost with Redis's data, or never enqueued because Redis was down)
// and enqueues that stage again; it does the same for the e-mail task of succeeded setups. Every replica may
// run it: deterministic task ids make a second enqueue a no-op.
type reconciler struct {
	store     *postgres.Store
	client    *asynq.Client
	rdb       redis.UniversalClient
	log       *slog.Logger
	interval  time.Duration
	idle      time.Duration
	failJob   func(ctx context.Context, setupID uuid.UUID, run int)
	cancelJob func(ctx context.Context, setupID uuid.UUID, run int)
	inspector *asynq.Inspector
	taskOpts  []asynq.Option // the worker's, for the tasks it enqueues
	sending   bool           // the worker has a mailer
}

// reconcileBatch bounds one round; a longer backlog is worked off over several rounds.
const reconcileBatch = 2000

func (r *reconciler) run(ctx context.Context) {
	every(ctx, r.interval, nil, func(ctx context.Context) {
		if n, err := r.round(ctx); err != nil && ctx.Err() == nil {
			r.log.WarnContext(ctx, "reconcile round failed; will retry", "error", err.Error())
		} else if n > 0 {
			r.log.InfoContext(ctx, "reconciler re-enqueued lost tasks", "tasks", n)
		}
	})
}

// round runs one reconciliation and returns how many tasks it enqueued.
func (r *reconciler) round(ctx context.Context) (int, error) {
	// After Redis lost its data the queue registry is gone too; Asynq's client only writes it once per
	// process, so the dashboard would say "queue not found" although tasks run.
	if err := r.rdb.SAdd(ctx, allQueuesKey, queueNames()).Err(); err != nil {
		return 0, err
	}
	var jobs []postgres.StalledJob
	for _, queue := range []string{tasks.QueueSetups, tasks.QueueBulk} { // interactive jobs first
		js, err := r.store.UnfinishedJobs(ctx, queue, r.idle, reconcileBatch)
		if err != nil {
			return 0, err
		}
		jobs = append(jobs, js...)
	}
	states, err := r.taskStates(ctx, jobs)
	if err != nil {
		return 0, err
	}
	n := 0
	for i, j := range jobs {
		switch states[i] {
		case "":
			if err := enqueue.Stage(tracing.FromTraceparent(ctx, j.Traceparent), r.client, j.Stage, j.ID, j.Retries, j.Queue, r.taskOpts...); err != nil {
				return n, err
			}
			n++
		case "archived":
			if err := r.archived(ctx, j); err != nil {
				return n, err
			}
		}
	}
	emails, err := r.store.SetupsMissingEmails(ctx, r.idle, reconcileBatch)
	if err != nil {
		return n, err
	}
	var resend []postgres.EmailJob
	if r.sending { // without a mailer, e-mails are only recorded: none is ever "sent"
		if resend, err = r.store.SetupsWithUnsentEmails(ctx, r.idle, reconcileBatch); err != nil {
			return n, err
		}
	}
	for i, e := range append(emails, resend...) {
		opts := r.taskOpts
		if i >= len(emails) {
			// The setup's e-mail task is archived or gone; a new one an hour at most, so that an e-mail the
			// server keeps failing is tried again without flooding the queue.
			opts = append(slices.Clone(opts), asynq.TaskID(fmt.Sprintf("%s:email_missing_links:resend-%d", e.SetupID, time.Now().Unix()/3600)))
		}
		_, err := r.client.EnqueueContext(ctx, tasks.NewEmailMissingLinks(tasks.EmailMissingLinksPayload{
			OrganizationID: e.OrganizationID, ActorUserID: e.ActorUserID, Provider: e.Provider, SetupID: e.SetupID,
		}, nil), opts...)
		if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
			return n, err
		}
		if err == nil {
			n++
		}
	}
	return n, nil
}

// archived ends the job of an archived stage task (SPEC §4): a task whose retries ran out fails its job
// (internal_error; normally the error handler did that already), one that an operator archived in the
// dashboard before then cancels it.
func (r *reconciler) archived(ctx context.Context, j postgres.StalledJob) error {
	info, err := r.inspector.GetTaskInfo(j.Queue, tasks.StageTaskID(j.ID, j.Stage, j.Retries))
	if errors.Is(err, asynq.ErrTaskNotFound) {
		return nil // deleted meanwhile: the next round re-enqueues it
	}
	if err != nil {
		return err
	}
	if info.Retried >= info.MaxRetry {
		r.failJob(ctx, j.ID, j.Retries)
	} else {
		r.cancelJob(ctx, j.ID, j.Retries)
	}
	return nil
}

// taskStates reads the Asynq state ("pending", "active", "retry", "archived", …; "" when missing) of each
// job's current stage task in one pipelined round trip.
func (r *reconciler) taskStates(ctx context.Context, jobs []postgres.StalledJob) ([]string, error) {
	if len(jobs) == 0 {
		return nil, nil
	}
	cmds := make([]*redis.StringCmd, len(jobs))
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, j := range jobs {
			cmds[i] = p.HGet(ctx, taskKey(j.Queue, tasks.StageTaskID(j.ID, j.Stage, j.Retries)), "state")
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	states := make([]string, len(jobs))
	for i, c := range cmds {
		states[i] = c.Val()
	}
	return states, nil
}

// Asynq's Redis layout (internal/base in v0.26.0); TestTaskKeyMatchesAsynq guards it.
const allQueuesKey = "asynq:queues"

func taskKey(queue, id string) string { return "asynq:{" + queue + "}:t:" + id }

func queueNames() []any {
	var out []any
	for q := range tasks.QueuePriorities {
		out = append(out, q)
	}
	return out
}
