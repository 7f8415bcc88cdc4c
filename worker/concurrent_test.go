package worker

import (
	"sync"
	"testing"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/tasks"
)

// TestEveryStageRunsFourTimesAtOnce delivers each stage's task to four handlers at the same instant, as
// overlapping deliveries (a lease that expired, a rescue) would (SPEC §4): every run succeeds — none fails,
// none asks for a retry — and the job's effects exist once.
func TestEveryStageRunsFourTimesAtOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	org := h.Org("four", true)
	admin := h.User("ada")
	h.Member(org, admin, "owner")
	h.Exec(`INSERT INTO organization_members (organization_id, email) VALUES ($1, 'ada@example.test')`, org)
	req := setupRequest(org, admin)
	req.Event = []byte(`{"release": "web@1.0", "environment": "production"}`)
	id := h.submit(req)
	mux := h.worker.mux()
	h.runBatcher()

	for _, stage := range ssosetup.Stages {
		task := tasks.NewStage(stage, id, tasks.QueueSetups)
		gate := make(chan struct{})
		errs := make([]error, 4)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() {
				<-gate
				errs[i] = mux.ProcessTask(h.Ctx, task)
			})
		}
		close(gate)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("%s, run %d of 4: %v", stage, i+1, err)
			}
		}
		h.assertEnqueuedThenDelete(id, stage, ssosetup.NextStage(stage))
	}

	st := h.wait(id)
	if st.Status != ssosetup.StatusSucceeded {
		t.Fatalf("status %s, error %+v", st.Status, st.Error)
	}
	for _, s := range st.Stages {
		if s.Attempts != 1 {
			t.Errorf("stage %s recorded attempt %d, want 1", s.Name, s.Attempts)
		}
	}
	// What a unique index does not guard: the event in ClickHouse, the release pairing, the invite removal.
	if n := h.eventCount(id); n != 1 {
		t.Errorf("%d events in ClickHouse, want 1", n)
	}
	if n := h.QueryInt(`SELECT count(*) FROM release_environments`); n != 1 {
		t.Errorf("%d release environments, want 1", n)
	}
	if n := h.QueryInt(`SELECT count(*) FROM organization_members WHERE user_id IS NULL`); n != 0 {
		t.Errorf("%d duplicate invites left", n)
	}
}
