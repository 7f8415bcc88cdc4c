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
// one that fails prints its code and exits with an error.
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

	t.Setenv("SSOSETUP_API_TOKEN", "wrong")
	if err := run(ctx, []string{"status", id}, nil, &out, &out); err == nil || !strings.Contains(err.Error(), "unauthorized") {
		t.Errorf("status with a wrong token: %v", err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
