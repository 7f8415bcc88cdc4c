package worker

import (
	"testing"

	"github.com/google/uuid"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/storage/storagetest"
	"github.com/ssosetup/ssosetup/tasks"
)

// TestEveryStageRunsTwice drives a job through the chain by hand, delivering each stage's task twice, as
// Asynq may. The second delivery must change nothing and must still enqueue the next stage, which was taken
// out of Redis in between as if a crash had struck between the commit and the enqueue.
func TestEveryStageRunsTwice(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	org := h.Org("twice", true)
	admin := h.User("ada")
	h.Member(org, admin, "owner")
	// A duplicate pending invite for the admin's own e-mail: accept_invite removes it.
	h.Exec(`INSERT INTO organization_members (organization_id, email) VALUES ($1, 'ada@example.test')`, org)
	req := setupRequest(org, admin)
	req.Event = []byte(`{"release": "web@1.0", "environment": "production", "level": "info"}`)
	id := h.submit(req)
	mux := h.worker.mux()
	h.runBatcher()
	state := append(storagetest.DomainTables, "setups", "setup_stages")

	for _, stage := range ssosetup.Stages {
		task := tasks.NewStage(stage, id, tasks.QueueSetups)
		if err := mux.ProcessTask(h.Ctx, task); err != nil {
			t.Fatalf("%s, first run: %v", stage, err)
		}
		next := ssosetup.NextStage(stage)
		h.assertEnqueuedThenDelete(id, stage, next)
		before := h.Snapshot(state...)
		if err := mux.ProcessTask(h.Ctx, task); err != nil {
			t.Fatalf("%s, second run: %v", stage, err)
		}
		h.AssertUnchanged(before, h.Snapshot(state...))
		h.assertEnqueuedThenDelete(id, stage, next)
	}

	st, err := h.store.SetupStatus(h.Ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != ssosetup.StatusSucceeded {
		t.Fatalf("status %s, error %+v", st.Status, st.Error)
	}
	for _, s := range st.Stages {
		if s.Attempts != 1 {
			t.Errorf("stage %s recorded %d attempts, want 1", s.Name, s.Attempts)
		}
	}
	if st.Stages[4].Detail != "Pending org invite not accepted - User already org member" {
		t.Errorf("accept_invite detail %q", st.Stages[4].Detail)
	}
	if n := h.QueryInt(`SELECT count(*) FROM organization_members WHERE organization_id = $1 AND user_id IS NULL`, org); n != 0 {
		t.Errorf("%d duplicate invites left", n)
	}
	if n := h.QueryInt(`SELECT count(*) FROM audit_log_entries`); n != 3 {
		t.Errorf("%d audit entries, want 3 (org.edit, sso-identity.link, sso.enable)", n)
	}
	if n := h.QueryInt(`SELECT count(*) FROM release_environments re JOIN releases r ON r.id = re.release_id WHERE r.version = 'web@1.0'`); n != 1 {
		t.Errorf("%d release environments, want 1", n)
	}
	if n := h.eventCount(id); n != 1 {
		t.Errorf("%d events, want 1", n)
	}
}

// assertEnqueuedThenDelete checks that after stage ran, the task that follows it is in Redis (the next stage,
// or the e-mail task after finish), then deletes it so that the next delivery must enqueue it again.
func (h *harness) assertEnqueuedThenDelete(id uuid.UUID, stage, next string) {
	h.T.Helper()
	queue, name := tasks.QueueSetups, next
	if next == "" {
		queue, name = tasks.QueueSide, "email_missing_links"
	}
	if !h.taskExists(queue, id, name) {
		h.T.Fatalf("after %s: task %s not enqueued", stage, name)
	}
	if err := h.inspector.DeleteTask(queue, tasks.TaskID(id, name)); err != nil {
		h.T.Fatalf("delete task %s: %v", name, err)
	}
}
