package worker

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/ssosetup/ssosetup/tasks"
)

// orphanFinder re-drives tasks whose worker died, within seconds (SPEC §4: a stage whose worker was killed
// runs again within 20 s). Asynq alone takes 55–120 s: a task's lease lasts 30 s and its recoverer runs each
// minute. But every live worker extends the leases of the tasks it runs every 5 s (its heartbeat), so a lease
// that has not been extended for staleAfter (well over a heartbeat) belongs to a worker that is gone, on any
// host. Such a task is enqueued again under a recovery id (<task id>:r1, :r2 for a recovery's recovery): the
// stage frame makes a second run of a stage safe, also at the same time as the first, and when Asynq later
// recovers the original it finds the stage recorded and only passes the job on.
type orphanFinder struct {
	rdb        redis.UniversalClient
	inspector  *asynq.Inspector
	client     *asynq.Client
	log        *slog.Logger
	interval   time.Duration
	staleAfter time.Duration
}

// Asynq's lease (internal/rdb in v0.26.0): LeaseDuration from the last extension, as Unix seconds in the
// queue's lease sorted set. TestLeaseKeyMatchesAsynq guards the layout.
const leaseDuration = 30 * time.Second

func leaseKey(queue string) string { return "asynq:{" + queue + "}:lease" }

func (o *orphanFinder) run(ctx context.Context) {
	every(ctx, o.interval, nil, func(ctx context.Context) {
		if n, err := o.round(ctx); err != nil && ctx.Err() == nil {
			o.log.WarnContext(ctx, "orphan check failed; will retry", "error", err.Error())
		} else if n > 0 {
			o.log.InfoContext(ctx, "re-enqueued tasks of a worker that is gone", "tasks", n)
		}
	})
}

// round re-enqueues every active task whose lease went stale and returns how many it enqueued.
func (o *orphanFinder) round(ctx context.Context) (int, error) {
	// A lease extended at t expires at t+leaseDuration: stale when that is less than leaseDuration-staleAfter away.
	cutoff := time.Now().Add(leaseDuration - o.staleAfter).Unix()
	n := 0
	for queue := range tasks.QueuePriorities {
		ids, err := o.rdb.ZRangeByScore(ctx, leaseKey(queue), &redis.ZRangeBy{Min: "-inf", Max: strconv.FormatInt(cutoff, 10)}).Result()
		if err != nil {
			return n, err
		}
		for _, id := range ids {
			redone, err := o.redrive(ctx, queue, id)
			if err != nil {
				return n, err
			}
			if redone {
				n++
			}
		}
	}
	return n, nil
}

// redrive enqueues a copy of active task id under its recovery id; false when the task is no longer active
// or its recovery is already enqueued.
func (o *orphanFinder) redrive(ctx context.Context, queue, id string) (bool, error) {
	info, err := o.inspector.GetTaskInfo(queue, id)
	if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if info.State != asynq.TaskStateActive {
		return false, nil
	}
	// The copy goes to the interactive queue, the first the workers serve: it must not wait behind a bulk
	// backlog that was enqueued after it. What follows it goes back to the job's own queue.
	copyOf := asynq.NewTaskWithHeaders(info.Type, info.Payload, info.Headers, asynq.TaskID(recoveryID(id)), asynq.Queue(recoveryQueue(queue)),
		asynq.MaxRetry(info.MaxRetry), asynq.Timeout(info.Timeout), asynq.Retention(max(info.Retention, tasks.Retention)))
	_, err = o.client.EnqueueContext(ctx, copyOf)
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	o.log.WarnContext(ctx, "task's worker is gone; running it again", "task_id", id, "type", info.Type,
		"recovery_id", recoveryID(id))
	return true, nil
}

// recoveryQueue is where the re-run of a task of queue goes: stages to the interactive queue, side tasks
// (e-mails) to their own.
func recoveryQueue(queue string) string {
	if queue == tasks.QueueBulk {
		return tasks.QueueSetups
	}
	return queue
}

// recoveryID is the id of the re-run of task id: <id>:r1, and <base>:r<n+1> for the re-run of a re-run.
func recoveryID(id string) string {
	if i := strings.LastIndex(id, ":r"); i >= 0 {
		if n, err := strconv.Atoi(id[i+2:]); err == nil && n > 0 {
			return id[:i] + ":r" + strconv.Itoa(n+1)
		}
	}
	return id + ":r1"
}
