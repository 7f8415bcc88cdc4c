package postgres_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/storage/storagetest"
)

// acceptFix is one accept_invite case's data: org "acme" with its provider, org "else", the acting user "bar"
// and another user "baz".
type acceptFix struct {
	org, provider, elsewhere, user, other int64
	invite                                int64 // the invite the case is about
	member                                int64 // bar's membership, when he has one
}

// duplicateRemoved is the detail and log line of a member's duplicate invite removed (Sentry's wording).
const duplicateRemoved = "Pending org invite not accepted - User already org member"

// TestAcceptInvite has one case per branch of SPEC §3.5.
func TestAcceptInvite(t *testing.T) {
	t.Parallel()
	soon, past := time.Now().Add(time.Hour), time.Now().Add(-time.Hour)
	// approvedInvite is the invite new_membership hands over in these cases.
	approvedInvite := func(d *db, f *acceptFix) {
		f.invite = d.Invite(f.org, "BAR@example.test", "t-1", "approved", &soon, "admin")
		d.Exec(`UPDATE organization_members SET sso_invalid = true WHERE id = $1`, f.invite)
	}
	for _, tc := range []struct {
		name          string
		setup         bool // a setup job rather than a link
		allowUnlinked bool
		identity      bool // bar has an identity of acme's provider
		handOver      bool // new_membership handed f.invite over
		wasMember     bool // bar was a member before the job
		arrange       func(d *db, f *acceptFix)
		record        string // "status: detail", or only the status when SPEC.md leaves the detail open
		code          string // the failure; "" when the stage passes
		audited       bool   // the case writes audit entries (check tells which)
		check         func(t *testing.T, d *db, f *acceptFix, out ssosetup.Outcome)
	}{
		{name: "no invite", record: "skipped: no invite", identity: true, arrange: func(d *db, f *acceptFix) {
			d.Invite(f.org, "someone@else.test", "", "approved", nil, "admin")
		}},
		{name: "accept", identity: true, handOver: true, arrange: approvedInvite, record: "done: invite accepted",
			audited: true, check: assertAccepted},
		{name: "accept without an identity when unlinked members are allowed", allowUnlinked: true, handOver: true,
			arrange: approvedInvite, record: "done: invite accepted", audited: true, check: assertAccepted},
		{name: "sso required", handOver: true, code: ssosetup.CodeSSORequired, arrange: func(d *db, f *acceptFix) {
			approvedInvite(d, f)
			d.Identity(d.Provider(f.elsewhere, "okta", false), f.user, "bar-idp", `{}`) // another provider's
		}},
		{name: "invite deleted meanwhile", identity: true, handOver: true, record: "done", audited: true,
			arrange: func(d *db, f *acceptFix) {
				approvedInvite(d, f)
				d.Exec(`DELETE FROM organization_members WHERE id = $1`, f.invite)
			}, check: assertMembershipInstead},
		{name: "invite accepted by another user meanwhile", identity: true, handOver: true, record: "done", audited: true,
			arrange: func(d *db, f *acceptFix) {
				approvedInvite(d, f)
				d.Exec(`UPDATE organization_members SET user_id = $2, email = NULL, token = NULL WHERE id = $1`, f.invite, f.other)
			}, check: assertMembershipInstead},
		{name: "member by now through another job", identity: true, handOver: true,
			record: "skipped: already a member; invite removed", arrange: func(d *db, f *acceptFix) {
				approvedInvite(d, f)
				f.member = d.Member(f.org, f.user, "member")
			}, check: func(t *testing.T, d *db, f *acceptFix, out ssosetup.Outcome) {
				if _, ok := d.memberRow(f.invite); ok || out.Job.MemberID != f.member {
					t.Errorf("invite left behind (%v), or job's member %d, want %d", ok, out.Job.MemberID, f.member)
				}
			}},
		{name: "duplicate invite of a member (link)", wasMember: true, arrange: duplicateInvites,
			record: "done: " + duplicateRemoved, check: assertDuplicateRemoved},
		{name: "duplicate invite of a member (setup)", setup: true, wasMember: true, arrange: duplicateInvites,
			record: "done: " + duplicateRemoved, check: assertDuplicateRemoved},
		{name: "expired duplicate invite of a member", wasMember: true, record: "skipped: no duplicate invite",
			arrange: func(d *db, f *acceptFix) { d.Invite(f.org, "bar@example.test", "t-1", "approved", &past, "admin") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := newDB(t)
			f := &acceptFix{org: d.Org("acme", false), elsewhere: d.Org("else", false), user: d.User("bar"), other: d.User("baz")}
			f.provider = d.Provider(f.org, "okta", tc.allowUnlinked)
			facts := ssosetup.Job{OrganizationID: f.org, AuthProviderID: f.provider, WasMember: tc.wasMember}
			if tc.identity {
				facts.IdentityID = d.Identity(f.provider, f.user, "bar-idp", `{}`)
			}
			if tc.wasMember {
				f.member = d.Member(f.org, f.user, "member")
				facts.MemberID = f.member
			}
			tc.arrange(d, f)
			if tc.handOver {
				facts.InviteMemberID = f.invite
			}
			req := linkRequest(f.org, f.user, "bar-idp")
			if tc.setup {
				req = setupRequest(f.org, f.user)
			}
			id := d.job(req, ssosetup.StageAcceptInvite, facts)
			before := d.Snapshot(storagetest.DomainTables...)

			out, err := d.run(ssosetup.StageAcceptInvite, id)

			if tc.code != "" {
				d.assertFailed(id, ssosetup.StageAcceptInvite, tc.code, out, err, before)
				if m, ok := d.memberRow(f.invite); !ok || m.UserID != nil {
					t.Errorf("invite %+v (found %v): accepted without SSO, or gone", m, ok)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := out.Status + ": " + out.Detail; !recordIs(got, tc.record) {
				t.Errorf("outcome %q, want %q", got, tc.record)
			}
			if got := d.stageRecord(id, ssosetup.StageAcceptInvite); !recordIs(got, tc.record) {
				t.Errorf("stage record %q, want %q", got, tc.record)
			}
			if got := d.jobState(id); got != "running save_event" {
				t.Errorf("job %q", got)
			}
			var member int64
			d.Scan(`SELECT coalesce(member_id, 0) FROM setups WHERE id = $1`, []any{id}, &member)
			if member != out.Job.MemberID {
				t.Errorf("stored member %d, outcome's %d", member, out.Job.MemberID)
			}
			if tc.check == nil {
				d.AssertUnchanged(before, d.Snapshot(storagetest.DomainTables...))
			} else {
				tc.check(t, d, f, out)
			}
			if !tc.audited {
				if a, s := d.audits(id), d.QueryInt(`SELECT count(*) FROM signals`); len(a) != 0 || s != 0 || out.Signalled {
					t.Errorf("audits %v, %d signals (signalled %v): want none", a, s, out.Signalled)
				}
			}
			d.assertRerunNoop(ssosetup.StageAcceptInvite, id)
		})
	}
}

// recordIs reports whether a stage record "status: detail" is want, or has want's status when want is only one.
func recordIs(got, want string) bool {
	return got == want || (!strings.Contains(want, ":") && strings.HasPrefix(got, want+": "))
}

// duplicateInvites arranges a pending invite for bar's e-mail in acme, which a member's job removes, and
// invites no job of bar's in acme may touch.
func duplicateInvites(d *db, f *acceptFix) {
	f.invite = d.Invite(f.org, "Bar@example.test", "t-1", "approved", nil, "admin")
	d.Invite(f.org, "someone@else.test", "t-2", "approved", nil, "admin")
	d.Invite(f.elsewhere, "bar@example.test", "t-3", "approved", nil, "admin")
}

// assertDuplicateRemoved checks that exactly the member's duplicate invite is gone, and the log line.
func assertDuplicateRemoved(t *testing.T, d *db, f *acceptFix, out ssosetup.Outcome) {
	t.Helper()
	if _, ok := d.memberRow(f.invite); ok {
		t.Error("duplicate pending invite left behind")
	}
	if n := d.QueryInt(`SELECT count(*) FROM organization_members WHERE user_id IS NULL`); n != 2 {
		t.Errorf("%d other invites left, want 2", n)
	}
	if out.Notice != duplicateRemoved || out.Job.MemberID != f.member {
		t.Errorf("notice %q, member %d", out.Notice, out.Job.MemberID)
	}
}

// assertAccepted checks an accepted invite: the row is bar's membership, audited twice, and announced.
func assertAccepted(t *testing.T, d *db, f *acceptFix, out ssosetup.Outcome) {
	t.Helper()
	m, _ := d.memberRow(f.invite)
	if m.UserID == nil || *m.UserID != f.user || m.Email != nil || m.Token != nil || m.Expires != nil || !m.Linked || m.Invalid || m.Role != "admin" {
		t.Errorf("invite after accept %+v", m)
	}
	if d.memberOf(f.org, f.user) != f.invite || out.Job.MemberID != f.invite || !out.Signalled {
		t.Errorf("membership %d, job's member %d, signalled %v; want the invite %d", d.memberOf(f.org, f.user),
			out.Job.MemberID, out.Signalled, f.invite)
	}
	if got := d.audits(out.Job.ID); !slices.Equal(got, []string{"member.accept-invite", "member.add"}) {
		t.Errorf("audits %v", got)
	}
	if n := d.QueryInt(`SELECT count(*) FROM audit_log_entries WHERE setup_id = $1 AND target_object_id = $2
		AND target_user_id = $3 AND data->>'role' = 'admin' AND (data->>'user')::bigint = $3`, out.Job.ID, f.invite, f.user); n != 2 {
		t.Errorf("%d audit entries target the accepted member with its role and user, want 2", n)
	}
	n := d.QueryInt(`SELECT count(*) FROM signals WHERE setup_id = $1 AND name = 'member_joined' AND organization_id = $2
		AND args = jsonb_build_object('user_id', $3::bigint, 'organization_member_id', $4::bigint)`, out.Job.ID, f.org, f.user, f.invite)
	if n != 1 || d.QueryInt(`SELECT count(*) FROM signals`) != 1 {
		t.Error("want one member_joined signal {user_id, organization_member_id}")
	}
}

// assertMembershipInstead checks that a handed-over invite gone meanwhile still brings bar in, as
// new_membership would: the default role, audited member.add.
func assertMembershipInstead(t *testing.T, d *db, f *acceptFix, out ssosetup.Outcome) {
	t.Helper()
	created := d.memberOf(f.org, f.user)
	m, _ := d.memberRow(created)
	if created == 0 || created == f.invite || out.Job.MemberID != created || m.Role != "member" || !m.Linked {
		t.Errorf("membership %d %+v, job's member %d: want a new member with the default role", created, m, out.Job.MemberID)
	}
	if got := d.audits(out.Job.ID); !slices.Equal(got, []string{"member.add"}) {
		t.Errorf("audits %v, want [member.add]", got)
	}
}

// TestAcceptInviteConcurrentRuns delivers accept_invite four times at once: the invite is accepted once,
// with two audit entries and one signal.
func TestAcceptInviteConcurrentRuns(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	f := &acceptFix{org: d.Org("acme", false), user: d.User("bar")}
	f.provider = d.Provider(f.org, "okta", false)
	identity := d.Identity(f.provider, f.user, "bar-idp", `{}`)
	f.invite = d.Invite(f.org, "bar@example.test", "t-1", "approved", nil, "admin")
	id := d.job(linkRequest(f.org, f.user, "bar-idp"), ssosetup.StageAcceptInvite, ssosetup.Job{
		OrganizationID: f.org, AuthProviderID: f.provider, IdentityID: identity, InviteMemberID: f.invite})

	out, err := d.runConcurrently(ssosetup.StageAcceptInvite, id, 4)
	if err != nil || out.Detail != "invite accepted" {
		t.Fatalf("the run that did the stage: %q, %v", out.Detail, err)
	}
	assertAccepted(t, d, f, out)
}
