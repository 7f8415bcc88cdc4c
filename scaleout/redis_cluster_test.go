package scaleout_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/enqueue"
	"github.com/ssosetup/ssosetup/invariants"
	"github.com/ssosetup/ssosetup/storage/clickhouse"
	"github.com/ssosetup/ssosetup/storage/postgres"
	"github.com/ssosetup/ssosetup/storage/storagetest"
	"github.com/ssosetup/ssosetup/tasks"
	"github.com/ssosetup/ssosetup/worker"
	"github.com/ssosetup/ssosetup/worker/workertest"
)

// clusterAddrs are the test cluster's nodes: TEST_REDIS_CLUSTER_ADDRS, or the ones services.sh cluster-up
// starts.
func clusterAddrs() []string {
	if v := os.Getenv("TEST_REDIS_CLUSTER_ADDRS"); v != "" {
		return strings.Split(v, ",")
	}
	return []string{"127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"}
}

// The whole chain on a Redis Cluster: setups and links through a batch and one by one, a worker on the
// cluster, the reconciler putting back a task the cluster lost, the dashboard's view of the queues — and
// every job succeeds once with the invariants holding. The cluster is shared, so this test has it alone.
func TestChainOnRedisCluster(t *testing.T) {
	ctx := context.Background()
	opt := asynq.RedisClusterClientOpt{Addrs: clusterAddrs()}
	rdb := opt.MakeRedisClient().(*redis.ClusterClient)
	defer rdb.Close()
	if err := rdb.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return c.FlushAll(ctx).Err() }); err != nil {
		t.Fatalf("the Redis Cluster at %v does not answer (run `scripts/services.sh cluster-up`; make test does): %v", clusterAddrs(), err)
	}
	db := storagetest.NewDB(t)
	store := postgres.NewStore(db.Pool)
	ch := storagetest.ClickHouse(t)
	client := asynq.NewClient(opt)
	defer client.Close()
	workertest.Run(t, worker.Config{Redis: opt, Store: store, Events: clickhouse.NewEvents(ch), Logger: storagetest.Logger(t),
		Concurrency: 16, ShutdownTimeout: 2 * time.Second, ReconcileInterval: 200 * time.Millisecond, ReconcileIdle: time.Second})
	sub := enqueue.New(store, client)

	var ids []uuid.UUID
	var items []enqueue.BatchItem
	var orgs []int64
	for i := range 20 {
		org, admin := db.Org("org-"+string(rune('a'+i)), false), db.User("admin-"+string(rune('a'+i)))
		db.Member(org, admin, "owner")
		db.Provider(org, "okta", false)
		orgs = append(orgs, org)
		req := ssosetup.Request{Flow: ssosetup.FlowLink, OrganizationID: org, UserID: admin, Authenticated: true,
			PipelineUserID: admin, Identity: ssosetup.Identity{ID: "idp-" + string(rune('a'+i))}}
		items = append(items, enqueue.BatchItem{Request: &req})
	}
	b, err := sub.SubmitBatch(ctx, items, enqueue.BatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range b.Results {
		ids = append(ids, *r.SetupID)
	}
	for i, org := range orgs {
		user := db.User("member-" + string(rune('a'+i)))
		id, _, err := sub.Submit(ctx, ssosetup.Request{Flow: ssosetup.FlowLink, OrganizationID: org, UserID: user,
			Authenticated: true, PipelineUserID: user, Identity: ssosetup.Identity{ID: "m-idp-" + string(rune('a'+i))}}, enqueue.Options{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}

	// A job whose start task the cluster lost: recorded in Postgres, never enqueued.
	lostReq := ssosetup.Request{Flow: ssosetup.FlowLink, OrganizationID: orgs[0], UserID: db.User("lost"),
		Authenticated: true, Identity: ssosetup.Identity{ID: "lost-idp"}}
	lostReq.PipelineUserID = lostReq.UserID
	if err := lostReq.Normalize(); err != nil {
		t.Fatal(err)
	}
	lost := uuid.Must(uuid.NewV7())
	if _, _, err := store.CreateSetup(ctx, postgres.NewSetup{ID: lost, Request: lostReq, RequestHash: "lost", Queue: tasks.QueueSetups}); err != nil {
		t.Fatal(err)
	}
	ids = append(ids, lost)

	deadline := time.Now().Add(60 * time.Second)
	for _, id := range ids {
		for {
			st, err := store.SetupStatus(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if ssosetup.IsFinished(st.Status) {
				if st.Status != ssosetup.StatusSucceeded {
					t.Errorf("job %s %s %+v", id, st.Status, st.Error)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %s still %s at %s", id, st.Status, st.Stage)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	rep, err := invariants.Check(ctx, db.Pool, ch, ids)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Errorf("invariants on the cluster: %v", rep.Problems)
	}
	inspector := asynq.NewInspector(opt)
	defer inspector.Close()
	queues, err := inspector.Queues()
	if err != nil || len(queues) == 0 {
		t.Errorf("the dashboard's view of the cluster's queues: %v, %v", queues, err)
	}
	t.Logf("%d jobs succeeded on the Redis Cluster %v; queues %v", len(ids), clusterAddrs(), queues)
}
