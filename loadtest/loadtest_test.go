package loadtest_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ssosetup/ssosetup/loadtest"
	"github.com/ssosetup/ssosetup/storage/clickhouse"
	"github.com/ssosetup/ssosetup/storage/postgres"
	"github.com/ssosetup/ssosetup/storage/storagetest"
	"github.com/ssosetup/ssosetup/worker"
	"github.com/ssosetup/ssosetup/worker/workertest"
)

func TestLoadTestEndToEnd(t *testing.T) {
	t.Parallel()
	pool := storagetest.Postgres(t)
	ch := storagetest.ClickHouse(t)
	opt, err := asynq.ParseRedisURI(storagetest.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg := loadtest.Config{Orgs: 6, Members: 3, Baseline: true, Pool: pool, ClickHouse: ch, Redis: opt,
		Concurrency: 16, PollInterval: 10 * time.Millisecond}

	if _, err := loadtest.Run(context.Background(), cfg); !errors.Is(err, loadtest.ErrNoWorkers) {
		t.Fatalf("without workers: %v, want ErrNoWorkers", err)
	}

	// The report reads the ClickHouse figures from the worker's /metrics, as it would from a running product.
	reg := prometheus.NewRegistry()
	metrics := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer metrics.Close()
	cfg.Metrics = []string{metrics.URL}
	workertest.Run(t, worker.Config{Redis: opt, Store: postgres.NewStore(pool), Events: clickhouse.NewEvents(ch),
		Logger: storagetest.Logger(t), Concurrency: 32, PollInterval: 10 * time.Millisecond,
		EventBatchBulkDelay: 200 * time.Millisecond, Metrics: worker.NewMetrics(reg)})
	time.Sleep(200 * time.Millisecond) // let the worker register with Redis

	rep, err := loadtest.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Jobs != 24 || rep.Succeeded != 24 || rep.Failed != 0 || !rep.InvariantsOK {
		t.Errorf("report %+v", rep)
	}
	// 24 events in bulk batches: at least one INSERT, none with fewer than one row, never one per event.
	if rep.ClickHouseInserts == 0 || rep.ClickHouseInserts >= 24 || rep.RowsPerInsert < 1 || rep.LatencyMS.P50 <= 0 || rep.JobsPerSecond <= 0 {
		t.Errorf("report figures %+v", rep)
	}
	if rep.BaselineChainsPerSecond == nil || *rep.BaselineChainsPerSecond <= 0 || rep.Ratio == nil {
		t.Errorf("baseline missing: %+v", rep)
	}
	// Invites were seeded: some links accepted one, some replaced an invite request.
	var accepted, replaced int
	err = pool.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE event = 'member.accept-invite'),
		count(*) FILTER (WHERE event = 'invite-request.remove') FROM audit_log_entries`).Scan(&accepted, &replaced)
	if err != nil {
		t.Fatal(err)
	}
	if accepted != 6 || replaced != 6 {
		t.Errorf("%d invites accepted, %d requests replaced; want 6 each", accepted, replaced)
	}
}
