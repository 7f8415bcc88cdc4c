package postgres_test

import (
	"encoding/json"
	"testing"

	"github.com/google/uuid"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/storage/storagetest"
)

// disable2FAJob records a job of flow at disable_2fa for a fresh org "acme" with require2FA, and an org
// "other" that also requires 2FA, which no stage of this job may touch.
func disable2FAJob(d *db, flow string, require2FA bool) (id uuid.UUID, org, other, admin int64) {
	d.T.Helper()
	org, other, admin = d.Org("acme", require2FA), d.Org("other", true), d.User("ada")
	d.Member(org, admin, "owner")
	req := setupRequest(org, admin)
	if flow == ssosetup.FlowLink {
		req = linkRequest(org, admin, "idp")
	}
	return d.job(req, ssosetup.StageDisable2FA, ssosetup.Job{OrganizationID: org, WasMember: true}), org, other, admin
}

// TestDisable2FA has one case per branch of SPEC §3.2.
func TestDisable2FA(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		flow       string
		require2FA bool
		record     string
		notice     string // "" when the stage changes nothing
	}{
		{"link flow", ssosetup.FlowLink, true, "skipped: link flow", ""},
		{"require_2fa not set", ssosetup.FlowSetup, false, "skipped: require_2fa was not set", ""},
		{"require_2fa set", ssosetup.FlowSetup, true, "done: require_2fa disabled", "Require 2fa disabled during sso setup"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := newDB(t)
			id, org, other, admin := disable2FAJob(d, tc.flow, tc.require2FA)
			before := d.Snapshot(storagetest.DomainTables...)

			out, err := d.run(ssosetup.StageDisable2FA, id)
			if err != nil {
				t.Fatal(err)
			}

			if got := out.Status + ": " + out.Detail; got != tc.record || out.Notice != tc.notice || out.Signalled {
				t.Errorf("outcome %q notice %q signalled %v, want %q notice %q", got, out.Notice, out.Signalled, tc.record, tc.notice)
			}
			if out.Job.OrganizationID != org {
				t.Errorf("outcome's organization %d, want %d (the notice is logged with it)", out.Job.OrganizationID, org)
			}
			if got := d.stageRecord(id, ssosetup.StageDisable2FA); got != tc.record {
				t.Errorf("stage record %q, want %q", got, tc.record)
			}
			if got := d.jobState(id); got != "running attach_identity" {
				t.Errorf("job %q", got)
			}
			if n := d.QueryInt(`SELECT count(*) FROM organizations WHERE id = $1 AND require_2fa`, other); n != 1 {
				t.Error("another organization's require_2fa was cleared")
			}
			if tc.notice == "" {
				d.AssertUnchanged(before, d.Snapshot(storagetest.DomainTables...))
				d.assertRerunNoop(ssosetup.StageDisable2FA, id)
				return
			}
			if n := d.QueryInt(`SELECT count(*) FROM organizations WHERE id = $1 AND require_2fa`, org); n != 0 {
				t.Error("require_2fa still set")
			}
			if got := d.audits(id); len(got) != 1 || got[0] != "org.edit" {
				t.Fatalf("audits %v, want [org.edit]", got)
			}
			var target, actor int64
			var label string
			var raw []byte
			d.Scan(`SELECT target_object_id, actor_user_id, actor_label, data FROM audit_log_entries WHERE setup_id = $1`,
				[]any{id}, &target, &actor, &label, &raw)
			var data map[string]any
			if err := json.Unmarshal(raw, &data); err != nil {
				t.Fatal(err)
			}
			if target != org || actor != admin || label != "ada" || len(data) != 1 || data["require_2fa"] != "to False when enabling SSO" {
				t.Errorf("org.edit target %d actor %d %q data %v", target, actor, label, data)
			}
			d.assertRerunNoop(ssosetup.StageDisable2FA, id)
		})
	}
}

// TestDisable2FAConcurrentRuns delivers disable_2fa four times at once: require_2fa is cleared and audited once.
func TestDisable2FAConcurrentRuns(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	id, org, _, _ := disable2FAJob(d, ssosetup.FlowSetup, true)

	out, err := d.runConcurrently(ssosetup.StageDisable2FA, id, 4)
	if err != nil || out.Status != ssosetup.StageDone || out.Notice == "" {
		t.Fatalf("the run that did the stage: %s %q, %v", out.Status, out.Notice, err)
	}
	if n := d.QueryInt(`SELECT count(*) FROM audit_log_entries WHERE organization_id = $1`, org); n != 1 {
		t.Errorf("%d audit entries, want 1 org.edit", n)
	}
	if n := d.QueryInt(`SELECT count(*) FROM organizations WHERE id = $1 AND require_2fa`, org); n != 0 {
		t.Error("require_2fa still set")
	}
	if got := d.stageRecord(id, ssosetup.StageDisable2FA); got != "done: require_2fa disabled" {
		t.Errorf("stage record %q", got)
	}
}
