package tracing_test

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/enqueue"
	"github.com/ssosetup/ssosetup/storage/clickhouse"
	"github.com/ssosetup/ssosetup/storage/postgres"
	"github.com/ssosetup/ssosetup/storage/storagetest"
	"github.com/ssosetup/ssosetup/worker"
	"github.com/ssosetup/ssosetup/worker/workertest"
)

// With the SDK's in-memory exporter: a job that fails, is fixed and retried from a request of its own keeps
// one trace — the second run's stage spans are in the trace its submission started.
func TestARetriedJobStaysInItsTrace(t *testing.T) {
	exporter := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	defer otel.SetTracerProvider(noop.NewTracerProvider())

	db := storagetest.NewDB(t)
	store := postgres.NewStore(db.Pool)
	opt, err := asynq.ParseRedisURI(storagetest.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(opt)
	defer client.Close()
	workertest.Run(t, worker.Config{Redis: opt, Store: store, Events: clickhouse.NewEvents(storagetest.ClickHouse(t)),
		Logger: storagetest.Logger(t), Concurrency: 8, ShutdownTimeout: 2 * time.Second})
	sub := enqueue.New(store, client)
	org, admin := db.Org("acme", false), db.User("ada")
	id, _, err := sub.Submit(context.Background(), ssosetup.Request{Flow: ssosetup.FlowSetup, OrganizationID: org,
		UserID: admin, Authenticated: true, PipelineUserID: admin, Provider: &ssosetup.Provider{Key: "okta"},
		Identity: ssosetup.Identity{ID: "ada-idp"}}, enqueue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	wait := func() ssosetup.SetupStatus {
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			st, err := store.SetupStatus(db.Ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if ssosetup.IsFinished(st.Status) {
				return st
			}
		}
		t.Fatal("the job did not finish")
		return ssosetup.SetupStatus{}
	}
	first := wait()
	if first.Status != ssosetup.StatusFailed || first.TraceID == nil {
		t.Fatalf("first run %s, trace %v", first.Status, first.TraceID)
	}
	db.Member(org, admin, "owner")
	if _, err := sub.Retry(context.Background(), id, ""); err != nil {
		t.Fatal(err)
	}
	if st := wait(); st.Status != ssosetup.StatusSucceeded || st.TraceID == nil || *st.TraceID != *first.TraceID {
		t.Fatalf("after the retry %s with trace %v, want succeeded in trace %s", st.Status, st.TraceID, *first.TraceID)
	}
	runs := map[int64]int{}
	for _, s := range exporter.GetSpans() {
		if s.Name != "sso:"+ssosetup.StageStart {
			continue
		}
		if got := s.SpanContext.TraceID().String(); got != *first.TraceID {
			t.Errorf("a start span of run %v is in trace %s, not the job's %s", s.Attributes, got, *first.TraceID)
		}
		for _, a := range s.Attributes {
			if a.Key == "ssosetup.run" {
				runs[a.Value.AsInt64()]++
			}
		}
	}
	if runs[0] == 0 || runs[1] == 0 {
		t.Errorf("start spans by run %v, want one of the first run and one of the retry", runs)
	}
}
