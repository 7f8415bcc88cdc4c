package postgres_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/storage/storagetest"
)

// finishJob records a job of flow at finish for admin "ada" of a fresh org "acme" whose provider and
// identity earlier stages created, with messages added by them and, for a setup, the provider config.
func finishJob(d *db, flow string, config map[string]any, messages ...string) (id uuid.UUID, org, provider, admin int64) {
	d.T.Helper()
	org, admin = d.Org("acme", false), d.User("ada")
	member := d.Member(org, admin, "owner")
	provider = d.Provider(org, "okta", false)
	identity := d.Identity(provider, admin, "ada-idp", `{}`)
	req := linkRequest(org, admin, "ada-idp")
	if flow == ssosetup.FlowSetup {
		req = setupRequest(org, admin)
		req.Provider.Config = config
	}
	id = d.job(req, ssosetup.StageFinish, ssosetup.Job{OrganizationID: org, AuthProviderID: provider,
		IdentityID: identity, MemberID: member, WasMember: true})
	raw, err := json.Marshal(messages)
	if err != nil {
		d.T.Fatal(err)
	}
	d.Exec(`UPDATE setups SET messages = $2 WHERE id = $1`, id, raw)
	return id, org, provider, admin
}

// setupConfig is a provider config with secrets at the top and nested.
var setupConfig = map[string]any{"domain": "acme.okta.com", "client_secret": "s3cr3t", "password": "s3cr3t",
	"saml": map[string]any{"entity_id": "acme", "private_key": "s3cr3t"}}

// TestFinish has one case per branch of SPEC §3.7.
func TestFinish(t *testing.T) {
	t.Parallel()
	linked, configured := ssosetup.MessageLinked, ssosetup.MessageConfigured
	for _, tc := range []struct {
		name         string
		flow         string
		messages     []string // added by earlier stages
		redirect     string
		wantMessages []string
	}{
		{"setup that linked a new identity", ssosetup.FlowSetup, []string{linked}, "/settings/acme/auth/", []string{linked, configured}},
		{"setup that re-linked an identity", ssosetup.FlowSetup, nil, "/settings/acme/auth/", []string{configured}},
		{"link of a new identity", ssosetup.FlowLink, []string{linked}, "/organizations/acme/issues/", []string{linked}},
		{"re-link", ssosetup.FlowLink, nil, "/organizations/acme/issues/", []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := newDB(t)
			id, org, provider, admin := finishJob(d, tc.flow, setupConfig, tc.messages...)
			before := d.Snapshot(storagetest.DomainTables...)

			out, err := d.run(ssosetup.StageFinish, id)
			if err != nil {
				t.Fatal(err)
			}

			setup := tc.flow == ssosetup.FlowSetup
			if out.Status != ssosetup.StageDone || out.Detail != "succeeded" || out.Signalled != setup {
				t.Errorf("outcome %s %q signalled %v", out.Status, out.Detail, out.Signalled)
			}
			if r := out.Job.Result; r == nil || r.Redirect != tc.redirect || !slices.Equal(r.Messages, tc.wantMessages) {
				t.Errorf("outcome's result %+v, want %s %q", r, tc.redirect, tc.wantMessages)
			}
			d.assertSucceeded(id, tc.redirect, tc.wantMessages)
			if !setup {
				d.AssertUnchanged(before, d.Snapshot(storagetest.DomainTables...))
				d.assertRerunNoop(ssosetup.StageFinish, id)
				return
			}
			d.assertSSOEnabled(id, org, provider, admin)
			var config string
			d.Scan(`SELECT data->'config' FROM audit_log_entries WHERE setup_id = $1`, []any{id}, &config)
			var got map[string]any
			if err := json.Unmarshal([]byte(config), &got); err != nil {
				t.Fatal(err)
			}
			saml, _ := got["saml"].(map[string]any)
			if got["domain"] != "acme.okta.com" || got["client_secret"] != "[redacted]" || got["password"] != "[redacted]" ||
				saml["entity_id"] != "acme" || saml["private_key"] != "[redacted]" || strings.Contains(config, "s3cr3t") {
				t.Errorf("sso.enable config %s, want the provider config with its secrets redacted", config)
			}
			d.assertRerunNoop(ssosetup.StageFinish, id)
		})
	}
}

// assertSucceeded checks the job's end as the web tier reads it: succeeded, finished, with the redirect and
// the messages in order (an array even when empty).
func (d *db) assertSucceeded(id uuid.UUID, redirect string, messages []string) {
	d.T.Helper()
	if got := d.stageRecord(id, ssosetup.StageFinish); got != "done: succeeded" {
		d.T.Errorf("stage record %q", got)
	}
	st, err := d.store.SetupStatus(d.Ctx, id)
	if err != nil {
		d.T.Fatal(err)
	}
	if st.Status != ssosetup.StatusSucceeded || st.Stage != ssosetup.StageFinish || st.FinishedAt == nil || st.Error != nil {
		d.T.Errorf("job %s at %s finished %v error %+v", st.Status, st.Stage, st.FinishedAt, st.Error)
	}
	if st.Result == nil || st.Result.Redirect != redirect || st.Result.Messages == nil || !slices.Equal(st.Result.Messages, messages) {
		d.T.Errorf("result %+v, want %s %q", st.Result, redirect, messages)
	}
}

// assertSSOEnabled checks a setup's finish wrote exactly its sso.enable entry and sso_enabled signal.
func (d *db) assertSSOEnabled(id uuid.UUID, org, provider, admin int64) {
	d.T.Helper()
	if got := d.audits(id); !slices.Equal(got, []string{"sso.enable"}) {
		d.T.Errorf("audits %v, want [sso.enable]", got)
	}
	if n := d.QueryInt(`SELECT count(*) FROM audit_log_entries WHERE setup_id = $1 AND event = 'sso.enable'
		AND organization_id = $2 AND target_object_id = $3 AND actor_user_id = $4 AND data->>'provider' = 'okta'`,
		id, org, provider, admin); n != 1 {
		d.T.Errorf("no sso.enable entry of the org targeting provider %d with its key", provider)
	}
	if n := d.QueryInt(`SELECT count(*) FROM signals WHERE organization_id = $1 AND delivered_at IS NULL`, org); n != 1 {
		d.T.Errorf("%d signals, want 1", n)
	}
	if n := d.QueryInt(`SELECT count(*) FROM signals WHERE setup_id = $1 AND name = 'sso_enabled' AND organization_id = $2
		AND args = jsonb_build_object('user_id', $3::bigint, 'provider', 'okta')`, id, org, admin); n != 1 {
		d.T.Error("no sso_enabled signal {user_id, provider}")
	}
}

// TestFinishRedactsEverySecretKey checks the sso.enable config against every key word of SPEC §4.
func TestFinishRedactsEverySecretKey(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	config := map[string]any{"domain": "acme.okta.com"}
	for _, key := range []string{"api_secret", "admin_password", "private_cert", "access_token", "signing_key",
		"passwd", "key_passphrase", "client_credentials", "authorization", "cookie"} {
		config[key] = "s3cr3t"
	}
	id, _, _, _ := finishJob(d, ssosetup.FlowSetup, config)
	if _, err := d.run(ssosetup.StageFinish, id); err != nil {
		t.Fatal(err)
	}
	var data string
	d.Scan(`SELECT data::text FROM audit_log_entries WHERE setup_id = $1 AND event = 'sso.enable'`, []any{id}, &data)
	if strings.Contains(data, "s3cr3t") || !strings.Contains(data, "acme.okta.com") {
		t.Errorf("sso.enable data %s, want every secret redacted and the domain kept", data)
	}
}

// TestFinishConcurrentRuns delivers a setup's finish four times at once: one audit entry, one signal, the
// messages once each.
func TestFinishConcurrentRuns(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	id, org, provider, admin := finishJob(d, ssosetup.FlowSetup, setupConfig, ssosetup.MessageLinked)

	out, err := d.runConcurrently(ssosetup.StageFinish, id, 4)
	if err != nil || out.Status != ssosetup.StageDone || !out.Signalled {
		t.Fatalf("the run that did the stage: %s signalled %v, %v", out.Status, out.Signalled, err)
	}
	d.assertSucceeded(id, "/settings/acme/auth/", []string{ssosetup.MessageLinked, ssosetup.MessageConfigured})
	d.assertSSOEnabled(id, org, provider, admin)
}
