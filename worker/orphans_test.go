package worker

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/storage/storagetest"
	"github.com/ssosetup/ssosetup/tasks"
)

func TestRecoveryID(t *testing.T) {
	for id, want := range map[string]string{
		"0190:start":         "0190:start:r1",
		"0190:start:r1":      "0190:start:r2",
		"0190:start:r9":      "0190:start:r10",
		"0190:email:r":       "0190:email:r:r1",
		"0190:rescue":        "0190:rescue:r1",
		"0190:save_event:r0": "0190:save_event:r0:r1",
	} {
		if got := recoveryID(id); got != want {
			t.Errorf("recoveryID(%q) = %q, want %q", id, got, want)
		}
	}
}

// A task held by a live worker keeps a fresh lease and is left alone; once its lease goes stale (here set
// back by hand, as a killed worker would leave it) the orphan finder enqueues it again, once.
func TestOrphanFinderRedrivesStaleLeases(t *testing.T) {
	t.Parallel()
	opt, err := asynq.ParseRedisURI(storagetest.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	holding := make(chan struct{})
	victim := asynq.NewServer(opt, asynq.Config{Concurrency: 1, Queues: tasks.QueuePriorities,
		TaskCheckInterval: 10 * time.Millisecond, LogLevel: asynq.FatalLevel})
	mux := asynq.NewServeMux()
	mux.HandleFunc(tasks.StageType(ssosetup.StageStart), func(ctx context.Context, _ *asynq.Task) error {
		close(holding)
		<-ctx.Done() // holds the task until the server shuts down
		return ctx.Err()
	})
	if err := victim.Start(mux); err != nil {
		t.Fatal(err)
	}
	defer victim.Shutdown()
	client := asynq.NewClient(opt)
	defer client.Close()
	inspector := asynq.NewInspector(opt)
	defer inspector.Close()
	rdb := opt.MakeRedisClient().(redis.UniversalClient)
	defer rdb.Close()
	task := tasks.NewStage(ssosetup.StageStart, uuid.New(), tasks.QueueSetups)
	info, err := client.Enqueue(task)
	if err != nil {
		t.Fatal(err)
	}
	<-holding

	ctx := context.Background()
	o := &orphanFinder{rdb: rdb, inspector: inspector, client: client, log: storagetest.Logger(t),
		interval: time.Second, staleAfter: 10 * time.Second}
	score, err := rdb.ZScore(ctx, leaseKey(tasks.QueueSetups), info.ID).Result()
	if err != nil {
		t.Fatalf("the lease of an active task is not at %s: Asynq's layout changed (%v)", leaseKey(tasks.QueueSetups), err)
	}
	if left := time.Until(time.Unix(int64(score), 0)); left < 20*time.Second || left > leaseDuration+time.Second {
		t.Fatalf("a fresh lease expires in %s, want about %s", left, leaseDuration)
	}
	if n, err := o.round(ctx); err != nil || n != 0 {
		t.Fatalf("round with a live worker: %d re-driven, %v", n, err)
	}

	// The worker "dies": its lease was last extended 15 s ago.
	stale := time.Now().Add(leaseDuration - 15*time.Second).Unix()
	if err := rdb.ZAdd(ctx, leaseKey(tasks.QueueSetups), redis.Z{Score: float64(stale), Member: info.ID}).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := o.round(ctx); err != nil || n != 1 {
		t.Fatalf("round with a stale lease: %d re-driven, %v; want 1", n, err)
	}
	again, err := inspector.GetTaskInfo(tasks.QueueSetups, recoveryID(info.ID))
	if err != nil || again.Type != task.Type() || string(again.Payload) != string(task.Payload()) || again.MaxRetry != tasks.MaxRetry {
		t.Fatalf("recovery task %+v (%v), want a copy of %s", again, err, info.ID)
	}
	if n, err := o.round(ctx); err != nil || n != 0 {
		t.Errorf("second round: %d re-driven, %v; want 0 (already enqueued)", n, err)
	}
}
