package worker

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/storage/storagetest"
)

func linkRequest(org, user int64, ident string) ssosetup.Request {
	return ssosetup.Request{
		Flow: ssosetup.FlowLink, OrganizationID: org, UserID: user, Authenticated: true, PipelineUserID: user,
		Identity: ssosetup.Identity{ID: ident, Email: "someone@idp.test", Data: map[string]any{"access_token": "new"}},
	}
}

type memberRow struct {
	ID                                                int64
	UserID                                            *int64
	Email, Token                                      *string
	Role, InviteStatus                                string
	Linked, Invalid, Restricted, Provisioned, RoleRst bool
}

func (h *harness) memberRow(id int64) (memberRow, bool) {
	h.T.Helper()
	var m memberRow
	err := h.Pool.QueryRow(h.Ctx, `SELECT id, user_id, email, token, role, invite_status, sso_linked, sso_invalid,
		member_limit_restricted, idp_provisioned, idp_role_restricted FROM organization_members WHERE id = $1`, id).
		Scan(&m.ID, &m.UserID, &m.Email, &m.Token, &m.Role, &m.InviteStatus, &m.Linked, &m.Invalid, &m.Restricted,
			&m.Provisioned, &m.RoleRst)
	return m, err == nil
}

func (h *harness) memberOf(org, user int64) (memberRow, bool) {
	h.T.Helper()
	var id int64
	if err := h.Pool.QueryRow(h.Ctx, `SELECT id FROM organization_members WHERE organization_id = $1 AND user_id = $2`, org, user).Scan(&id); err != nil {
		return memberRow{}, false
	}
	return h.memberRow(id)
}

func (h *harness) mustSucceed(req ssosetup.Request) ssosetup.SetupStatus {
	h.T.Helper()
	st := h.wait(h.submit(req))
	if st.Status != ssosetup.StatusSucceeded {
		h.T.Fatalf("status %s, error %+v", st.Status, st.Error)
	}
	return st
}

func stageDetail(st ssosetup.SetupStatus, name string) string {
	for _, s := range st.Stages {
		if s.Name == name {
			return s.Status + ": " + s.Detail
		}
	}
	return ""
}

func TestLinkCreatesMembership(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start()
	open := h.Org("open", false)
	h.Exec(`UPDATE organizations SET default_role = 'admin' WHERE id = $1`, open)
	closed := h.Org("closed", false)
	h.Exec(`UPDATE organizations SET invite_members_enabled = false WHERE id = $1`, closed)
	for _, org := range []int64{open, closed} {
		h.Provider(org, "okta", false)
	}
	user := h.User("bar")

	for _, tc := range []struct {
		org        int64
		role       string
		restricted bool
	}{{open, "admin", false}, {closed, "member", true}} {
		st := h.mustSucceed(linkRequest(tc.org, user, "bar-idp"))
		m, ok := h.memberOf(tc.org, user)
		if !ok || m.Role != tc.role || !m.Linked || m.Invalid || m.Restricted != tc.restricted {
			t.Errorf("org %d member %+v, want role %s restricted %v", tc.org, m, tc.role, tc.restricted)
		}
		if !slices.Equal(st.Result.Messages, []string{ssosetup.MessageLinked}) {
			t.Errorf("messages %q", st.Result.Messages)
		}
		slug := map[int64]string{open: "open", closed: "closed"}[tc.org]
		if st.Result.Redirect != "/organizations/"+slug+"/issues/" {
			t.Errorf("redirect %q", st.Result.Redirect)
		}
		if got := stageDetail(st, "disable_2fa"); got != "skipped: link flow" {
			t.Errorf("disable_2fa %q", got)
		}
		if got := h.audits(tc.org); !slices.Equal(got, []string{"sso-identity.link", "member.add"}) {
			t.Errorf("audits %v", got)
		}
		var data map[string]any
		h.Scan(`SELECT data FROM audit_log_entries WHERE organization_id = $1 AND event = 'member.add' AND target_object_id = $2 AND target_user_id = $3`,
			[]any{tc.org, m.ID, user}, &data)
		if data["role"] != tc.role || data["email"] != "bar@example.test" || data["invite_status"] != "approved" {
			t.Errorf("member.add data %v", data)
		}
	}
}

func TestLinkRelinksExistingIdentity(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start()
	org := h.Org("relink", false)
	p := h.Provider(org, "okta", false)
	user := h.User("foo")
	h.Member(org, user, "member")
	byIdent := h.Identity(p, user, "foo-idp", `{"refresh_token": "rt-old", "access_token": "old"}`)

	st := h.mustSucceed(linkRequest(org, user, "foo-idp"))
	if len(st.Result.Messages) != 0 || len(h.audits(org)) != 0 {
		t.Errorf("re-link wrote messages %q or audits %v", st.Result.Messages, h.audits(org))
	}
	var data map[string]any
	var fresh bool
	h.Scan(`SELECT data, last_verified > now() - interval '1 minute' AND last_synced > now() - interval '1 minute'
		FROM auth_identities WHERE id = $1`, []any{byIdent}, &data, &fresh)
	if data["access_token"] != "new" || data["refresh_token"] != "rt-old" || !fresh {
		t.Errorf("identity data %v, verified now %v", data, fresh)
	}
	if m, _ := h.memberOf(org, user); !m.Linked || m.Invalid {
		t.Errorf("member %+v not linked", m)
	}

	// The IdP's id for the user changed: the same row takes the new ident.
	h.mustSucceed(linkRequest(org, user, "foo-idp-v2"))
	var ident string
	h.Scan(`SELECT ident FROM auth_identities WHERE id = $1`, []any{byIdent}, &ident)
	if ident != "foo-idp-v2" || h.QueryInt(`SELECT count(*) FROM auth_identities`) != 1 {
		t.Errorf("ident %q, %d identities", ident, h.QueryInt(`SELECT count(*) FROM auth_identities`))
	}
}

func TestLinkTakesOverAnotherUsersIdentity(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start()
	org := h.Org("swap", false)
	p := h.Provider(org, "okta", false)
	u1, u2 := h.User("u1"), h.User("u2")
	m1, m2 := h.Member(org, u1, "member"), h.Member(org, u2, "member")
	h.Exec(`UPDATE organization_members SET sso_linked = true, idp_provisioned = true WHERE id = $1`, m2)
	own := h.Identity(p, u1, "bar@", `{}`)
	theirs := h.Identity(p, u2, "adfadsf@", `{}`)

	h.mustSucceed(linkRequest(org, u1, "adfadsf@"))

	if n := h.QueryInt(`SELECT count(*) FROM auth_identities WHERE id = $1`, own); n != 0 {
		t.Error("the acting user's other identity was not deleted")
	}
	if owner := h.QueryInt(`SELECT user_id FROM auth_identities WHERE id = $1`, theirs); owner != u1 {
		t.Errorf("identity belongs to %d, want %d", owner, u1)
	}
	if m, _ := h.memberRow(m1); !m.Linked || m.Invalid {
		t.Errorf("acting member %+v", m)
	}
	if m, _ := h.memberRow(m2); m.Linked || !m.Invalid || !m.Provisioned || m.Restricted {
		t.Errorf("previous owner's member %+v, want invalid, unlinked, other flags kept", m)
	}
}

func TestLinkAcceptsApprovedInvite(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start()
	org := h.Org("inv", false)
	h.Provider(org, "okta", false)
	byEmail, byToken := h.User("bar"), h.User("tok")
	later := time.Now().Add(time.Hour)
	inv1 := h.Invite(org, "BAR@Example.TEST", "t-1", "approved", &later, "admin")
	inv2 := h.Invite(org, "elsewhere@example.test", "t-2", "approved", nil, "member")

	st := h.mustSucceed(linkRequest(org, byEmail, "bar-idp"))
	req := linkRequest(org, byToken, "tok-idp")
	req.Invite = &ssosetup.Invite{MemberID: inv2, Token: "t-2"}
	st2 := h.mustSucceed(req)

	for _, c := range []struct {
		inv, user int64
		st        ssosetup.SetupStatus
		role      string
	}{{inv1, byEmail, st, "admin"}, {inv2, byToken, st2, "member"}} {
		m, _ := h.memberRow(c.inv)
		if m.UserID == nil || *m.UserID != c.user || m.Email != nil || m.Token != nil || !m.Linked || m.Invalid || m.Role != c.role {
			t.Errorf("invite %d after accept: %+v", c.inv, m)
		}
		if got := stageDetail(c.st, "new_membership"); got != "skipped: approved invite" {
			t.Errorf("new_membership %q", got)
		}
		if got := stageDetail(c.st, "accept_invite"); got != "done: invite accepted" {
			t.Errorf("accept_invite %q", got)
		}
		if n := h.QueryInt(`SELECT count(*) FROM audit_log_entries WHERE setup_id = $1 AND event IN ('member.accept-invite', 'member.add') AND target_object_id = $2`, c.st.SetupID, c.inv); n != 2 {
			t.Errorf("%d accept audits, want 2", n)
		}
		if n := h.QueryInt(`SELECT count(*) FROM signals WHERE setup_id = $1 AND name = 'member_joined' AND (args->>'organization_member_id')::bigint = $2`, c.st.SetupID, c.inv); n != 1 {
			t.Errorf("%d member_joined signals, want 1", n)
		}
	}
	h.eventually("onboarding task completed", func() bool {
		return h.QueryInt(`SELECT count(*) FROM onboarding_tasks WHERE organization_id = $1 AND task = 'invite_member' AND status = 'complete' AND (data->>'invited_member_id')::bigint = $2`, org, inv1) == 1
	})
}

func TestLinkIgnoresExpiredAndWrongInvites(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start()
	org := h.Org("exp", false)
	h.Provider(org, "okta", false)
	user := h.User("bar")
	past := time.Now().Add(-time.Hour)
	expired := h.Invite(org, "bar@example.test", "t-exp", "approved", &past, "owner")
	other := h.Invite(org, "other@example.test", "t-right", "approved", nil, "admin")
	req := linkRequest(org, user, "bar-idp")
	req.Invite = &ssosetup.Invite{MemberID: other, Token: "t-wrong"}
	h.mustSucceed(req)

	m, ok := h.memberOf(org, user)
	if !ok || m.ID == expired || m.ID == other || m.Role != "member" {
		t.Errorf("membership %+v: an expired or wrong-token invite was used", m)
	}
	for _, id := range []int64{expired, other} {
		if m, ok := h.memberRow(id); !ok || m.UserID != nil || m.Email == nil {
			t.Errorf("invite %d was modified: %+v", id, m)
		}
	}
}

func TestLinkReplacesInviteRequest(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start()
	org := h.Org("req", false)
	h.Provider(org, "okta", false)
	user := h.User("bar")
	request := h.Invite(org, "bar@example.test", "", "requested_to_join", nil, "member")

	st := h.mustSucceed(linkRequest(org, user, "bar-idp"))

	if _, ok := h.memberRow(request); ok {
		t.Error("the invite request was not deleted")
	}
	if _, ok := h.memberOf(org, user); !ok {
		t.Error("no membership created")
	}
	var email string
	h.Scan(`SELECT data->>'email' FROM audit_log_entries WHERE setup_id = $1 AND event = 'invite-request.remove'`, []any{st.SetupID}, &email)
	if email != "bar@example.test" {
		t.Errorf("invite-request.remove email %q", email)
	}
	if got := h.audits(org); !slices.Equal(got, []string{"sso-identity.link", "invite-request.remove", "member.add"}) {
		t.Errorf("audits %v", got)
	}
}

func TestLinkPreconditions(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start()
	bare := h.Org("bare", false)
	org := h.Org("okta", false)
	h.Provider(org, "okta", false)
	user := h.User("bar")

	for _, tc := range []struct {
		org  int64
		key  string
		code string
		slug string
	}{{bare, "", ssosetup.CodeProviderNotConfigured, "bare"}, {org, "google", ssosetup.CodeProviderMismatch, "okta"}} {
		req := linkRequest(tc.org, user, "bar-idp")
		if tc.key != "" {
			req.Provider = &ssosetup.Provider{Key: tc.key}
		}
		st := h.wait(h.submit(req))
		if st.Error == nil || st.Error.Code != tc.code || st.Error.Redirect != "/auth/login/"+tc.slug+"/" {
			t.Errorf("%s: %s %+v", tc.code, st.Status, st.Error)
		}
	}
	if n := h.QueryInt(`SELECT count(*) FROM organization_members`); n != 0 {
		t.Errorf("%d members written by failed jobs", n)
	}
}

func TestLinkRemovesDuplicateInviteOfMember(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start()
	org := h.Org("dup", false)
	h.Provider(org, "okta", false)
	user := h.User("bar")
	h.Member(org, user, "member")
	past := time.Now().Add(-time.Hour)
	dup := h.Invite(org, "Bar@example.test", "t", "approved", nil, "admin")
	expired := h.Invite(org, "BAR@example.test", "t2", "approved", &past, "admin")

	st := h.mustSucceed(linkRequest(org, user, "bar-idp"))
	if _, ok := h.memberRow(dup); ok {
		t.Error("duplicate pending invite left behind")
	}
	if _, ok := h.memberRow(expired); !ok {
		t.Error("expired invite was deleted")
	}
	if got := stageDetail(st, "accept_invite"); got != "done: Pending org invite not accepted - User already org member" {
		t.Errorf("accept_invite %q", got)
	}
}

func TestAcceptInviteRequiresSSOIdentity(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.runBatcher()
	org := h.Org("strict", false)
	p := h.Provider(org, "okta", false)
	user := h.User("bar")
	inv := h.Invite(org, "bar@example.test", "", "approved", nil, "member")
	id := h.submit(linkRequest(org, user, "bar-idp"))
	run := ssosetup.Run{SetupID: id, Attempt: 1, StartedAt: time.Now()}
	for _, stage := range ssosetup.Stages[:4] { // up to new_membership
		if _, err := h.store.RunStage(h.Ctx, stage, run, nil); err != nil {
			t.Fatal(err)
		}
	}
	// The identity disappears before accept_invite (another user took it over).
	h.Exec(`DELETE FROM auth_identities WHERE auth_provider_id = $1`, p)
	before := h.Snapshot(storagetest.DomainTables...)
	_, err := h.store.RunStage(h.Ctx, ssosetup.StageAcceptInvite, run, nil)
	if je, ok := ssosetup.AsJobError(err); !ok || je.Code != ssosetup.CodeSSORequired {
		t.Fatalf("accept_invite = %v, want sso_required", err)
	}
	h.AssertUnchanged(before, h.Snapshot(storagetest.DomainTables...))
	if m, ok := h.memberRow(inv); !ok || m.UserID != nil {
		t.Errorf("invite accepted without SSO, or gone: %+v (found %v)", m, ok)
	}
	st, err := h.store.SetupStatus(h.Ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != ssosetup.StatusFailed || st.Error.Code != ssosetup.CodeSSORequired || st.Error.Message != ssosetup.Message(ssosetup.CodeSSORequired) {
		t.Errorf("job %s %+v", st.Status, st.Error)
	}
}

func TestConcurrentLinksOfOneUser(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start()
	org := h.Org("same", false)
	h.Provider(org, "okta", false)
	plain, invited := h.User("plain"), h.User("invited")
	h.Invite(org, "invited@example.test", "", "approved", nil, "member")

	for _, user := range []int64{plain, invited} {
		var wg sync.WaitGroup
		ids := make([]uuid.UUID, 3)
		for i := range ids {
			wg.Go(func() { ids[i] = h.submit(linkRequest(org, user, "idp-"+uuid.NewString()[:4])) })
		}
		wg.Wait()
		for _, id := range ids {
			if st := h.wait(id); st.Status != ssosetup.StatusSucceeded {
				t.Errorf("user %d job %s: %+v", user, st.Status, st.Error)
			}
		}
		if n := h.QueryInt(`SELECT count(*) FROM organization_members WHERE organization_id = $1 AND user_id = $2`, org, user); n != 1 {
			t.Errorf("user %d has %d memberships", user, n)
		}
		if n := h.QueryInt(`SELECT count(*) FROM audit_log_entries WHERE event = 'member.add' AND target_user_id = $1`, user); n != 1 {
			t.Errorf("user %d has %d member.add audits", user, n)
		}
	}
	if n := h.QueryInt(`SELECT count(*) FROM organization_members WHERE organization_id = $1 AND user_id IS NULL`, org); n != 0 {
		t.Errorf("%d orphan invite rows", n)
	}
}

func TestFiftyConcurrentLinksIntoOneOrg(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start()
	org := h.Org("fifty", false)
	h.Provider(org, "okta", false)
	ids := make([]uuid.UUID, 50)
	var wg sync.WaitGroup
	for i := range ids {
		user := h.User("user" + uuid.NewString()[:8])
		wg.Go(func() { ids[i] = h.submit(linkRequest(org, user, "idp-"+uuid.NewString())) })
	}
	wg.Wait()
	for _, id := range ids {
		if st := h.wait(id); st.Status != ssosetup.StatusSucceeded {
			t.Fatalf("job %s: %+v", st.Status, st.Error)
		}
	}
	for what, sql := range map[string]string{
		"memberships":       `SELECT count(DISTINCT user_id) FROM organization_members WHERE organization_id = $1 AND user_id IS NOT NULL`,
		"member rows":       `SELECT count(*) FROM organization_members WHERE organization_id = $1`,
		"identities":        `SELECT count(*) FROM auth_identities i JOIN auth_providers p ON p.id = i.auth_provider_id WHERE p.organization_id = $1`,
		"member.add audits": `SELECT count(*) FROM audit_log_entries WHERE organization_id = $1 AND event = 'member.add'`,
		"distinct audits":   `SELECT count(DISTINCT (setup_id, event)) FROM audit_log_entries WHERE organization_id = $1 AND event = 'member.add'`,
	} {
		if n := h.QueryInt(sql, org); n != 50 {
			t.Errorf("%s: %d, want 50", what, n)
		}
	}
}
