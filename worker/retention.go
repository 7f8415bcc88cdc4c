package worker

import (
	"context"
	"math/rand/v2"
	"time"
)

// retentionCheckEvery is how often a worker offers to run the cleanup; the store runs it once per
// RetentionInterval across all workers.
const retentionCheckEvery = 5 * time.Minute

// runRetention takes part in the hourly cleanup (SPEC §15) until ctx ends.
func (w *Worker) runRetention(ctx context.Context) {
	// A random first wait keeps workers started together from asking at the same moment.
	wait := time.Duration(rand.Int64N(int64(retentionCheckEvery)))
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = retentionCheckEvery
		if err := w.cleanUp(ctx, time.Now()); err != nil && ctx.Err() == nil {
			w.log.WarnContext(ctx, "retention cleanup did not finish; the next one goes on", "error", err.Error())
		}
	}
}

// cleanUp runs the cleanup when it is this worker's turn: old jobs in Postgres, then expired ClickHouse
// partitions.
func (w *Worker) cleanUp(ctx context.Context, now time.Time) error {
	c, ran, err := w.store.CleanUp(ctx, w.cfg.JobRetention, w.cfg.RetentionInterval)
	if err != nil || !ran {
		return err
	}
	dropped, err := w.cfg.Events.DropExpiredPartitions(ctx, now)
	w.log.InfoContext(ctx, "retention cleanup", "setups_deleted", c.Setups, "batches_deleted", c.Batches,
		"event_partitions_dropped", len(dropped))
	return err
}
