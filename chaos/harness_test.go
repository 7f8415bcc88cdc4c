//go:build chaos

package chaos

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/enqueue"
	"github.com/ssosetup/ssosetup/invariants"
	"github.com/ssosetup/ssosetup/storage/clickhouse"
	"github.com/ssosetup/ssosetup/storage/postgres"
	"github.com/ssosetup/ssosetup/storage/storagetest"
	"github.com/ssosetup/ssosetup/tasks"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ssosetup-chaos")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "ssosetup")
	build := exec.Command("go", "build", "-o", binary, "github.com/ssosetup/ssosetup/cmd/ssosetup")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		panic("build ssosetup: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is one test's world: its own schema, ClickHouse database and Redis database, and worker processes.
type env struct {
	t       *testing.T
	ctx     context.Context
	vars    []string
	pool    *pgxpool.Pool
	ch      driver.Conn
	sub     *enqueue.Submitter
	redis   asynq.RedisConnOpt
	mu      sync.Mutex
	workers []*exec.Cmd
	logs    []*bytes.Buffer
	seeded  int // organizations seeded so far, to keep slugs unique
}

// newEnv makes the world; vars are more NAME=value settings for the processes.
func newEnv(t *testing.T, vars ...string) *env {
	e := &env{t: t, ctx: context.Background()}
	pgURL, chURL, redisURL := storagetest.PostgresURL(t), storagetest.ClickHouseURL(t), storagetest.RedisURL(t)
	e.vars = append(os.Environ(), "DATABASE_URL="+pgURL, "CLICKHOUSE_URL="+chURL, "REDIS_URL="+redisURL,
		"SSOSETUP_LISTEN=127.0.0.1:0", "LOG_FORMAT=text", "LOG_LEVEL=info", "WORKER_RECONCILE_INTERVAL=1s",
		"WORKER_RECONCILE_IDLE=3s")
	e.vars = append(e.vars, vars...)
	var err error
	if e.pool, err = postgres.Open(e.ctx, pgURL, 4); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.pool.Close)
	if e.ch, err = clickhouse.Open(e.ctx, chURL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.ch.Close() })
	opt, err := asynq.ParseRedisURI(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	e.redis = opt
	client := asynq.NewClient(opt)
	t.Cleanup(func() { client.Close() })
	e.sub = enqueue.New(postgres.NewStore(e.pool), client)
	t.Cleanup(e.stopAll)
	return e
}

// startWorker starts one `ssosetup worker` process and returns its index.
func (e *env) startWorker() int {
	e.t.Helper()
	cmd := exec.Command(binary, "worker")
	cmd.Env = e.vars
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &syncWriter{w: &log, mu: &e.mu}, &syncWriter{w: &log, mu: &e.mu}
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.workers = append(e.workers, cmd)
	e.logs = append(e.logs, &log)
	return len(e.workers) - 1
}

// logCount counts the lines of every worker's log that contain s.
func (e *env) logCount(s string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, l := range e.logs {
		n += strings.Count(l.String(), s)
	}
	return n
}

// stageRun is a stage of a job, as a task held by a worker names it.
type stageRun struct {
	setupID uuid.UUID
	stage   string
}

// inFlight lists the stages whose tasks live workers hold now: the members of Asynq's lease sets whose lease
// was extended within the last heartbeats (a killed worker's leases stay behind until Asynq recovers them).
func (e *env) inFlight() []stageRun {
	e.t.Helper()
	rdb := e.redis.MakeRedisClient().(redis.UniversalClient)
	defer rdb.Close()
	var out []stageRun
	fresh := strconv.FormatInt(time.Now().Add(20*time.Second).Unix(), 10) // leases last 30 s from each 5 s beat
	for queue := range tasks.QueuePriorities {
		ids, err := rdb.ZRangeByScore(e.ctx, "asynq:{"+queue+"}:lease", &redis.ZRangeBy{Min: fresh, Max: "+inf"}).Result()
		if err != nil {
			e.t.Fatal(err)
		}
		for _, id := range ids {
			parts := strings.Split(id, ":")
			setupID, err := uuid.Parse(parts[0])
			if err == nil && len(parts) >= 2 && ssosetup.IsStage(parts[1]) {
				out = append(out, stageRun{setupID, parts[1]})
			}
		}
	}
	return out
}

// ranAgain reports whether every stage of runs is recorded, or its job ended.
func (e *env) ranAgain(runs []stageRun) bool {
	ids, stages := make([]uuid.UUID, len(runs)), make([]string, len(runs))
	for i, r := range runs {
		ids[i], stages[i] = r.setupID, r.stage
	}
	var pending int64
	err := e.pool.QueryRow(e.ctx, `
		SELECT count(*) FROM unnest($1::uuid[], $2::text[]) AS r(setup_id, stage) JOIN setups s ON s.id = r.setup_id
		WHERE s.status IN ('queued', 'running')
			AND NOT EXISTS (SELECT 1 FROM setup_stages st WHERE st.setup_id = r.setup_id AND st.stage = r.stage)`,
		ids, stages).Scan(&pending)
	return err == nil && pending == 0
}

// startServe starts `ssosetup serve` with the workers' environment (a token added) on a free port and
// returns its base URL once it answers.
func (e *env) startServe() string {
	e.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(binary, "serve")
	cmd.Env = append(slices.Clone(e.vars), "SSOSETUP_LISTEN="+addr, "SSOSETUP_API_TOKEN=6f1c0a9e2b7d4c3a8e5f1b2c3d4e5f60")
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &syncWriter{w: &log, mu: &e.mu}, &syncWriter{w: &log, mu: &e.mu}
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.mu.Lock()
	e.workers = append(e.workers, cmd)
	e.logs = append(e.logs, &log)
	e.mu.Unlock()
	base := "http://" + addr
	e.waitFor("serve answers", 30*time.Second, func() bool { return e.get(base+"/healthz") == nil })
	return base
}

// get fetches url and wants a 200.
func (e *env) get(url string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// terminate sends SIGTERM to worker i and returns how long it took to exit, and how it exited.
func (e *env) terminate(i int) (time.Duration, error) {
	began := time.Now()
	_ = e.workers[i].Process.Signal(syscall.SIGTERM)
	err := e.workers[i].Wait()
	return time.Since(began), err
}

// kill sends SIGKILL to worker i and reaps it.
func (e *env) kill(i int) {
	e.t.Helper()
	_ = e.workers[i].Process.Signal(syscall.SIGKILL)
	_ = e.workers[i].Wait()
}

func (e *env) stopAll() {
	for _, w := range e.workers {
		if w.ProcessState == nil {
			_ = w.Process.Signal(syscall.SIGTERM)
			_ = w.Wait()
		}
	}
	if e.t.Failed() {
		e.mu.Lock()
		defer e.mu.Unlock()
		for i, l := range e.logs {
			e.t.Logf("worker %d log (%d bytes; the last 3000):\n%s", i, l.Len(), tail(l.String(), 3000))
		}
	}
}

// seed creates n organizations, each with an owner and an unlinked member, and submits a setup for each.
func (e *env) seedAndSubmit(n int) []uuid.UUID {
	e.t.Helper()
	ids := make([]uuid.UUID, 0, n)
	for i := e.seeded; i < e.seeded+n; i++ {
		var org, owner int64
		err := e.pool.QueryRow(e.ctx, `
			WITH o AS (INSERT INTO organizations (slug, name, require_2fa) VALUES ($1, $1, $2) RETURNING id),
			u AS (INSERT INTO users (username, email) VALUES ($1 || '-owner', $1 || '-owner@example.test') RETURNING id),
			v AS (INSERT INTO users (username, email) VALUES ($1 || '-member', $1 || '-member@example.test') RETURNING id),
			m AS (INSERT INTO organization_members (organization_id, user_id, role)
				SELECT o.id, u.id, 'owner' FROM o, u UNION ALL SELECT o.id, v.id, 'member' FROM o, v)
			SELECT o.id, u.id FROM o, u`, fmt.Sprintf("org%d", i), i%3 == 0).Scan(&org, &owner)
		if err != nil {
			e.t.Fatal(err)
		}
		id, _, err := e.sub.Submit(e.ctx, ssosetup.Request{
			OrganizationID: org, UserID: owner, Authenticated: true, PipelineUserID: owner,
			Provider: &ssosetup.Provider{Key: "okta", Config: map[string]any{"client_secret": "x"}},
			Identity: ssosetup.Identity{ID: fmt.Sprintf("idp-%d", owner)},
		}, enqueue.Options{Queue: tasks.QueueBulk})
		if err != nil {
			e.t.Fatal(err)
		}
		ids = append(ids, id)
	}
	e.seeded += n
	return ids
}

func (e *env) count(sql string) int64 {
	var n int64
	if err := e.pool.QueryRow(e.ctx, sql).Scan(&n); err != nil {
		return -1 // Postgres may be restarting
	}
	return n
}

// waitFor polls cond until it holds or the deadline passes.
func (e *env) waitFor(what string, limit time.Duration, cond func() bool) {
	e.t.Helper()
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return
		}
	}
	e.t.Fatalf("%s: not within %s", what, limit)
}

// settle waits until every job finished and their side effects are in, then checks the invariants.
func (e *env) settle(ids []uuid.UUID, limit time.Duration) time.Duration {
	e.t.Helper()
	began := time.Now()
	e.waitFor("every job finished with its e-mails and signals", limit, func() bool {
		return e.count(`SELECT count(*) FROM setups WHERE status IN ('queued', 'running')
			OR (status = 'succeeded' AND emails_recorded_at IS NULL)`) == 0 &&
			e.count(`SELECT count(*) FROM signals WHERE delivered_at IS NULL`) == 0
	})
	took := time.Since(began)
	rep, err := invariants.Check(e.ctx, e.pool, e.ch, ids)
	if err != nil {
		e.t.Fatal(err)
	}
	if !rep.OK() {
		e.t.Errorf("invariants broken after the fault: %v", rep.Problems)
	}
	e.t.Logf("jobs %d, succeeded %d, events %d, settled %s after the last fault", rep.Jobs, rep.Succeeded, rep.Events, took.Round(100*time.Millisecond))
	return took
}

type syncWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
