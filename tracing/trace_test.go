package tracing_test

import (
	"compress/gzip"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace/noop"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/api"
	"github.com/ssosetup/ssosetup/enqueue"
	"github.com/ssosetup/ssosetup/storage/clickhouse"
	"github.com/ssosetup/ssosetup/storage/postgres"
	"github.com/ssosetup/ssosetup/storage/storagetest"
	"github.com/ssosetup/ssosetup/tasks"
	"github.com/ssosetup/ssosetup/tracing"
	"github.com/ssosetup/ssosetup/worker"
	"github.com/ssosetup/ssosetup/worker/workertest"
)

// collector is a real OTLP/HTTP endpoint: it decodes what the exporter sends, as a trace backend does.
type collector struct {
	mu    sync.Mutex
	spans []span
}

type span struct {
	traceID, spanID, parentID, name, scope string
	attrs                                  map[string]string
	links                                  []string // span ids
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		body = gz
	}
	raw, _ := io.ReadAll(body)
	var req coltrace.ExportTraceServiceRequest
	if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" || proto.Unmarshal(raw, &req) != nil {
		http.Error(w, "not an OTLP/HTTP protobuf trace export", 400)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				c.spans = append(c.spans, decode(ss.Scope.GetName(), s))
			}
		}
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
	_, _ = w.Write(out)
}

func decode(scope string, s *tracepb.Span) span {
	out := span{traceID: hex.EncodeToString(s.TraceId), spanID: hex.EncodeToString(s.SpanId),
		parentID: hex.EncodeToString(s.ParentSpanId), name: s.Name, scope: scope, attrs: map[string]string{}}
	for _, a := range s.Attributes {
		out.attrs[a.Key] = fmt.Sprint(a.Value.GetStringValue(), a.Value.GetIntValue())
	}
	for _, l := range s.Links {
		out.links = append(out.links, hex.EncodeToString(l.SpanId))
	}
	return out
}

func (c *collector) inTrace(traceID string) []span {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []span
	for _, s := range c.spans {
		if s.traceID == traceID {
			out = append(out, s)
		}
	}
	return out
}

func (c *collector) all() []span {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]span(nil), c.spans...)
}

// A job submitted with the caller's traceparent is one trace with the caller's: the API request, the
// submission, all seven stage runs, beneath them Postgres statements and Redis commands, the e-mail task; and
// the ClickHouse INSERT that carried its event is linked with its save_event run. Everything arrives at a real
// OTLP/HTTP endpoint.
func TestOneTracePerJobAcrossTheAPIAndTheWorker(t *testing.T) {
	col := &collector{}
	otlp := httptest.NewServer(col)
	defer otlp.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.URL)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
	t.Setenv("OTEL_SERVICE_NAME", "ssosetup-test")
	shutdown, err := tracing.Setup(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = shutdown(context.Background())
		otel.SetTracerProvider(noop.NewTracerProvider())
	}()

	ctx := context.Background()
	pool, err := postgres.Open(ctx, storagetest.PostgresURL(t), 8) // traced: tracing is on
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	db := &storagetest.DB{T: t, Ctx: ctx, Pool: pool}
	store := postgres.NewStore(pool)
	opt, err := asynq.ParseRedisURI(storagetest.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	redisOpt := tracing.Redis(opt)
	client := asynq.NewClient(redisOpt)
	defer client.Close()
	ch, err := clickhouse.Open(ctx, storagetest.ClickHouseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	workertest.Run(t, worker.Config{Redis: redisOpt, Store: store, Events: clickhouse.NewEvents(ch),
		Logger: storagetest.Logger(t), Concurrency: 8, ShutdownTimeout: 2 * time.Second})
	srv := httptest.NewServer(api.Traced(api.Handler(api.Config{Submitter: enqueue.New(store, client), Store: store,
		Logger: storagetest.Logger(t), Token: "trace-test-token"})))
	defer srv.Close()

	org, admin := db.Org("acme", false), db.User("ada")
	db.Member(org, admin, "owner")
	const callerTrace, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	body := fmt.Sprintf(`{"organization_id": %d, "user_id": %d, "authenticated": true, "pipeline_user_id": %d,
		"provider": {"key": "okta"}, "identity": {"id": "ada-idp"}}`, org, admin, admin)
	req, _ := http.NewRequest("POST", srv.URL+"/v1/setups", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer trace-test-token")
	req.Header.Set("traceparent", "00-"+callerTrace+"-"+callerSpan+"-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 202 {
		t.Fatalf("submit: %v %v", resp, err)
	}
	resp.Body.Close()
	var st ssosetup.SetupStatus
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		list, _, err := store.ListSetups(ctx, postgres.ListFilter{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) == 1 && ssosetup.IsFinished(list[0].Status) {
			st = list[0]
			break
		}
	}
	if st.Status != ssosetup.StatusSucceeded || st.TraceID == nil || *st.TraceID != callerTrace {
		t.Fatalf("job %s with trace_id %v, want succeeded in the caller's trace %s", st.Status, st.TraceID, callerTrace)
	}

	want := []string{"POST /v1/setups", "submit setup"}
	for _, s := range ssosetup.Stages {
		want = append(want, "sso:"+s)
	}
	want = append(want, "sso:email_missing_links")
	var spans []span
	names := map[string]span{}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		spans = col.inTrace(callerTrace)
		for _, s := range spans {
			names[s.name] = s
		}
		missing := false
		for _, n := range want {
			if _, ok := names[n]; !ok {
				missing = true
			}
		}
		if !missing {
			break
		}
	}
	for _, n := range want {
		if _, ok := names[n]; !ok {
			t.Errorf("no %q span in the caller's trace (got %d spans)", n, len(spans))
		}
	}
	if api := names["POST /v1/setups"]; api.parentID != callerSpan {
		t.Errorf("the API span's parent is %q, want the caller's span %s", api.parentID, callerSpan)
	}
	stageSpans := map[string]bool{}
	for _, s := range ssosetup.Stages {
		sp := names["sso:"+s]
		stageSpans[sp.spanID] = true
		if sp.attrs["ssosetup.setup_id"] != st.SetupID.String()+"0" || sp.attrs["ssosetup.stage"] != s+"0" ||
			sp.attrs["ssosetup.flow"] != "setup0" || sp.attrs["ssosetup.outcome"] == "" {
			t.Errorf("stage span %s attributes %v", s, sp.attrs)
		}
	}
	var pgBelowStage, redisBelowStage int
	for _, s := range spans {
		if stageSpans[s.parentID] && strings.Contains(s.scope, "otelpgx") {
			pgBelowStage++
		}
		if stageSpans[s.parentID] && strings.Contains(s.scope, "redisotel") || s.scope == "github.com/redis/go-redis/extra/redisotel" {
			redisBelowStage++
		}
	}
	if pgBelowStage == 0 {
		t.Error("no Postgres statement span beneath a stage span")
	}
	enqueueSpans := 0
	for _, s := range spans {
		if strings.HasPrefix(s.name, "enqueue ") {
			enqueueSpans++
		}
	}
	if enqueueSpans < 7 {
		t.Errorf("%d enqueue spans in the trace, want one per stage", enqueueSpans)
	}
	saveEvent := names["sso:save_event"]
	linked := false
	for _, s := range col.all() {
		if s.name == "clickhouse insert events" {
			for _, l := range s.links {
				linked = linked || l == saveEvent.spanID
			}
		}
	}
	if !linked {
		t.Error("no ClickHouse INSERT span links to the save_event run")
	}
	t.Logf("%d spans in the job's trace: %d Postgres and %d Redis beneath stage spans", len(spans), pgBelowStage, redisBelowStage)
}

// With no endpoint set, tracing is off: no trace id on the job, no trace context in its tasks' headers.
func TestNothingWhenTracingIsOff(t *testing.T) {
	t.Parallel()
	if tracing.Enabled() {
		t.Fatal("an OTLP endpoint is set in the test's environment")
	}
	db := storagetest.NewDB(t)
	store := postgres.NewStore(db.Pool)
	opt, err := asynq.ParseRedisURI(storagetest.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	if tracing.Redis(opt) != asynq.RedisConnOpt(opt) {
		t.Error("the Redis option is wrapped although tracing is off")
	}
	client := asynq.NewClient(opt)
	defer client.Close()
	inspector := asynq.NewInspector(opt)
	defer inspector.Close()
	ch := storagetest.ClickHouse(t)
	workertest.Run(t, worker.Config{Redis: opt, Store: store, Events: clickhouse.NewEvents(ch),
		Logger: storagetest.Logger(t), Concurrency: 8, ShutdownTimeout: 2 * time.Second})
	org, admin := db.Org("acme", false), db.User("ada")
	db.Member(org, admin, "owner")
	id, _, err := enqueue.New(store, client).Submit(db.Ctx, ssosetup.Request{Flow: ssosetup.FlowSetup, OrganizationID: org,
		UserID: admin, Authenticated: true, PipelineUserID: admin, Provider: &ssosetup.Provider{Key: "okta"},
		Identity: ssosetup.Identity{ID: "ada-idp"}}, enqueue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var st ssosetup.SetupStatus
	for deadline := time.Now().Add(30 * time.Second); !ssosetup.IsFinished(st.Status) && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if st, err = store.SetupStatus(db.Ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if st.Status != ssosetup.StatusSucceeded || st.TraceID != nil {
		t.Errorf("job %s with trace_id %v, want succeeded without one", st.Status, st.TraceID)
	}
	for _, stage := range ssosetup.Stages {
		info, err := inspector.GetTaskInfo(tasks.QueueSetups, tasks.TaskID(id, stage))
		if err != nil {
			t.Fatalf("task of %s: %v", stage, err)
		}
		if len(info.Headers) != 0 {
			t.Errorf("task of %s has headers %v", stage, info.Headers)
		}
	}
}
