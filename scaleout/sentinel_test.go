package scaleout_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
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
	"github.com/ssosetup/ssosetup/worker"
	"github.com/ssosetup/ssosetup/worker/workertest"
)

var sentinels = []string{"127.0.0.1:26401", "127.0.0.1:26402", "127.0.0.1:26403"}

// servicesDir is where services.sh keeps its state (the nodes' pid files).
func servicesDir() string {
	if d := os.Getenv("SSOSETUP_SERVICES_DIR"); d != "" {
		return d
	}
	return "/tmp/ssosetup-services"
}

// The chain through Sentinel, with the primary killed (-9) in the middle of the run: the sentinels promote
// the replica, the workers follow it, tasks the primary had not replicated are put back by the reconciler,
// and every job succeeds once with the invariants holding — nothing lost, nothing duplicated.
func TestChainThroughASentinelFailover(t *testing.T) {
	ctx := context.Background()
	opt := asynq.RedisFailoverClientOpt{MasterName: "ssosetup", SentinelAddrs: sentinels}
	rdb := opt.MakeRedisClient().(redis.UniversalClient)
	defer rdb.Close()
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatalf("the Sentinel set at %v does not answer (run `scripts/services.sh cluster-up`; make test does): %v", sentinels, err)
	}
	t.Cleanup(func() { // the killed node comes back as a replica, for the next run
		out, err := exec.Command("bash", "../scripts/services.sh", "cluster-up").CombinedOutput()
		if err != nil {
			t.Errorf("restore the Sentinel set: %v\n%s", err, out)
		}
	})
	db := storagetest.NewDB(t)
	store := postgres.NewStore(db.Pool)
	ch := storagetest.ClickHouse(t)
	client := asynq.NewClient(opt)
	defer client.Close()
	workertest.Run(t, worker.Config{Redis: opt, Store: store, Events: clickhouse.NewEvents(ch), Logger: storagetest.Logger(t),
		Concurrency: 16, ShutdownTimeout: 2 * time.Second, ReconcileInterval: 200 * time.Millisecond, ReconcileIdle: time.Second})

	var items []enqueue.BatchItem
	for i := range 60 {
		org, user := db.Org(fmt.Sprintf("org-%d", i), false), db.User(fmt.Sprintf("user-%d", i))
		db.Provider(org, "okta", false)
		req := ssosetup.Request{Flow: ssosetup.FlowLink, OrganizationID: org, UserID: user, Authenticated: true,
			PipelineUserID: user, Identity: ssosetup.Identity{ID: fmt.Sprintf("idp-%d", i)}}
		items = append(items, enqueue.BatchItem{Request: &req})
	}
	b, err := enqueue.New(store, client).SubmitBatch(ctx, items, enqueue.BatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []uuid.UUID
	for _, r := range b.Results {
		ids = append(ids, *r.SetupID)
	}

	finished := func() int {
		return int(db.QueryInt(`SELECT count(*) FROM setups WHERE batch_id = $1 AND status IN ('succeeded', 'failed', 'cancelled')`, b.ID))
	}
	for deadline := time.Now().Add(30 * time.Second); finished() < 10; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no job finished before the failover")
		}
	}
	before := finished()
	old := killPrimary(t)
	t.Logf("killed the primary on %s with %d of %d jobs finished", old, before, len(ids))

	deadline := time.Now().Add(120 * time.Second)
	for finished() < len(ids) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d jobs finished two minutes after the failover", finished(), len(ids))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := db.QueryInt(`SELECT count(*) FROM setups WHERE batch_id = $1 AND status <> 'succeeded'`, b.ID); n != 0 {
		t.Errorf("%d jobs did not succeed across the failover", n)
	}
	rep, err := invariants.Check(ctx, db.Pool, ch, ids)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Errorf("invariants across the failover: %v", rep.Problems)
	}
	now, err := rdb.Do(ctx, "ROLE").Slice()
	if err != nil || len(now) == 0 || now[0] != "master" {
		t.Errorf("after the failover the client talks to %v, %v", now, err)
	}
}

// killPrimary kills (-9) the node the sentinels name as primary and returns its address.
func killPrimary(t *testing.T) string {
	t.Helper()
	s := redis.NewSentinelClient(&redis.Options{Addr: sentinels[0]})
	defer s.Close()
	addr, err := s.GetMasterAddrByName(context.Background(), "ssosetup").Result()
	if err != nil || len(addr) != 2 {
		t.Fatalf("the sentinels' primary: %v, %v", addr, err)
	}
	raw, err := os.ReadFile(filepath.Join(servicesDir(), "sentinel-"+addr[1], "redis.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	return strings.Join(addr, ":")
}
