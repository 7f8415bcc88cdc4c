package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/api"
	"github.com/ssosetup/ssosetup/enqueue"
	"github.com/ssosetup/ssosetup/storage/postgres"
	"github.com/ssosetup/ssosetup/storage/storagetest"
	"github.com/ssosetup/ssosetup/tasks"
)

// An operator who deletes or archives stage tasks in the dashboard — one, a chosen few, or all of a queue's
// pending ones — cancels their jobs, instead of the reconciler enqueueing a deleted task again (SPEC §4).
func TestDashboardRemovalsCancelJobs(t *testing.T) {
	t.Parallel()
	db := storagetest.NewDB(t)
	store := postgres.NewStore(db.Pool)
	opt, err := asynq.ParseRedisURI(storagetest.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(opt)
	defer client.Close()
	inspector := asynq.NewInspector(opt)
	defer inspector.Close()
	srv := httptest.NewServer(api.Handler(api.Config{
		Submitter: enqueue.New(store, client), Store: store, Logger: storagetest.Logger(t), Token: token,
		Dashboard:     asynqmon.New(asynqmon.Options{RootPath: "/monitoring", RedisConnOpt: opt}),
		DashboardUser: "operator", DashboardPassword: "Zq3vT9xLw2pK", Inspector: inspector,
		CancelJob: func(ctx context.Context, id uuid.UUID, run int) error {
			_, _, err := store.CancelJob(ctx, id, run)
			return err
		},
	}))
	defer srv.Close()
	submit := func() uuid.UUID {
		t.Helper()
		org, user := db.Org("o"+uuid.NewString()[:8], false), db.User("u"+uuid.NewString()[:8])
		id, _, err := enqueue.New(store, client).Submit(context.Background(), ssosetup.Request{OrganizationID: org,
			UserID: user, Authenticated: true, PipelineUserID: user, Provider: &ssosetup.Provider{Key: "okta"},
			Identity: ssosetup.Identity{ID: "x"}}, enqueue.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	act := func(method, path, body string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+"/monitoring/api/queues/"+tasks.QueueSetups+path, strings.NewReader(body))
		req.SetBasicAuth("operator", "Zq3vT9xLw2pK")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("%s %s: %d", method, path, resp.StatusCode)
		}
	}
	status := func(id uuid.UUID) string {
		t.Helper()
		st, err := store.SetupStatus(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return st.Status
	}
	taskID := func(id uuid.UUID) string { return tasks.TaskID(id, ssosetup.StageStart) }

	deleted, archived, batch1, batch2, spared := submit(), submit(), submit(), submit(), submit()
	act("DELETE", "/pending_tasks/"+taskID(deleted), "")
	act("POST", "/pending_tasks/"+taskID(archived)+":archive", "")
	act("POST", "/pending_tasks:batch_delete", `{"task_ids": ["`+taskID(batch1)+`", "`+taskID(batch2)+`"]}`)
	for id, want := range map[uuid.UUID]string{deleted: "cancelled", archived: "cancelled", batch1: "cancelled",
		batch2: "cancelled", spared: "queued"} {
		if got := status(id); got != want {
			t.Errorf("job %s: %s, want %s", id, got, want)
		}
	}
	all := []uuid.UUID{submit(), submit()}
	act("DELETE", "/pending_tasks:delete_all", "")
	for _, id := range append(all, spared) {
		if got := status(id); got != "cancelled" {
			t.Errorf("job %s after delete_all: %s, want cancelled", id, got)
		}
	}
}
