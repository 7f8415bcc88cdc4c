package main

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/ssosetup/ssosetup/api"
	"github.com/ssosetup/ssosetup/enqueue"
	"github.com/ssosetup/ssosetup/storage/clickhouse"
	"github.com/ssosetup/ssosetup/storage/postgres"
	"github.com/ssosetup/ssosetup/storage/storagetest"
	"github.com/ssosetup/ssosetup/worker"
	"github.com/ssosetup/ssosetup/worker/workertest"
)

// TestEnqueueAndStatusCommands drives the CLI against a real API and worker: a setup that succeeds exits 0,
// one that fails prints its code and exits with an error; a batch is waited for; jobs are listed, retried
// and cancelled.
func TestEnqueueAndStatusCommands(t *testing.T) {
	pool := storagetest.Postgres(t)
	store := postgres.NewStore(pool)
	ch := storagetest.ClickHouse(t)
	opt, err := asynq.ParseRedisURI(storagetest.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(opt)
	defer client.Close()
	srv := httptest.NewServer(api.Handler(api.Config{Submitter: enqueue.New(store, client), Store: store,
		Logger: storagetest.Logger(t), Token: "cli-token"}))
	defer srv.Close()
	workertest.Run(t, worker.Config{Redis: opt, Store: store, Events: clickhouse.NewEvents(ch), Logger: storagetest.Logger(t),
		PollInterval: 10 * time.Millisecond})
	ctx := context.Background()

	var org, user int64
	if err := pool.QueryRow(ctx, `WITH o AS (INSERT INTO organizations (slug, name) VALUES ('cli', 'CLI') RETURNING id),
		u AS (INSERT INTO users (username, email) VALUES ('cli', 'cli@example.test') RETURNING id),
		m AS (INSERT INTO organization_members (organization_id, user_id, role) SELECT o.id, u.id, 'owner' FROM o, u)
		SELECT o.id, u.id FROM o, u`).Scan(&org, &user); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SSOSETUP_API_URL", srv.URL)
	t.Setenv("SSOSETUP_API_TOKEN", "cli-token")
	body := `{"organization_id": ` + itoa(org) + `, "user_id": ` + itoa(user) + `, "authenticated": true, "pipeline_user_id": ` +
		itoa(user) + `, "provider": {"key": "okta"}, "identity": {"id": "cli-1"}}`

	var out bytes.Buffer
	if err := run(ctx, []string{"enqueue", "--wait"}, strings.NewReader(body), &out, &out); err != nil {
		t.Fatalf("first setup: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), `"status": "succeeded"`) {
		t.Errorf("enqueue --wait printed:\n%s", out.String())
	}

	out.Reset()
	err = run(ctx, []string{"enqueue", "--wait"}, strings.NewReader(body), &out, &out)
	if !errors.Is(err, errJobFailed) || !strings.Contains(err.Error(), "already_configured") {
		t.Errorf("second setup of the org: %v", err)
	}

	out.Reset()
	if err := run(ctx, []string{"enqueue"}, strings.NewReader(body), &out, &out); err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(out.String())
	out.Reset()
	if err := run(ctx, []string{"status", id}, nil, &out, &out); err != nil || !strings.Contains(out.String(), id) {
		t.Errorf("status %s: %v\n%s", id, err, out.String())
	}

	// A batch of two jobs that fail (the user is no member of the other org), as JSON lines.
	var other int64
	if err := pool.QueryRow(ctx, `INSERT INTO organizations (slug, name) VALUES ('cli2', 'CLI 2') RETURNING id`).Scan(&other); err != nil {
		t.Fatal(err)
	}
	failing := strings.Replace(body, `"organization_id": `+itoa(org), `"organization_id": `+itoa(other), 1)
	out.Reset()
	err = run(ctx, []string{"batch", "--wait"}, strings.NewReader(failing+"\n"+failing+"\n"), &out, &out)
	if !errors.Is(err, errJobFailed) || !strings.Contains(out.String(), `"failed": 2`) {
		t.Errorf("batch --wait of two failing jobs: %v\n%s", err, out.String())
	}

	out.Reset()
	if err := run(ctx, []string{"list", "--status", "failed", "--org", "cli2", "--json"}, nil, &out, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"not_a_member"`) {
		t.Fatalf("list --json of the failed jobs:\n%s", out.String())
	}
	failedID := lines[0][strings.Index(lines[0], `"setup_id":"`)+12:][:36]
	out.Reset()
	if err := run(ctx, []string{"list", "--limit", "3"}, nil, &out, &out); err != nil ||
		len(strings.Split(strings.TrimSpace(out.String()), "\n")) != 4 || !strings.HasPrefix(out.String(), "SETUP_ID") {
		t.Errorf("list as a table: %v\n%s", err, out.String())
	}

	out.Reset()
	if err := run(ctx, []string{"retry", "--idempotency-key", "cli-r", failedID}, nil, &out, &out); err != nil ||
		!strings.Contains(out.String(), `"retries": 1`) {
		t.Errorf("retry %s: %v\n%s", failedID, err, out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"cancel", id}, nil, &out, &out); err == nil || !strings.Contains(err.Error(), "conflict") {
		t.Errorf("cancel of a finished job: %v\n%s", err, out.String())
	}

	t.Setenv("SSOSETUP_API_TOKEN", "wrong")
	if err := run(ctx, []string{"status", id}, nil, &out, &out); err == nil || !strings.Contains(err.Error(), "unauthorized") {
		t.Errorf("status with a wrong token: %v", err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
