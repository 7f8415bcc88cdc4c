package worker

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/storage/postgres"
	"github.com/ssosetup/ssosetup/tasks"
)

// A quick skip must record exactly what the stage's full run records. Twin jobs run stage by stage: one
// always in full, the other through the store's quick skip where one applies.
func TestQuickSkipsAgreeWithFullRuns(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	mux := h.worker.mux()
	h.runBatcher()

	linkOrg := h.org("linked", false)
	h.provider(linkOrg, "okta", false)
	twins := map[string][2]ssosetup.Request{}
	for i, flow := range []string{ssosetup.FlowSetup, ssosetup.FlowLink} {
		var pair [2]ssosetup.Request
		for k := range pair {
			user := h.user(flow + string(rune('a'+k)))
			if flow == ssosetup.FlowSetup {
				org := h.org(flow+string(rune('a'+k)), false)
				h.member(org, user, "owner")
				pair[k] = setupRequest(org, user)
			} else {
				pair[k] = linkRequest(linkOrg, user, "ident-"+string(rune('a'+i))+string(rune('a'+k)))
			}
		}
		twins[flow] = pair
	}
	quick := []string{ssosetup.StageDisable2FA, ssosetup.StageAcceptInvite}

	for flow, pair := range twins {
		full, fast := h.submit(pair[0]), h.submit(pair[1])
		for _, stage := range ssosetup.Stages {
			if err := runFull(h, stage, full); err != nil {
				t.Fatalf("%s %s in full: %v", flow, stage, err)
			}
			if !slices.Contains(quick, stage) {
				if err := mux.ProcessTask(h.ctx, tasks.NewStage(stage, fast, tasks.QueueSetups)); err != nil {
					t.Fatalf("%s %s: %v", flow, stage, err)
				}
				continue
			}
			out, skipped, err := h.store.QuickSkip(h.ctx, stage, postgres.Run{SetupID: fast, Attempt: 1, StartedAt: time.Now()})
			if err != nil || !skipped {
				t.Fatalf("%s %s: quick skip did not apply (%v)", flow, stage, err)
			}
			if out.Job.Queue != tasks.QueueSetups || out.Job.Flow != flow {
				t.Errorf("%s %s: outcome job %+v", flow, stage, out.Job)
			}
			// A second offer finds the stage recorded and leaves it to the full run.
			if _, again, err := h.store.QuickSkip(h.ctx, stage, postgres.Run{SetupID: fast, Attempt: 2, StartedAt: time.Now()}); err != nil || again {
				t.Errorf("%s %s: quick skip applied twice (%v)", flow, stage, err)
			}
		}
		a, b := h.wait(full), h.wait(fast)
		if a.Status != ssosetup.StatusSucceeded || b.Status != ssosetup.StatusSucceeded {
			t.Fatalf("%s: statuses %s and %s", flow, a.Status, b.Status)
		}
		for _, stage := range quick {
			if x, y := stageDetail(a, stage), stageDetail(b, stage); x != y || x == "" {
				t.Errorf("%s %s: full run recorded %q, quick skip %q", flow, stage, x, y)
			}
		}
	}
}

// A quick skip does not apply when the stage has work to do.
func TestQuickSkipDeclines(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	org := h.org("strict", true) // require_2fa: disable_2fa has work
	admin := h.user("ada")
	h.member(org, admin, "owner")
	id := h.submit(setupRequest(org, admin))
	mux := h.worker.mux()
	if err := mux.ProcessTask(h.ctx, tasks.NewStage(ssosetup.StageStart, id, tasks.QueueSetups)); err != nil {
		t.Fatal(err)
	}
	if _, skipped, err := h.store.QuickSkip(h.ctx, ssosetup.StageDisable2FA, postgres.Run{SetupID: id, Attempt: 1, StartedAt: time.Now()}); err != nil || skipped {
		t.Errorf("disable_2fa with require_2fa set: skipped %v, err %v", skipped, err)
	}
	if n := h.queryInt(`SELECT count(*) FROM setup_stages WHERE setup_id = $1 AND stage = 'disable_2fa'`, id); n != 0 {
		t.Errorf("disable_2fa recorded %d times", n)
	}
	if _, skipped, _ := h.store.QuickSkip(h.ctx, ssosetup.StageDisable2FA, postgres.Run{SetupID: uuid.New(), Attempt: 1, StartedAt: time.Now()}); skipped {
		t.Error("a missing job was skipped")
	}
}

// runFull runs a stage of a job through the store's full stage run, never a quick skip, and records what
// the worker would.
func runFull(h *harness, stage string, id uuid.UUID) error {
	fns := map[string]func(context.Context, postgres.Run) (postgres.Outcome, error){
		ssosetup.StageStart: h.store.Start, ssosetup.StageDisable2FA: h.store.Disable2FA,
		ssosetup.StageAttachIdentity: h.store.AttachIdentity, ssosetup.StageNewMembership: h.store.NewMembership,
		ssosetup.StageAcceptInvite: h.store.AcceptInvite, ssosetup.StageSaveEvent: h.worker.saveEvent,
		ssosetup.StageFinish: h.store.Finish,
	}
	_, err := fns[stage](h.ctx, postgres.Run{SetupID: id, Attempt: 1, StartedAt: time.Now()})
	return err
}
