package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/tasks"
)

// plainSetupRequest is a setup whose request holds no secret-looking values, so that nothing its end
// scrubs is needed by a retry.
func plainSetupRequest(org, user int64) ssosetup.Request {
	r := setupRequest(org, user)
	r.Provider.Config = map[string]any{"domain": "acme.okta.com"}
	r.Identity.Data = map[string]any{"name": "Admin"}
	return r
}

// effects counts what a setup of org wrote across all its runs, outside any unique index: providers,
// identities, link and enable audit entries, events in ClickHouse.
func (h *harness) effects(org int64, id uuid.UUID) string {
	h.T.Helper()
	return fmt.Sprintf("providers %d identities %d link-audits %d enable-audits %d events %d",
		h.QueryInt(`SELECT count(*) FROM auth_providers WHERE organization_id = $1`, org),
		h.QueryInt(`SELECT count(*) FROM auth_identities i JOIN auth_providers p ON p.id = i.auth_provider_id WHERE p.organization_id = $1`, org),
		h.QueryInt(`SELECT count(*) FROM audit_log_entries WHERE organization_id = $1 AND event = 'sso-identity.link'`, org),
		h.QueryInt(`SELECT count(*) FROM audit_log_entries WHERE organization_id = $1 AND event = 'sso.enable'`, org),
		h.eventCount(id))
}

const onceEach = "providers 1 identities 1 link-audits 1 enable-audits 1 events 1"

// An operator fixes what failed a job (the admin was not a member) and retries it: it runs again from the
// stage that failed, and succeeds.
func TestRetryAfterTheDataWasFixed(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start()
	org, admin := h.Org("acme", false), h.User("ada")
	st := h.wait(h.submit(plainSetupRequest(org, admin)))
	if st.Status != ssosetup.StatusFailed || st.Error.Code != ssosetup.CodeNotAMember {
		t.Fatalf("first run %s %+v, want not_a_member", st.Status, st.Error)
	}
	h.Member(org, admin, "owner")

	retried, err := h.submitter.Retry(h.Ctx, st.SetupID, "")
	if err != nil || retried.Status != ssosetup.StatusQueued || retried.Retries != 1 || retried.Error != nil {
		t.Fatalf("retry: %s retries %d error %+v, %v", retried.Status, retried.Retries, retried.Error, err)
	}
	st = h.wait(st.SetupID)
	if st.Status != ssosetup.StatusSucceeded || st.Retries != 1 {
		t.Fatalf("after the retry %s %+v (retries %d)", st.Status, st.Error, st.Retries)
	}
	if got := stageDetail(st, ssosetup.StageStart); got != "done: preconditions met" {
		t.Errorf("start's failed record not replaced: %q", got)
	}
	if got := h.effects(org, st.SetupID); got != onceEach {
		t.Errorf("effects %s, want %s", got, onceEach)
	}
}

// A retry is refused with a reason: for a job that is not finished or that succeeded, and for one whose
// remaining stages need a secret its end scrubbed.
func TestRetryRefusals(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start()
	org, admin := h.Org("acme", false), h.User("ada")
	secret := h.wait(h.submit(setupRequest(org, admin))) // config with a client_secret, not a member
	var conflict *ssosetup.ConflictError
	if _, err := h.submitter.Retry(h.Ctx, secret.SetupID, ""); !errors.As(err, &conflict) ||
		!strings.Contains(conflict.Message, "provider.config") || !strings.Contains(conflict.Message, "identity.data") {
		t.Errorf("retry of a job whose provider config was scrubbed: %v", err)
	}
	if st, _ := h.store.SetupStatus(h.Ctx, secret.SetupID); st.Status != ssosetup.StatusFailed || st.Retries != 0 {
		t.Errorf("a refused retry changed the job: %s retries %d", st.Status, st.Retries)
	}

	h.Member(org, admin, "owner")
	ok := h.mustSucceed(plainSetupRequest(org, admin))
	if _, err := h.submitter.Retry(h.Ctx, ok.SetupID, ""); !errors.As(err, &conflict) || !strings.Contains(conflict.Message, "succeeded") {
		t.Errorf("retry of a succeeded job: %v", err)
	}
	if _, err := h.submitter.Cancel(h.Ctx, ok.SetupID); !errors.As(err, &conflict) || !strings.Contains(conflict.Message, "succeeded") {
		t.Errorf("cancel of a succeeded job: %v", err)
	}
	if _, err := h.submitter.Retry(h.Ctx, uuid.New(), ""); !errors.Is(err, ssosetup.ErrNotFound) {
		t.Errorf("retry of no job: %v", err)
	}
}

// holdStage returns a middleware that stops the first run of stage until release is closed, and a channel
// closed once that run arrived.
func holdStage(stage string) (mw asynq.MiddlewareFunc, arrived <-chan struct{}, release chan struct{}) {
	arrive, rel := make(chan struct{}), make(chan struct{})
	var once sync.Once
	return func(next asynq.Handler) asynq.Handler {
		return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
			if t.Type() == tasks.StageType(stage) {
				first := false
				once.Do(func() { first = true })
				if first {
					close(arrive)
					<-rel
				}
			}
			return next.ProcessTask(ctx, t)
		})
	}, arrive, rel
}

// A job cancelled while a stage is about to run stops there: the stages before stay done, the held stage
// does nothing, the org gets require_2fa back (SPEC §2). Retried, it runs disable_2fa again and succeeds,
// with every effect once across both runs and a new org.edit entry for the second run.
func TestCancelAtAStageBoundaryThenRetry(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	mw, arrived, release := holdStage(ssosetup.StageAttachIdentity)
	cfg := h.workerConfig(10 * time.Millisecond)
	cfg.Middleware = []asynq.MiddlewareFunc{mw}
	h.worker = New(cfg)
	h.start()
	org, admin := h.Org("acme", true), h.User("ada")
	h.Member(org, admin, "owner")
	id := h.submit(plainSetupRequest(org, admin))

	<-arrived
	st, err := h.submitter.Cancel(h.Ctx, id)
	if err != nil || st.Status != ssosetup.StatusCancelled || !st.CancelRequested || st.Error == nil || st.Error.Code != ssosetup.CodeCancelled {
		t.Fatalf("cancel: %s cancel_requested %v error %+v, %v", st.Status, st.CancelRequested, st.Error, err)
	}
	if again, err := h.submitter.Cancel(h.Ctx, id); err != nil || again.Status != ssosetup.StatusCancelled {
		t.Errorf("cancelling twice: %s, %v", again.Status, err)
	}
	close(release)
	h.eventually("the held stage ran and did nothing", func() bool {
		return !h.taskExists(tasks.QueueSetups, id, ssosetup.StageAttachIdentity+"-pending-check") &&
			h.QueryInt(`SELECT count(*) FROM setup_stages WHERE setup_id = $1`, id) == 2
	})
	time.Sleep(200 * time.Millisecond) // the held run, had it not stopped, would have recorded by now
	var names []string
	for _, s := range mustStatus(h, id).Stages {
		names = append(names, s.Name)
	}
	if !slices.Equal(names, []string{ssosetup.StageStart, ssosetup.StageDisable2FA}) {
		t.Errorf("stages recorded after the cancel: %v", names)
	}
	if h.QueryInt(`SELECT count(*) FROM organizations WHERE id = $1 AND require_2fa`, org) != 1 {
		t.Error("require_2fa not given back after the cancel")
	}

	retried, err := h.submitter.Retry(h.Ctx, id, "retry-1")
	if err != nil || retried.Stage != ssosetup.StageDisable2FA || retried.Retries != 1 {
		t.Fatalf("retry: stage %s retries %d, %v; want disable_2fa again", retried.Stage, retried.Retries, err)
	}
	if repeat, err := h.submitter.Retry(h.Ctx, id, "retry-1"); err != nil || repeat.Retries != 1 {
		t.Errorf("a repeated retry with its key: retries %d, %v", repeat.Retries, err)
	}
	if _, err := h.submitter.Retry(h.Ctx, uuid.New(), "retry-1"); !errors.Is(err, ssosetup.ErrIdempotencyConflict) {
		t.Errorf("the key of another setup's retry: %v", err)
	}
	st = h.wait(id)
	if st.Status != ssosetup.StatusSucceeded || st.Retries != 1 {
		t.Fatalf("after the retry: %s %+v", st.Status, st.Error)
	}
	if got := h.effects(org, id); got != onceEach {
		t.Errorf("effects %s, want %s", got, onceEach)
	}
	var edits []string
	rows, err := h.Pool.Query(h.Ctx, `SELECT run || ' ' || step || ' ' || (data->>'require_2fa') FROM audit_log_entries
		WHERE setup_id = $1 AND event = 'org.edit' ORDER BY id`, id)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			t.Fatal(err)
		}
		edits = append(edits, e)
	}
	want := []string{"0 disable_2fa to False when enabling SSO", "0 compensation to True when SSO setup did not complete",
		"1 disable_2fa to False when enabling SSO"}
	if !slices.Equal(edits, want) {
		t.Errorf("org.edit entries %q, want %q", edits, want)
	}
}

func mustStatus(h *harness, id uuid.UUID) ssosetup.SetupStatus {
	h.T.Helper()
	st, err := h.store.SetupStatus(h.Ctx, id)
	if err != nil {
		h.T.Fatal(err)
	}
	return st
}

// Cancels and retries race each other and the running stages of one job, many rounds: whatever the
// interleaving, the job ends in one state, and once it succeeded every effect happened once across all its
// runs.
func TestCancelAndRetryRaceRunningStages(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start()
	org, admin := h.Org("acme", true), h.User("ada")
	h.Member(org, admin, "owner")
	id := h.submit(plainSetupRequest(org, admin))

	for round := 0; round < 20; round++ {
		var wg sync.WaitGroup
		for i := 0; i < 4; i++ {
			wg.Go(func() {
				var conflict *ssosetup.ConflictError
				var err error
				if i%2 == 0 {
					_, err = h.submitter.Cancel(h.Ctx, id)
				} else {
					_, err = h.submitter.Retry(h.Ctx, id, "")
				}
				if err != nil && !errors.As(err, &conflict) {
					t.Errorf("round %d: %v", round, err)
				}
			})
		}
		wg.Wait()
		time.Sleep(time.Duration(round%5) * 5 * time.Millisecond) // let stages run between rounds
	}
	for range 10 { // settle: retry until it succeeded
		st := h.wait(id)
		if st.Status == ssosetup.StatusSucceeded {
			break
		}
		if _, err := h.submitter.Retry(h.Ctx, id, ""); err != nil {
			t.Fatalf("retry after the races: %v", err)
		}
	}
	st := h.wait(id)
	if st.Status != ssosetup.StatusSucceeded {
		t.Fatalf("job %s %+v after the races", st.Status, st.Error)
	}
	if got := h.effects(org, id); got != onceEach {
		t.Errorf("after %d retries: effects %s, want %s", st.Retries, got, onceEach)
	}
	disables := h.QueryInt(`SELECT count(*) FROM audit_log_entries WHERE setup_id = $1 AND event = 'org.edit' AND step = 'disable_2fa'`, id)
	gaveBack := h.QueryInt(`SELECT count(*) FROM audit_log_entries WHERE setup_id = $1 AND event = 'org.edit' AND step = 'compensation'`, id)
	if disables != gaveBack+1 {
		t.Errorf("%d disable_2fa entries and %d compensations: each give-back must be followed by one disable", disables, gaveBack)
	}
	if h.QueryInt(`SELECT count(*) FROM organizations WHERE id = $1 AND NOT require_2fa`, org) != 1 {
		t.Error("require_2fa set although the setup succeeded")
	}
	t.Logf("%d retries; %d times require_2fa given back", st.Retries, gaveBack)
}
