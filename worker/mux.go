package worker

import (
	"context"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/tasks"
)

// mux registers every handler under its task type, behind the task-tracking middleware. Every stage has the
// same handler (stage.go); the stage's logic is in storage/postgres/<stage>.go.
func (w *Worker) mux() *asynq.ServeMux {
	mux := asynq.NewServeMux()
	mux.Use(w.trackTasks)
	mux.Use(w.cfg.Middleware...)
	for _, name := range ssosetup.Stages {
		mux.Handle(tasks.StageType(name), w.stage(name))
	}
	mux.HandleFunc(tasks.TypeEmailMissingLinks, w.emailMissingLinks)
	return mux
}

// trackTasks counts the tasks being handled (the event batcher needs to know) and logs every task run at
// debug level with its duration; errors are logged once, by handleError.
func (w *Worker) trackTasks(next asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		w.running.Add(1)
		defer w.running.Add(-1)
		began := time.Now()
		err := next.ProcessTask(ctx, t)
		if err == nil {
			w.retry.succeeded()
		}
		if !w.log.Enabled(ctx, slog.LevelDebug) {
			return err // spare the hot path the attributes nobody reads
		}
		id, _ := asynq.GetTaskID(ctx)
		retried, _ := asynq.GetRetryCount(ctx)
		w.log.DebugContext(ctx, "task processed", "task_id", id, "type", t.Type(), "attempt", retried+1,
			"duration_ms", time.Since(began).Milliseconds(), "ok", err == nil)
		return err
	})
}
