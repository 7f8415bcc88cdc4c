package worker

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/storage/clickhouse"
	"github.com/ssosetup/ssosetup/tasks"
)

// storedEvent is a job's event as ClickHouse holds it.
type storedEvent struct {
	Message, Release, Environment, Errors, Data, Contexts string
	Tags                                                  map[string]string
}

func (h *harness) storedEvent(id string) storedEvent {
	h.T.Helper()
	conn, err := clickhouse.Open(h.Ctx, h.chURL)
	if err != nil {
		h.T.Fatal(err)
	}
	defer conn.Close()
	var ev storedEvent
	var keys, values []string
	if err := conn.QueryRow(h.Ctx, `SELECT message, release, environment, errors, data, contexts, tags.key, tags.value
		FROM events FINAL WHERE setup_id = ?`, id).
		Scan(&ev.Message, &ev.Release, &ev.Environment, &ev.Errors, &ev.Data, &ev.Contexts, &keys, &values); err != nil {
		h.T.Fatal(err)
	}
	ev.Tags = map[string]string{}
	for i, k := range keys {
		ev.Tags[k] = values[i]
	}
	return ev
}

// A link job names no provider; its event names the organization's (SPEC §3.6).
func TestLinkEventNamesTheOrganizationsProvider(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start()
	org := h.Org("acme", false)
	h.Provider(org, "saml2", false)
	st := h.mustSucceed(linkRequest(org, h.User("ada"), "ada-idp"))

	ev := h.storedEvent(st.SetupID.String())
	if ev.Message != "SSO identity linked (saml2)" || ev.Tags["provider"] != "saml2" || ev.Tags["flow"] != "link" {
		t.Errorf("event message %q, tags %v", ev.Message, ev.Tags)
	}
	if ev.Errors != "[]" {
		t.Errorf("event errors %s, want none", ev.Errors)
	}
}

// An event crafted with what Sentry and Relay clean up arrives cleaned: its secrets filtered, reserved tags
// removed with errors, the millisecond timestamp replaced, and its release without an environment paired
// with the environment "" in Postgres.
func TestEventNormalizedEndToEnd(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start()
	org := h.Org("acme", false)
	req := setupRequest(org, h.User("ada"))
	h.Member(org, req.UserID, "owner")
	req.Event = json.RawMessage(`{"release": " web@1.2 ", "environment": "  ", "timestamp": 1700000000000,
		"logger": "` + strings.Repeat("l", 70) + `", "level": 30,
		"user": {"username": "ada", "ip_address": "not-an-ip"},
		"tags": {"user": "raw", "dist": "7", "environment": "staging", "team": "core"},
		"extra": {"db": {"password": "hunter2"}, "note": "kept"}, "contexts": {"app": {"session_id": "s-123"}}}`)
	st := h.mustSucceed(req)

	ev := h.storedEvent(st.SetupID.String())
	if ev.Release != "web@1.2" || ev.Environment != "" {
		t.Errorf("release %q environment %q", ev.Release, ev.Environment)
	}
	for _, secret := range []string{"hunter2", "s-123"} {
		if strings.Contains(ev.Data+ev.Contexts, secret) {
			t.Errorf("%q reached ClickHouse", secret)
		}
	}
	if !strings.Contains(ev.Data, `"password":"[Filtered]"`) || !strings.Contains(ev.Data, `"note":"kept"`) {
		t.Errorf("extra not scrubbed as Sentry does: %s", ev.Data)
	}
	want := map[string]string{"environment": "staging", "team": "core", "level": "warning",
		"logger": strings.Repeat("l", 64), "sentry:user": "username:ada", "sentry:release": "web@1.2"}
	for k, v := range want {
		if ev.Tags[k] != v {
			t.Errorf("tag %s = %q, want %q (tags %v)", k, ev.Tags[k], v, ev.Tags)
		}
	}
	for _, k := range []string{"user", "dist"} {
		if _, ok := ev.Tags[k]; ok {
			t.Errorf("reserved tag %s kept", k)
		}
	}
	var errs []struct{ Type, Name string }
	if err := json.Unmarshal([]byte(ev.Errors), &errs); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range errs {
		got = append(got, e.Type+":"+e.Name)
	}
	slices.Sort(got)
	if wantErrs := []string{"future_timestamp:timestamp", "invalid_data:tags", "invalid_data:tags",
		"invalid_data:user.ip_address", "value_too_long:logger"}; !slices.Equal(got, wantErrs) {
		t.Errorf("errors %v, want %v", got, wantErrs)
	}
	if n := h.QueryInt(`SELECT count(*) FROM release_environments re JOIN releases r ON r.id = re.release_id
		JOIN environments e ON e.id = re.environment_id
		WHERE re.organization_id = $1 AND r.version = 'web@1.2' AND e.name = ''`, org); n != 1 {
		t.Errorf("%d pairings of web@1.2 with the environment \"\", want 1", n)
	}
}

// A pending invite_member onboarding task, the usual state in Sentry before anyone joins, is completed by the
// member who joins by accepting an invite.
func TestMemberJoinedCompletesPendingOnboarding(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start()
	org := h.Org("acme", false)
	h.Provider(org, "okta", false)
	h.Exec(`INSERT INTO onboarding_tasks (organization_id, task, status) VALUES ($1, 'invite_member', 'pending')`, org)
	inv := h.Invite(org, "bar@example.test", "t-1", "approved", nil, "member")
	st := h.mustSucceed(linkRequest(org, h.User("bar"), "bar-idp"))
	if got := stageDetail(st, "accept_invite"); got != "done: invite accepted" {
		t.Fatalf("accept_invite %q", got)
	}
	h.eventually("the pending onboarding task completed by the new member", func() bool {
		return h.QueryInt(`SELECT count(*) FROM onboarding_tasks WHERE organization_id = $1 AND task = 'invite_member'
			AND status = 'complete' AND (data->>'invited_member_id')::bigint = $2`, org, inv) == 1
	})
}

// Two users hold the same invite. The first one's accept_invite waits, in a middleware, until the second
// one's job has accepted the invite: when it runs, the invite it was handed is no longer pending, and it must
// bring its user into the organization by a membership of its own (SPEC §3.5), never succeed without one.
func TestAcceptInviteFallbackUnderARace(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	org := h.Org("acme", false)
	h.Provider(org, "okta", false)
	inv := h.Invite(org, "team@example.test", "t-1", "approved", nil, "admin")
	first, second := h.User("first"), h.User("second")
	withInvite := func(user int64, ident string) ssosetup.Request {
		r := linkRequest(org, user, ident)
		r.Invite = &ssosetup.Invite{MemberID: inv, Token: "t-1"}
		return r
	}

	var held atomic.Bool
	var secondJob ssosetup.SetupStatus
	hold := func(next asynq.Handler) asynq.Handler {
		return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
			if t.Type() == tasks.StageType(ssosetup.StageAcceptInvite) {
				// The first accept_invite to arrive is the first job's: the second is submitted only here.
				// (sync.Once would make the second job's accept_invite wait for the first's.)
				if held.CompareAndSwap(false, true) {
					secondJob = h.wait(h.submit(withInvite(second, "second-idp")))
				}
			}
			return next.ProcessTask(ctx, t)
		})
	}
	cfg := h.workerConfig(10 * time.Millisecond)
	cfg.Middleware = []asynq.MiddlewareFunc{hold}
	h.worker = New(cfg)
	h.start()

	firstJob := h.mustSucceed(withInvite(first, "first-idp"))
	if secondJob.Status != ssosetup.StatusSucceeded || stageDetail(secondJob, "accept_invite") != "done: invite accepted" {
		t.Fatalf("second job %s, accept_invite %q; want it to accept the invite", secondJob.Status, stageDetail(secondJob, "accept_invite"))
	}
	if got := stageDetail(firstJob, "new_membership"); got != "skipped: approved invite" {
		t.Errorf("first job's new_membership %q, want the hand-over", got)
	}
	if got := stageDetail(firstJob, "accept_invite"); got != "done: invite no longer pending; membership created" {
		t.Errorf("first job's accept_invite %q, want a membership of its own", got)
	}
	invite, _ := h.memberRow(inv)
	if invite.UserID == nil || *invite.UserID != second || invite.Role != "admin" {
		t.Errorf("invite row %+v, want it accepted by the second user", invite)
	}
	m, ok := h.memberOf(org, first)
	if !ok || m.ID == inv || m.Role != "member" || !m.Linked {
		t.Errorf("first user's membership %+v (found %v), want a new one with the default role", m, ok)
	}
	if n := h.QueryInt(`SELECT count(*) FROM audit_log_entries WHERE setup_id = $1 AND event = 'member.add'
		AND target_object_id = $2 AND target_user_id = $3`, firstJob.SetupID, m.ID, first); n != 1 {
		t.Errorf("%d member.add entries for the first user's membership, want 1", n)
	}
	if n := h.QueryInt(`SELECT count(*) FROM audit_log_entries WHERE setup_id = $1 AND event = 'member.accept-invite'`,
		firstJob.SetupID); n != 0 {
		t.Errorf("the first job wrote %d member.accept-invite entries for an invite it did not accept", n)
	}
}

// Sentry acts on the user whose e-mail matches the identity's; a job acts on the request's authenticated user
// even when the identity's e-mail is another user's (SPEC §2).
func TestJobActsOnTheRequestsUserNotTheIdentitysEmail(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start()
	org := h.Org("acme", false)
	p := h.Provider(org, "okta", false)
	ada, bob := h.User("ada"), h.User("bob")
	req := linkRequest(org, ada, "ada-idp")
	req.Identity.Email = "bob@example.test"
	h.mustSucceed(req)

	if _, ok := h.memberOf(org, ada); !ok {
		t.Error("the request's user is not a member")
	}
	if _, ok := h.memberOf(org, bob); ok {
		t.Error("the user with the identity's e-mail became a member")
	}
	if n := h.QueryInt(`SELECT count(*) FROM auth_identities WHERE auth_provider_id = $1 AND user_id = $2 AND ident = 'ada-idp'`, p, ada); n != 1 {
		t.Errorf("%d identities of the request's user, want 1", n)
	}
	if n := h.QueryInt(`SELECT count(*) FROM auth_identities WHERE user_id = $1`, bob); n != 0 {
		t.Errorf("%d identities of the user with the identity's e-mail, want 0", n)
	}
}
