package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/enqueue"
	"github.com/ssosetup/ssosetup/storage/clickhouse"
	"github.com/ssosetup/ssosetup/storage/postgres"
	"github.com/ssosetup/ssosetup/storage/storagetest"
	"github.com/ssosetup/ssosetup/tasks"
)

// harness is one test's private world: a Postgres schema, a ClickHouse database, a Redis database, a worker
// on them (started only by start) and a submitter.
type harness struct {
	*storagetest.DB
	store     *postgres.Store
	chURL     string
	events    *clickhouse.Events
	redis     asynq.RedisConnOpt
	client    *asynq.Client
	inspector *asynq.Inspector
	worker    *Worker
	submitter *enqueue.Submitter
	mailer    *recordingMailer
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	h := &harness{DB: storagetest.NewDB(t), mailer: &recordingMailer{}}
	h.store = postgres.NewStore(h.Pool)
	h.chURL = storagetest.ClickHouseURL(t)
	ch, err := clickhouse.Open(h.Ctx, h.chURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Close() })
	h.events = clickhouse.NewEvents(ch)
	h.redis, err = asynq.ParseRedisURI(storagetest.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	h.client = asynq.NewClient(h.redis)
	t.Cleanup(func() { h.client.Close() })
	h.inspector = asynq.NewInspector(h.redis)
	t.Cleanup(func() { h.inspector.Close() })
	h.worker = New(h.workerConfig(10 * time.Millisecond))
	h.submitter = enqueue.New(h.store, h.client)
	return h
}

// workerConfig is the tests' worker configuration with the given poll interval.
func (h *harness) workerConfig(poll time.Duration) Config {
	return Config{
		Redis: h.redis, Store: h.store, Events: h.events, Logger: storagetest.Logger(h.T), Concurrency: 8,
		PollInterval: poll, BaseURL: "https://sso.example", Mailer: h.mailer, ShutdownTimeout: 2 * time.Second,
	}
}

// runBatcher runs only the event batcher, for tests that deliver tasks by hand, until the test ends.
func (h *harness) runBatcher() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.worker.batcher.run(ctx)
	}()
	h.T.Cleanup(func() {
		cancel()
		<-done
	})
}

// start runs the worker until the test ends.
func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.worker.Run(ctx) }()
	h.T.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			h.T.Errorf("worker: %v", err)
		}
	})
}

// setupRequest is an admin's setup of org through provider "okta".
func setupRequest(org, user int64) ssosetup.Request {
	return ssosetup.Request{
		Flow: ssosetup.FlowSetup, OrganizationID: org, UserID: user, Authenticated: true, PipelineUserID: user,
		Provider: &ssosetup.Provider{Key: "okta", Config: map[string]any{"domain": "acme.okta.com", "client_secret": "s3cr3t-config"}},
		Identity: ssosetup.Identity{ID: fmt.Sprintf("idp-%d", user), Email: "admin@acme.test",
			Data: map[string]any{"access_token": "s3cr3t-token", "name": "Admin"}},
		IPAddress: "203.0.113.5",
	}
}

func (h *harness) submit(req ssosetup.Request) uuid.UUID {
	h.T.Helper()
	id, _, err := h.submitter.Submit(h.Ctx, req, enqueue.Options{})
	if err != nil {
		h.T.Fatalf("submit: %v", err)
	}
	return id
}

// wait polls until the job succeeded or failed; the deadline only keeps a broken test from hanging.
func (h *harness) wait(id uuid.UUID) ssosetup.SetupStatus {
	h.T.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		st, err := h.store.SetupStatus(h.Ctx, id)
		if err != nil {
			h.T.Fatalf("status of %s: %v", id, err)
		}
		if ssosetup.IsFinished(st.Status) {
			return st
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.T.Fatalf("setup %s did not finish", id)
	return ssosetup.SetupStatus{}
}

// eventually polls cond until it holds; the deadline only keeps a broken test from hanging.
func (h *harness) eventually(what string, cond func() bool) {
	h.T.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	h.T.Fatalf("never happened: %s", what)
}

// taskExists reports whether the job's task for name is in Redis in any state.
func (h *harness) taskExists(queue string, id uuid.UUID, name string) bool {
	_, err := h.inspector.GetTaskInfo(queue, tasks.TaskID(id, name))
	return err == nil
}

// eventCount counts the job's events in ClickHouse after deduplication.
func (h *harness) eventCount(id uuid.UUID) uint64 {
	h.T.Helper()
	var n uint64
	conn, err := clickhouse.Open(h.Ctx, h.chURL)
	if err != nil {
		h.T.Fatal(err)
	}
	defer conn.Close()
	if err := conn.QueryRow(h.Ctx, `SELECT count() FROM events FINAL WHERE setup_id = ?`, id.String()).Scan(&n); err != nil {
		h.T.Fatal(err)
	}
	return n
}

func jsonOf(t *testing.T, raw string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// recordingMailer records the e-mails the worker hands to SMTP.
type recordingMailer struct {
	mu   sync.Mutex
	sent []string
}

func (m *recordingMailer) Send(_ context.Context, msg Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, msg.To+"|"+msg.Subject)
	return nil
}

func (m *recordingMailer) recipients() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.sent...)
}
