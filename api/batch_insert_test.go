package api_test

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/ssosetup/ssosetup/api"
	"github.com/ssosetup/ssosetup/enqueue"
	"github.com/ssosetup/ssosetup/storage/clickhouse"
	"github.com/ssosetup/ssosetup/storage/postgres"
	"github.com/ssosetup/ssosetup/storage/storagetest"
	"github.com/ssosetup/ssosetup/worker"
	"github.com/ssosetup/ssosetup/worker/workertest"
)

// 300 setups submitted in one batch request run on the bulk queue and share ClickHouse INSERTs: at least 20
// events per INSERT, against a worker with the product's default batching.
func TestBatchSharesInserts(t *testing.T) {
	t.Parallel()
	db := storagetest.NewDB(t)
	store := postgres.NewStore(db.Pool)
	ch := storagetest.ClickHouse(t)
	opt, err := asynq.ParseRedisURI(storagetest.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(opt)
	defer client.Close()
	metrics := worker.NewMetrics(prometheus.NewRegistry())
	workertest.Run(t, worker.Config{Redis: opt, Store: store, Events: clickhouse.NewEvents(ch), Logger: storagetest.Logger(t),
		Concurrency: 64, Metrics: metrics})
	srv := httptest.NewServer(api.Handler(api.Config{Submitter: enqueue.New(store, client), Store: store,
		Logger: storagetest.Logger(t), Token: token}))
	defer srv.Close()

	const n = 300
	items := make([]string, n)
	for i := range items {
		org, owner := db.Org(fmt.Sprintf("b%d", i), false), db.User(fmt.Sprintf("owner%d", i))
		db.Member(org, owner, "owner")
		items[i] = fmt.Sprintf(`{"organization_id": %d, "user_id": %d, "authenticated": true, "pipeline_user_id": %d,
			"provider": {"key": "okta"}, "identity": {"id": "idp-%d"}}`, org, owner, owner, i)
	}
	code, body := do(t, srv, "POST", "/v1/setups/batch", token, `{"setups": [`+strings.Join(items, ",")+`]}`)
	if code != 202 {
		t.Fatalf("batch: %d %v", code, body)
	}
	deadline := time.Now().Add(2 * time.Minute) // keeps a broken test from hanging; not a timing assertion
	for db.QueryInt(`SELECT count(*) FROM setups WHERE status = 'succeeded'`) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d jobs succeeded", db.QueryInt(`SELECT count(*) FROM setups WHERE status = 'succeeded'`), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if q := db.QueryInt(`SELECT count(*) FROM setups WHERE queue = 'sso_setups_bulk'`); q != n {
		t.Errorf("%d of %d batch jobs on the bulk queue", q, n)
	}
	inserts, rows := histogram(t, metrics.BatchRows)
	if inserts == 0 || rows != n || rows/inserts < 20 {
		t.Errorf("%v INSERTs carried %v events, want %d events at 20 or more per INSERT", inserts, rows, n)
	} else {
		t.Logf("%v INSERTs, %.1f events each", inserts, rows/inserts)
	}
}

// histogram returns a histogram's sample count and sum.
func histogram(t *testing.T, h prometheus.Histogram) (count, sum float64) {
	t.Helper()
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		t.Fatal(err)
	}
	return float64(m.GetHistogram().GetSampleCount()), m.GetHistogram().GetSampleSum()
}
