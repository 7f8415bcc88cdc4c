package worker

import (
	"testing"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/storage/postgres"
	"github.com/ssosetup/ssosetup/tasks"
)

// runStages runs the first stages of a job by hand, each once, and deletes the task that follows the last,
// as if the worker had not got to it yet.
func (h *harness) runStages(id uuid.UUID, stages ...string) {
	h.T.Helper()
	mux := h.worker.mux()
	for _, stage := range stages {
		if err := mux.ProcessTask(h.Ctx, tasks.NewStage(stage, id, tasks.QueueSetups)); err != nil {
			h.T.Fatalf("%s: %v", stage, err)
		}
	}
}

// orgEdits lists the require_2fa values of the org.edit audit entries of a job, in order.
func (h *harness) orgEdits(id uuid.UUID) []string {
	h.T.Helper()
	var edits []string
	h.Scan(`SELECT coalesce(array_agg(data->>'require_2fa' ORDER BY id), '{}') FROM audit_log_entries
		WHERE setup_id = $1 AND event = 'org.edit'`, []any{id}, &edits)
	return edits
}

// An operator who archives a job's stage task in the dashboard cancels the job: it stops there, and since
// its disable_2fa cleared require_2fa while the organization got no provider, require_2fa is set back and
// audited (SPEC §2, §4). A job whose task ran out of retries fails instead, with the same compensation.
func TestArchivedTaskCancelsJobAndRestores2FA(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		exhausted  bool
		wantStatus string
		wantCode   string
	}{
		{"archived by an operator", false, ssosetup.StatusCancelled, ssosetup.CodeCancelled},
		{"retries ran out", true, ssosetup.StatusFailed, ssosetup.CodeInternal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			org := h.Org("strict", true)
			admin := h.User("ada")
			h.Member(org, admin, "owner")
			id := h.submit(setupRequest(org, admin))
			h.runStages(id, ssosetup.StageStart, ssosetup.StageDisable2FA)
			if n := h.QueryInt(`SELECT count(*) FROM organizations WHERE id = $1 AND require_2fa`, org); n != 0 {
				t.Fatal("disable_2fa did not clear require_2fa")
			}
			next := tasks.TaskID(id, ssosetup.StageAttachIdentity)
			if tc.exhausted {
				// What asynq leaves when a task's last retry failed: archived with its retries used up.
				if err := h.inspector.DeleteTask(tasks.QueueSetups, next); err != nil {
					t.Fatal(err)
				}
				task := tasks.NewStage(ssosetup.StageAttachIdentity, id, tasks.QueueSetups)
				if _, err := h.client.Enqueue(task, asynq.MaxRetry(0)); err != nil {
					t.Fatal(err)
				}
			}
			if err := h.inspector.ArchiveTask(tasks.QueueSetups, next); err != nil {
				t.Fatal(err)
			}
			h.Exec(`UPDATE setups SET updated_at = now() - interval '1 hour' WHERE id = $1`, id) // idle for the reconciler
			if _, err := h.worker.recon.round(h.Ctx); err != nil {
				t.Fatal(err)
			}

			st, err := h.store.SetupStatus(h.Ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if st.Status != tc.wantStatus || st.Error == nil || st.Error.Code != tc.wantCode ||
				st.Error.Message != ssosetup.Message(tc.wantCode) || st.Error.Redirect != "/settings/strict/auth/" {
				t.Fatalf("job %s %+v, want %s with %s", st.Status, st.Error, tc.wantStatus, tc.wantCode)
			}
			if n := h.QueryInt(`SELECT count(*) FROM organizations WHERE id = $1 AND require_2fa`, org); n != 1 {
				t.Error("require_2fa was not set back")
			}
			want := []string{"to False when enabling SSO", "to True when SSO setup did not complete"}
			if got := h.orgEdits(id); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
				t.Errorf("org.edit entries %q, want %q", got, want)
			}
			// Nothing after the boundary runs: a late delivery of the next stage finds the job ended.
			h.runStages(id, ssosetup.StageAttachIdentity)
			if n := h.QueryInt(`SELECT count(*) FROM auth_providers WHERE organization_id = $1`, org); n != 0 {
				t.Errorf("a stage ran after the job ended: %d providers", n)
			}
			// Ending it again changes nothing.
			if _, err := h.worker.recon.round(h.Ctx); err != nil {
				t.Fatal(err)
			}
			if got := h.orgEdits(id); len(got) != 2 {
				t.Errorf("org.edit entries after a second round: %q", got)
			}
		})
	}
}

// A job that failed after its setup created the provider is not compensated: the organization has SSO.
func TestNoCompensationOnceTheProviderExists(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	org := h.Org("half", true)
	admin := h.User("ada")
	h.Member(org, admin, "owner")
	id := h.submit(setupRequest(org, admin))
	h.runStages(id, ssosetup.StageStart, ssosetup.StageDisable2FA, ssosetup.StageAttachIdentity)
	if _, changed, err := h.store.CancelJob(h.Ctx, id, postgres.AnyRun); err != nil || !changed {
		t.Fatalf("cancel: changed %v, %v", changed, err)
	}
	if n := h.QueryInt(`SELECT count(*) FROM organizations WHERE id = $1 AND require_2fa`, org); n != 0 {
		t.Error("require_2fa set back although the organization has its provider")
	}
	if got := h.orgEdits(id); len(got) != 1 {
		t.Errorf("org.edit entries %q, want only disable_2fa's", got)
	}
}
