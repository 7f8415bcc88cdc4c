package worker

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/invariants"
	"github.com/ssosetup/ssosetup/storage/clickhouse"
	"github.com/ssosetup/ssosetup/tasks"
)

func TestTaskKeyMatchesAsynq(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := uuid.New()
	if _, err := h.client.Enqueue(tasks.NewStage(ssosetup.StageStart, id, tasks.QueueSetups)); err != nil {
		t.Fatal(err)
	}
	rdb := h.redis.MakeRedisClient().(redis.UniversalClient)
	defer rdb.Close()
	state, err := rdb.HGet(h.Ctx, taskKey(tasks.QueueSetups, tasks.TaskID(id, ssosetup.StageStart)), "state").Result()
	if err != nil || state != "pending" {
		t.Fatalf("state %q (%v): the reconciler's view of Asynq's keys is out of date", state, err)
	}
	if ok, _ := rdb.SIsMember(h.Ctx, allQueuesKey, tasks.QueueSetups).Result(); !ok {
		t.Fatalf("%s does not list the queue", allQueuesKey)
	}
}

// seedSetups creates n organizations, each with an owner and an unlinked member, and returns setup requests.
func (h *harness) seedSetups(n int) []ssosetup.Request {
	h.T.Helper()
	reqs := make([]ssosetup.Request, n)
	for i := range reqs {
		org := h.Org(fmt.Sprintf("org-%d-%s", i, uuid.NewString()[:6]), i%3 == 0)
		owner := h.User(fmt.Sprintf("owner-%d-%s", i, uuid.NewString()[:6]))
		h.Member(org, owner, "owner")
		h.Member(org, h.User(fmt.Sprintf("member-%d-%s", i, uuid.NewString()[:6])), "member")
		reqs[i] = setupRequest(org, owner)
	}
	return reqs
}

func (h *harness) checkInvariants(ids []uuid.UUID) {
	h.T.Helper()
	ch, err := clickhouse.Open(h.Ctx, h.chURL)
	if err != nil {
		h.T.Fatal(err)
	}
	defer ch.Close()
	rep, err := invariants.Check(h.Ctx, h.Pool, ch, ids)
	if err != nil {
		h.T.Fatal(err)
	}
	if !rep.OK() {
		h.T.Errorf("invariants broken: %v", rep.Problems)
	}
}

func TestReconcilerRecoversFromRedisDataLoss(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cfg := h.workerConfig(10 * time.Millisecond)
	cfg.Concurrency = 4
	cfg.ReconcileInterval, cfg.ReconcileIdle = 200*time.Millisecond, 500*time.Millisecond
	h.worker = New(cfg)
	h.start()
	reqs := h.seedSetups(200)
	ids := make([]uuid.UUID, len(reqs))
	for i, r := range reqs {
		ids[i] = h.submit(r)
	}
	h.eventually("some jobs finished", func() bool {
		return h.QueryInt(`SELECT count(*) FROM setups WHERE status = 'succeeded'`) >= 20
	})
	rdb := h.redis.MakeRedisClient().(redis.UniversalClient)
	defer rdb.Close()
	if err := rdb.FlushDB(h.Ctx).Err(); err != nil {
		t.Fatal(err)
	}
	lost := h.QueryInt(`SELECT count(*) FROM setups WHERE status <> 'succeeded'`)
	t.Logf("FLUSHDB with %d of %d jobs unfinished", lost, len(ids))
	if lost == 0 {
		t.Fatal("every job had finished before the flush: the test proves nothing")
	}
	for _, id := range ids {
		if st := h.wait(id); st.Status != ssosetup.StatusSucceeded {
			t.Fatalf("job %s: %+v", st.Status, st.Error)
		}
	}
	h.eventually("e-mails and signals of every setup", func() bool {
		return h.QueryInt(`SELECT count(*) FROM setups WHERE emails_recorded_at IS NULL`) == 0 &&
			h.QueryInt(`SELECT count(*) FROM signals WHERE delivered_at IS NULL`) == 0
	})
	h.checkInvariants(ids)
	if ok, _ := rdb.SIsMember(h.Ctx, allQueuesKey, tasks.QueueSetups).Result(); !ok {
		t.Error("queues not registered again after the flush")
	}
}

func TestPoisonTasksAreArchived(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start()
	poison := [][]byte{[]byte("not json"), []byte(`{"setup_id": 5}`), []byte(`{}`), []byte(`{"setup_id": "` + uuid.NewString() + `", "extra": 1}`)}
	types := []string{tasks.TypeEmailMissingLinks}
	for _, s := range ssosetup.Stages {
		types = append(types, tasks.StageType(s))
	}
	want := 0
	for _, typ := range types {
		for i, p := range poison {
			queue := tasks.QueueSetups
			if typ == tasks.TypeEmailMissingLinks {
				queue = tasks.QueueSide
			}
			_, err := h.client.Enqueue(asynq.NewTask(typ, p), asynq.Queue(queue), asynq.MaxRetry(tasks.MaxRetry),
				asynq.TaskID(fmt.Sprintf("poison-%s-%d", typ, i)))
			if err != nil {
				t.Fatal(err)
			}
			want++
		}
	}
	// A task for a job that does not exist is archived too.
	if _, err := h.client.Enqueue(tasks.NewStage(ssosetup.StageStart, uuid.New(), tasks.QueueSetups)); err != nil {
		t.Fatal(err)
	}
	want++

	h.eventually("every poison task archived", func() bool { return h.archived() == want })
	for _, q := range []string{tasks.QueueSetups, tasks.QueueSide} {
		infos, _ := h.inspector.ListArchivedTasks(q, asynq.PageSize(100))
		for _, info := range infos {
			if info.Retried != 0 {
				t.Errorf("poison task %s was retried %d times", info.ID, info.Retried)
			}
		}
	}
	// The worker keeps serving.
	org := h.Org("after-poison", false)
	admin := h.User("after")
	h.Member(org, admin, "owner")
	h.mustSucceed(setupRequest(org, admin))
	if n := h.archived(); n != want {
		t.Errorf("%d archived tasks, want %d", n, want)
	}
}

func (h *harness) archived() int {
	n := 0
	for _, q := range []string{tasks.QueueSetups, tasks.QueueSide} {
		if info, err := h.inspector.GetQueueInfo(q); err == nil {
			n += info.Archived
		}
	}
	return n
}

// An interactive job whose task Redis lost is enqueued again in the reconciler's first round, although
// 10,000 bulk jobs older than it are idle too (more than one round takes of them).
func TestReconcilerFindsInteractiveJobBehindBulkBacklog(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Exec(`INSERT INTO setups (id, flow, user_id, request, request_hash, queue, updated_at)
		SELECT gen_random_uuid(), 'setup', 1, '{}', 'x', $1, now() - interval '2 hours'
		FROM generate_series(1, 10000)`, tasks.QueueBulk)
	lost := uuid.New()
	h.Exec(`INSERT INTO setups (id, flow, user_id, request, request_hash, queue, updated_at)
		VALUES ($1, 'setup', 1, '{}', 'x', $2, now() - interval '1 hour')`, lost, tasks.QueueSetups)
	if _, err := h.worker.recon.round(h.Ctx); err != nil {
		t.Fatal(err)
	}
	if !h.taskExists(tasks.QueueSetups, lost, ssosetup.StageStart) {
		t.Error("the interactive job's task was not enqueued again in the first round")
	}
}
