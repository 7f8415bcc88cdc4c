package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/api"
	"github.com/ssosetup/ssosetup/enqueue"
	"github.com/ssosetup/ssosetup/storage/postgres"
	"github.com/ssosetup/ssosetup/storage/storagetest"
)

// statementCounter counts the statements a pool sends, alone or in batches.
type statementCounter struct{ n atomic.Int64 }

func (c *statementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}
func (c *statementCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (c *statementCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}
func (c *statementCounter) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {
	c.n.Add(1)
}
func (c *statementCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// A thousand clients long-poll ten jobs; what they cost Postgres is two reads each (one before waiting,
// one when woken), however long they wait, plus one notification per job finished — not a query per
// client per interval (SPEC §10).
func TestLongPollsCostNoQueriesWhileWaiting(t *testing.T) {
	t.Parallel()
	const clients, jobs = 1000, 10
	cfg, err := pgxpool.ParseConfig(storagetest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	counter := &statementCounter{}
	cfg.ConnConfig.Tracer = counter
	cfg.MaxConns = 20
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store := postgres.NewStore(pool)
	opt, err := asynq.ParseRedisURI(storagetest.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(opt)
	t.Cleanup(func() { client.Close() })
	notifier := store.NewNotifier(storagetest.Logger(t))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go notifier.Run(ctx)
	srv := httptest.NewServer(api.Handler(api.Config{Submitter: enqueue.New(store, client), Store: store,
		Logger: storagetest.Logger(t), Token: token, Notifier: notifier}))
	t.Cleanup(srv.Close)

	ids := make([]uuid.UUID, jobs)
	for i := range ids {
		// No worker runs: the jobs stay queued until they are cancelled below.
		ids[i], _, err = enqueue.New(store, client).Submit(ctx, setupRequestFor(int64(i+1)), enqueue.Options{})
		if err != nil {
			t.Fatal(err)
		}
	}
	httpClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	var started, done sync.WaitGroup
	var answered atomic.Int64
	before := counter.n.Load()
	for c := range clients {
		started.Add(1)
		done.Go(func() {
			req, _ := http.NewRequest("GET", fmt.Sprintf("%s/v1/setups/%s?wait=60s", srv.URL, ids[c%jobs]), nil)
			req.Header.Set("Authorization", "Bearer "+token)
			started.Done()
			resp, err := httpClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode == 200 {
				answered.Add(1)
			}
		})
	}
	started.Wait()
	for deadline := time.Now().Add(30 * time.Second); counter.n.Load()-before < 2*clients; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d statements: the clients are not all waiting", counter.n.Load()-before)
		}
	}
	time.Sleep(500 * time.Millisecond) // waiting longer costs nothing more; this shows it
	waiting := counter.n.Load() - before
	for _, id := range ids {
		if _, _, err := store.CancelJob(ctx, id, postgres.AnyRun); err != nil {
			t.Fatal(err)
		}
	}
	done.Wait()
	total := counter.n.Load() - before
	t.Logf("%d clients on %d jobs: %d statements before the jobs finished, %d in all (%.1f per client)",
		clients, jobs, waiting, total, float64(total)/clients)
	if answered.Load() != clients {
		t.Errorf("%d of %d long-polls answered 200", answered.Load(), clients)
	}
	// Each read of a status document is two statements; the cancels are a handful each.
	if limit := int64(2*2*clients + 10*jobs); total > limit {
		t.Errorf("%d statements for %d long-polls, want at most %d: waiting must not poll Postgres", total, clients, limit)
	}
}

func setupRequestFor(org int64) ssosetup.Request {
	return ssosetup.Request{Flow: ssosetup.FlowSetup, OrganizationID: org, UserID: 7, Authenticated: true,
		PipelineUserID: 7, Provider: &ssosetup.Provider{Key: "okta"}, Identity: ssosetup.Identity{ID: "idp-7"}}
}
