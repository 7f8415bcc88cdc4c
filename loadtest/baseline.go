package loadtest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/ssosetup/ssosetup/tasks"
)

// baselineQueue is the baseline's own queue; the product's workers never read it.
const baselineQueue = "loadtest_baseline"

const baselineStages = 7

// chainWork is what each task of a baseline chain does besides enqueueing the next; nil does nothing.
type chainWork func(ctx context.Context, chain uint32, step byte) error

// runBaseline runs n chains of 7 Asynq tasks on the same Redis, with the workers' concurrency, poll
// interval, task ids and retention, handled in this process, and returns chains per second. With no work it
// is the ceiling that Asynq and Redis alone allow on this machine; BenchmarkChainFloor adds Postgres work.
func runBaseline(ctx context.Context, redis asynq.RedisConnOpt, n, concurrency int, poll time.Duration, work chainWork) (float64, error) {
	client := asynq.NewClient(redis)
	defer client.Close()
	run := randomHex(4)
	var done atomic.Int64
	finished := make(chan struct{})
	enqueueStep := func(ctx context.Context, chain uint32, step byte) error {
		payload := binary.BigEndian.AppendUint32(nil, chain)
		payload = append(payload, step)
		id := run + ":" + strconv.Itoa(int(chain)) + ":" + strconv.Itoa(int(step))
		_, err := client.EnqueueContext(ctx, asynq.NewTask("loadtest:noop", payload), asynq.Queue(baselineQueue),
			asynq.TaskID(id), asynq.MaxRetry(tasks.MaxRetry), asynq.Timeout(tasks.Timeout), asynq.Retention(tasks.Retention))
		if errors.Is(err, asynq.ErrTaskIDConflict) {
			return nil
		}
		return err
	}
	mux := asynq.NewServeMux()
	mux.HandleFunc("loadtest:noop", func(ctx context.Context, t *asynq.Task) error {
		p := t.Payload()
		if len(p) != 5 {
			return fmt.Errorf("%w: bad payload", asynq.SkipRetry)
		}
		chain, step := binary.BigEndian.Uint32(p), p[4]
		if work != nil {
			if err := work(ctx, chain, step); err != nil {
				return err
			}
		}
		if step+1 < baselineStages {
			return enqueueStep(ctx, chain, step+1)
		}
		if done.Add(1) == int64(n) {
			close(finished)
		}
		return nil
	})
	srv := asynq.NewServer(redis, asynq.Config{
		Concurrency: concurrency, Queues: map[string]int{baselineQueue: 1}, TaskCheckInterval: poll,
		LogLevel: asynq.ErrorLevel,
	})
	if err := srv.Start(mux); err != nil {
		return 0, err
	}
	defer srv.Shutdown()
	began := time.Now()
	for i := range n {
		if err := enqueueStep(ctx, uint32(i), 0); err != nil {
			return 0, err
		}
	}
	select {
	case <-finished:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return float64(n) / time.Since(began).Seconds(), nil
}
