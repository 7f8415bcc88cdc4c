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
	"github.com/jackc/pgx/v5/pgxpool"

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
	t         testing.TB
	ctx       context.Context
	pool      *pgxpool.Pool
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
	h := &harness{t: t, ctx: context.Background(), mailer: &recordingMailer{}}
	h.pool = storagetest.Postgres(t)
	h.store = postgres.NewStore(h.pool)
	h.chURL = storagetest.ClickHouseURL(t)
	ch, err := clickhouse.Open(h.ctx, h.chURL)
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
		Redis: h.redis, Store: h.store, Events: h.events, Logger: storagetest.Logger(h.t), Concurrency: 8,
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
	h.t.Cleanup(func() {
		cancel()
		<-done
	})
}

// start runs the worker until the test ends.
func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.worker.Run(ctx) }()
	h.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			h.t.Errorf("worker: %v", err)
		}
	})
}

func (h *harness) exec(sql string, args ...any) {
	h.t.Helper()
	if _, err := h.pool.Exec(h.ctx, sql, args...); err != nil {
		h.t.Fatalf("%s: %v", sql, err)
	}
}

// scan runs a query that returns one row and scans it into dest; any error, no row included, fails the
// test, so that a check never compares against values that were never read.
func (h *harness) scan(sql string, args []any, dest ...any) {
	h.t.Helper()
	if err := h.pool.QueryRow(h.ctx, sql, args...).Scan(dest...); err != nil {
		h.t.Fatalf("%s: %v", sql, err)
	}
}

func (h *harness) queryInt(sql string, args ...any) int64 {
	h.t.Helper()
	var n int64
	if err := h.pool.QueryRow(h.ctx, sql, args...).Scan(&n); err != nil {
		h.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func (h *harness) org(slug string, require2FA bool) int64 {
	h.t.Helper()
	return h.queryInt(`INSERT INTO organizations (slug, name, require_2fa) VALUES ($1, $2, $3) RETURNING id`,
		slug, "Org "+slug, require2FA)
}

func (h *harness) user(username string) int64 {
	h.t.Helper()
	return h.queryInt(`INSERT INTO users (username, email, name) VALUES ($1, $1 || '@example.test', $1) RETURNING id`,
		username)
}

func (h *harness) member(org, user int64, role string) int64 {
	h.t.Helper()
	return h.queryInt(`INSERT INTO organization_members (organization_id, user_id, role) VALUES ($1, $2, $3) RETURNING id`,
		org, user, role)
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
	h.t.Helper()
	id, _, err := h.submitter.Submit(h.ctx, req, enqueue.Options{})
	if err != nil {
		h.t.Fatalf("submit: %v", err)
	}
	return id
}

// wait polls until the job succeeded or failed; the deadline only keeps a broken test from hanging.
func (h *harness) wait(id uuid.UUID) ssosetup.SetupStatus {
	h.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		st, err := h.store.SetupStatus(h.ctx, id)
		if err != nil {
			h.t.Fatalf("status of %s: %v", id, err)
		}
		if st.Status == ssosetup.StatusSucceeded || st.Status == ssosetup.StatusFailed {
			return st
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.t.Fatalf("setup %s did not finish", id)
	return ssosetup.SetupStatus{}
}

// eventually polls cond until it holds; the deadline only keeps a broken test from hanging.
func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	h.t.Fatalf("never happened: %s", what)
}

// domainTables are every table a stage may write, for before/after comparisons.
var domainTables = []string{
	"organizations", "users", "organization_members", "auth_providers", "auth_identities", "audit_log_entries",
	"releases", "environments", "release_environments", "signals", "feature_adoptions", "onboarding_tasks",
	"outbound_emails",
}

// snapshot returns the content of tables as JSON text, for comparing before and after a run.
func (h *harness) snapshot(tables ...string) map[string]string {
	h.t.Helper()
	out := map[string]string{}
	for _, table := range tables {
		var s string
		err := h.pool.QueryRow(h.ctx, `SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY to_jsonb(t)::text)::text, '[]') FROM `+table+` t`).Scan(&s)
		if err != nil {
			h.t.Fatal(err)
		}
		out[table] = s
	}
	return out
}

func (h *harness) assertUnchanged(before, after map[string]string) {
	h.t.Helper()
	for table, b := range before {
		if after[table] != b {
			h.t.Errorf("table %s changed:\nbefore %s\nafter  %s", table, b, after[table])
		}
	}
}

// taskExists reports whether the job's task for name is in Redis in any state.
func (h *harness) taskExists(queue string, id uuid.UUID, name string) bool {
	_, err := h.inspector.GetTaskInfo(queue, tasks.TaskID(id, name))
	return err == nil
}

// eventCount counts the job's events in ClickHouse after deduplication.
func (h *harness) eventCount(id uuid.UUID) uint64 {
	h.t.Helper()
	var n uint64
	conn, err := clickhouse.Open(h.ctx, h.chURL)
	if err != nil {
		h.t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.QueryRow(h.ctx, `SELECT count() FROM events FINAL WHERE setup_id = ?`, id.String()).Scan(&n); err != nil {
		h.t.Fatal(err)
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

func (m *recordingMailer) Send(_ context.Context, to, subject, _ string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, to+"|"+subject)
	return nil
}

func (m *recordingMailer) recipients() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.sent...)
}
