package worker

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/storage/storagetest"
)

func TestSetupFlowBasic(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start()
	org := h.Org("acme", false)
	admin, other := h.User("ada"), h.User("bob")
	adminMember := h.Member(org, admin, "owner")
	h.Exec(`UPDATE organization_members SET idp_provisioned = true, idp_role_restricted = true WHERE id = $1`, adminMember)
	otherMember := h.Member(org, other, "member")
	h.Exec(`INSERT INTO organization_members (organization_id, email, token) VALUES ($1, 'carol@example.test', 'tok')`, org)

	st := h.wait(h.submit(setupRequest(org, admin)))

	if st.Status != ssosetup.StatusSucceeded || st.Error != nil {
		t.Fatalf("status %s, error %+v", st.Status, st.Error)
	}
	if st.Result.Redirect != "/settings/acme/auth/" {
		t.Errorf("redirect = %q", st.Result.Redirect)
	}
	wantMessages := []string{ssosetup.MessageLinked, ssosetup.MessageConfigured}
	if !slices.Equal(st.Result.Messages, wantMessages) {
		t.Errorf("messages = %q, want %q", st.Result.Messages, wantMessages)
	}
	var stages []string
	for _, s := range st.Stages {
		stages = append(stages, s.Name+":"+s.Status)
	}
	wantStages := []string{"start:done", "disable_2fa:skipped", "attach_identity:done", "new_membership:skipped",
		"accept_invite:skipped", "save_event:done", "finish:done"}
	if !slices.Equal(stages, wantStages) {
		t.Errorf("stages = %v, want %v", stages, wantStages)
	}

	if n := h.QueryInt(`SELECT count(*) FROM auth_providers WHERE organization_id = $1 AND provider = 'okta' AND NOT allow_unlinked AND NOT scim_enabled`, org); n != 1 {
		t.Errorf("%d providers, want 1", n)
	}
	if n := h.QueryInt(`SELECT count(*) FROM auth_identities WHERE user_id = $1 AND ident = $2`, admin, "idp-"+strconv.FormatInt(admin, 10)); n != 1 {
		t.Errorf("%d identities of the admin, want 1", n)
	}
	var linked, invalid, provisioned, roleRestricted bool
	if err := h.Pool.QueryRow(h.Ctx, `SELECT sso_linked, sso_invalid, idp_provisioned, idp_role_restricted FROM organization_members WHERE id = $1`, adminMember).
		Scan(&linked, &invalid, &provisioned, &roleRestricted); err != nil {
		t.Fatal(err)
	}
	if !linked || invalid || !provisioned || !roleRestricted {
		t.Errorf("admin member flags: linked=%v invalid=%v idp_provisioned=%v idp_role_restricted=%v", linked, invalid, provisioned, roleRestricted)
	}

	audits := h.audits(org)
	if !slices.Equal(audits, []string{"sso-identity.link", "sso.enable"}) {
		t.Errorf("audit events = %v", audits)
	}
	var enableData, linkData string
	h.Scan(`SELECT data::text FROM audit_log_entries WHERE event = 'sso.enable'`, nil, &enableData)
	h.Scan(`SELECT data::text FROM audit_log_entries WHERE event = 'sso-identity.link'`, nil, &linkData)
	for _, secret := range []string{"s3cr3t-config", "s3cr3t-token"} {
		if strings.Contains(enableData+linkData, secret) {
			t.Errorf("audit data leaks %q: %s %s", secret, enableData, linkData)
		}
	}
	if cfg := jsonOf(t, enableData)["config"].(map[string]any); cfg["client_secret"] != "[redacted]" || cfg["domain"] != "acme.okta.com" {
		t.Errorf("sso.enable config = %v", cfg)
	}

	h.eventually("feature adoption recorded", func() bool {
		return h.QueryInt(`SELECT count(*) FROM feature_adoptions WHERE organization_id = $1 AND feature = 'sso' AND complete`, org) == 1
	})
	h.eventually("link e-mails sent", func() bool { return len(h.mailer.recipients()) == 2 })
	got := h.mailer.recipients()
	slices.Sort(got)
	want := []string{"bob@example.test|Action Required for Org acme", "carol@example.test|Action Required for Org acme"}
	if !slices.Equal(got, want) {
		t.Errorf("e-mails to %v, want %v", got, want)
	}
	if n := h.QueryInt(`SELECT count(*) FROM outbound_emails WHERE member_id = $1`, otherMember); n != 1 {
		t.Errorf("%d e-mails recorded for the unlinked member, want 1", n)
	}
	if n := h.QueryInt(`SELECT count(*) FROM outbound_emails WHERE body LIKE '%https://sso.example/auth/login/acme/%' AND sent_at IS NOT NULL`); n != 2 {
		t.Errorf("%d sent e-mails carry the login link, want 2", n)
	}
	if n := h.eventCount(st.SetupID); n != 1 {
		t.Errorf("%d events in ClickHouse, want 1", n)
	}
}

func TestSetupFlowClearsRequire2FA(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start()
	org := h.Org("twofa", true)
	admin := h.User("ada")
	h.Member(org, admin, "owner")

	st := h.wait(h.submit(setupRequest(org, admin)))

	if st.Status != ssosetup.StatusSucceeded {
		t.Fatalf("status %s, error %+v", st.Status, st.Error)
	}
	if n := h.QueryInt(`SELECT count(*) FROM organizations WHERE id = $1 AND require_2fa`, org); n != 0 {
		t.Error("require_2fa still set")
	}
	var target int64
	var actor, data string
	err := h.Pool.QueryRow(h.Ctx, `SELECT target_object_id, actor_label, data->>'require_2fa' FROM audit_log_entries WHERE event = 'org.edit'`).
		Scan(&target, &actor, &data)
	if err != nil {
		t.Fatalf("org.edit audit: %v", err)
	}
	if target != org || actor != "ada" || data != "to False when enabling SSO" {
		t.Errorf("org.edit audit: target %d actor %q data %q", target, actor, data)
	}
	if st.Stages[1].Status != ssosetup.StageDone {
		t.Errorf("disable_2fa recorded %s", st.Stages[1].Status)
	}
}

func TestStartPreconditions(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start()
	org := h.Org("pre", false)
	admin, outsider, inactive := h.User("admin"), h.User("outsider"), h.User("inactive")
	h.Member(org, admin, "owner")
	h.Exec(`UPDATE users SET is_active = false WHERE id = $1`, inactive)
	configured := h.Org("configured", false)
	h.Member(configured, admin, "owner")
	h.Exec(`INSERT INTO auth_providers (organization_id, provider) VALUES ($1, 'google')`, configured)

	cases := []struct {
		name     string
		edit     func(*ssosetup.Request)
		code     string
		redirect string
	}{
		{"not authenticated", func(r *ssosetup.Request) { r.Authenticated = false }, ssosetup.CodeNotAuthenticated, "/settings/pre/auth/"},
		{"uid mismatch", func(r *ssosetup.Request) { r.PipelineUserID = outsider }, ssosetup.CodeUIDMismatch, "/settings/pre/auth/"},
		{"org not found", func(r *ssosetup.Request) { r.OrganizationID = 999999 }, ssosetup.CodeOrgNotFound, "/"},
		{"unknown user", func(r *ssosetup.Request) { r.UserID, r.PipelineUserID = 999999, 999999 }, ssosetup.CodeUserNotFound, "/settings/pre/auth/"},
		{"inactive user", func(r *ssosetup.Request) { r.UserID, r.PipelineUserID = inactive, inactive }, ssosetup.CodeUserNotFound, "/settings/pre/auth/"},
		{"no identity id", func(r *ssosetup.Request) { r.Identity.ID = "" }, ssosetup.CodeInvalidIdentity, "/settings/pre/auth/"},
		{"not a member", func(r *ssosetup.Request) { r.UserID, r.PipelineUserID = outsider, outsider }, ssosetup.CodeNotAMember, "/settings/pre/auth/"},
		{"already configured", func(r *ssosetup.Request) { r.OrganizationID = configured }, ssosetup.CodeAlreadyConfigured, "/settings/configured/auth/"},
	}
	for _, tc := range cases {
		before := h.Snapshot(storagetest.DomainTables...)
		req := setupRequest(org, admin)
		tc.edit(&req)
		st := h.wait(h.submit(req))
		if st.Status != ssosetup.StatusFailed || st.Error == nil {
			t.Errorf("%s: status %s, want failed", tc.name, st.Status)
			continue
		}
		if st.Error.Code != tc.code || st.Error.Message != ssosetup.Message(tc.code) || st.Error.Redirect != tc.redirect {
			t.Errorf("%s: error %+v, want code %s redirect %s", tc.name, *st.Error, tc.code, tc.redirect)
		}
		if len(st.Stages) != 1 || st.Stages[0].Name != "start" || st.Stages[0].Status != "failed" {
			t.Errorf("%s: stages %+v, want only start failed", tc.name, st.Stages)
		}
		h.AssertUnchanged(before, h.Snapshot(storagetest.DomainTables...))
	}
}

func TestConcurrentSetupsOfOneOrg(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start()
	org := h.Org("race", false)
	a, b := h.User("a"), h.User("b")
	h.Member(org, a, "owner")
	h.Member(org, b, "owner")

	var wg sync.WaitGroup
	ids := make([]uuid.UUID, 2)
	for i, u := range []int64{a, b} {
		wg.Go(func() { ids[i] = h.submit(setupRequest(org, u)) })
	}
	wg.Wait()
	codes := map[string]int{}
	for _, id := range ids {
		st := h.wait(id)
		if st.Error != nil {
			codes[st.Error.Code]++
		} else {
			codes[st.Status]++
		}
	}
	if codes[ssosetup.StatusSucceeded] != 1 || codes[ssosetup.CodeAlreadyConfigured] != 1 {
		t.Errorf("outcomes %v, want one succeeded and one already_configured", codes)
	}
	if n := h.QueryInt(`SELECT count(*) FROM auth_providers WHERE organization_id = $1`, org); n != 1 {
		t.Errorf("%d providers, want 1", n)
	}
	if n := h.QueryInt(`SELECT count(*) FROM audit_log_entries WHERE event = 'sso.enable'`); n != 1 {
		t.Errorf("%d sso.enable audits, want 1", n)
	}
}

func (h *harness) audits(org int64) []string {
	h.T.Helper()
	rows, err := h.Pool.Query(h.Ctx, `SELECT event FROM audit_log_entries WHERE organization_id = $1 ORDER BY id`, org)
	if err != nil {
		h.T.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			h.T.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}
