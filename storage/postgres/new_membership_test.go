package postgres_test

import (
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/storage/storagetest"
)

// membershipFix is one new_membership case's data: org "acme", org "else" and the user "bar", who is not a
// member unless the case makes him one.
type membershipFix struct {
	org, elsewhere, user int64
	invite               int64 // the invite the case expects handed over or replaced
	member               int64 // an existing membership
}

// pendingRows returns org rows without a user except skip, as JSON, to show which invites a run touched.
func (d *db) pendingRows(skip int64) string {
	d.T.Helper()
	var s string
	d.Scan(`SELECT coalesce(jsonb_agg(to_jsonb(m) ORDER BY id)::text, '[]') FROM organization_members m
		WHERE user_id IS NULL AND id <> $1`, []any{skip}, &s)
	return s
}

// TestNewMembership has one case per branch of SPEC §3.4.
func TestNewMembership(t *testing.T) {
	t.Parallel()
	soon, past := time.Now().Add(time.Hour), time.Now().Add(-time.Hour)
	const approved, requested = "approved", "requested_to_join"
	for _, tc := range []struct {
		name    string
		arrange func(d *db, f *membershipFix) *ssosetup.Invite // returns the request's invite
		record  string
		// For a created membership.
		role       string
		restricted bool
		removed    bool // f.invite, an invite request, is replaced
	}{{
		name: "already a member", record: "skipped: already a member",
		arrange: func(d *db, f *membershipFix) *ssosetup.Invite {
			f.member = d.Member(f.org, f.user, "admin")
			d.Invite(f.org, "bar@example.test", "", approved, nil, "owner")
			return nil
		},
	}, {
		name: "approved invite by token", record: "skipped: approved invite",
		arrange: func(d *db, f *membershipFix) *ssosetup.Invite {
			f.invite = d.Invite(f.org, "someone@else.test", "t-1", approved, &soon, "admin")
			return &ssosetup.Invite{MemberID: f.invite, Token: "t-1"}
		},
	}, {
		name: "approved invite by token before one by e-mail", record: "skipped: approved invite",
		arrange: func(d *db, f *membershipFix) *ssosetup.Invite {
			d.Invite(f.org, "bar@example.test", "", approved, nil, "owner")
			f.invite = d.Invite(f.org, "someone@else.test", "t-1", approved, nil, "admin")
			return &ssosetup.Invite{MemberID: f.invite, Token: "t-1"}
		},
	}, {
		name: "approved invite by e-mail in any case", record: "skipped: approved invite",
		arrange: func(d *db, f *membershipFix) *ssosetup.Invite {
			d.Invite(f.elsewhere, "bar@example.test", "", approved, nil, "owner")
			f.invite = d.Invite(f.org, "BAR@Example.TEST", "", approved, &soon, "admin")
			return nil
		},
	}, {
		name: "invite with a wrong token", record: "done: membership created", role: "member",
		arrange: func(d *db, f *membershipFix) *ssosetup.Invite {
			return &ssosetup.Invite{MemberID: d.Invite(f.org, "someone@else.test", "t-1", approved, nil, "owner"), Token: "t-2"}
		},
	}, {
		name: "invite of another organization", record: "done: membership created", role: "member",
		arrange: func(d *db, f *membershipFix) *ssosetup.Invite {
			return &ssosetup.Invite{MemberID: d.Invite(f.elsewhere, "bar@example.test", "t-1", approved, nil, "owner"), Token: "t-1"}
		},
	}, {
		name: "expired invite by token", record: "done: membership created", role: "member",
		arrange: func(d *db, f *membershipFix) *ssosetup.Invite {
			return &ssosetup.Invite{MemberID: d.Invite(f.org, "someone@else.test", "t-1", approved, &past, "owner"), Token: "t-1"}
		},
	}, {
		name: "expired invite by e-mail", record: "done: membership created", role: "member",
		arrange: func(d *db, f *membershipFix) *ssosetup.Invite {
			d.Invite(f.org, "bar@example.test", "t-1", approved, &past, "owner")
			return nil
		},
	}, {
		name: "expired invite request", record: "done: membership created", role: "member",
		arrange: func(d *db, f *membershipFix) *ssosetup.Invite {
			d.Invite(f.org, "bar@example.test", "", requested, &past, "owner")
			return nil
		},
	}, {
		name: "invite request replaced", record: "done: invite request replaced by a membership", role: "member", removed: true,
		arrange: func(d *db, f *membershipFix) *ssosetup.Invite {
			f.invite = d.Invite(f.org, "Bar@example.test", "", "requested_to_be_invited", nil, "owner")
			return nil
		},
	}, {
		name: "the org's default role", record: "done: membership created", role: "admin",
		arrange: func(d *db, f *membershipFix) *ssosetup.Invite {
			d.Exec(`UPDATE organizations SET default_role = 'admin' WHERE id = $1`, f.org)
			return nil
		},
	}, {
		name: "member invites disabled", record: "done: membership created", role: "member", restricted: true,
		arrange: func(d *db, f *membershipFix) *ssosetup.Invite {
			d.Exec(`UPDATE organizations SET invite_members_enabled = false WHERE id = $1`, f.org)
			return nil
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := newDB(t)
			f := &membershipFix{org: d.Org("acme", false), elsewhere: d.Org("else", false), user: d.User("bar")}
			req := linkRequest(f.org, f.user, "bar-idp")
			req.Invite = tc.arrange(d, f)
			id := d.job(req, ssosetup.StageNewMembership, ssosetup.Job{OrganizationID: f.org, WasMember: f.member != 0})
			before, pending := d.Snapshot(storagetest.DomainTables...), d.pendingRows(f.invite)

			out, err := d.run(ssosetup.StageNewMembership, id)
			if err != nil {
				t.Fatal(err)
			}

			if got := out.Status + ": " + out.Detail; got != tc.record || out.Notice != "" || out.Signalled {
				t.Errorf("outcome %q notice %q signalled %v, want %q", got, out.Notice, out.Signalled, tc.record)
			}
			if got := d.stageRecord(id, ssosetup.StageNewMembership); got != tc.record {
				t.Errorf("stage record %q, want %q", got, tc.record)
			}
			if got := d.jobState(id); got != "running accept_invite" {
				t.Errorf("job %q", got)
			}
			var handed, member int64
			d.Scan(`SELECT coalesce(invite_member_id, 0), coalesce(member_id, 0) FROM setups WHERE id = $1`, []any{id}, &handed, &member)
			if tc.role == "" { // skipped: nothing written, the invite handed over when there is one
				d.AssertUnchanged(before, d.Snapshot(storagetest.DomainTables...))
				if out.Job.InviteMemberID != f.invite || handed != f.invite || out.Job.MemberID != f.member || member != f.member {
					t.Errorf("invite %d (stored %d), member %d (stored %d); want invite %d, member %d",
						out.Job.InviteMemberID, handed, out.Job.MemberID, member, f.invite, f.member)
				}
				d.assertRerunNoop(ssosetup.StageNewMembership, id)
				return
			}
			d.assertMembershipCreated(id, f, out, member, tc.role, tc.restricted, tc.removed)
			if got := d.pendingRows(f.invite); got != pending {
				t.Errorf("invites changed:\nbefore %s\nafter  %s", pending, got)
			}
			d.assertRerunNoop(ssosetup.StageNewMembership, id)
		})
	}
}

// assertMembershipCreated checks the user's one new membership and its audit entries, after an invite
// request's removal when removed.
func (d *db) assertMembershipCreated(id uuid.UUID, f *membershipFix, out ssosetup.Outcome, stored int64, role string, restricted, removed bool) {
	d.T.Helper()
	created := d.memberOf(f.org, f.user)
	m, _ := d.memberRow(created)
	if created == 0 || out.Job.MemberID != created || stored != created || out.Job.InviteMemberID != 0 {
		d.T.Errorf("membership %d, job's %d, stored %d, invite %d", created, out.Job.MemberID, stored, out.Job.InviteMemberID)
	}
	if m.Role != role || !m.Linked || m.Invalid || m.Restricted != restricted || m.Email != nil || m.Token != nil {
		d.T.Errorf("membership %+v, want role %s, linked, restricted %v", m, role, restricted)
	}
	want := []string{"member.add"}
	if removed {
		want = []string{"invite-request.remove", "member.add"}
		if _, ok := d.memberRow(f.invite); ok {
			d.T.Error("the invite request was not deleted")
		}
		if n := d.QueryInt(`SELECT count(*) FROM audit_log_entries WHERE setup_id = $1 AND event = 'invite-request.remove'
			AND target_object_id = $2 AND data = '{"email": "Bar@example.test"}'`, id, f.invite); n != 1 {
			d.T.Error("no invite-request.remove entry for the request with its e-mail")
		}
	}
	if got := d.audits(id); !slices.Equal(got, want) {
		d.T.Errorf("audits %v, want %v", got, want)
	}
	n := d.QueryInt(`SELECT count(*) FROM audit_log_entries WHERE setup_id = $1 AND event = 'member.add'
		AND target_object_id = $2 AND target_user_id = $3 AND data = jsonb_build_object('email', 'bar@example.test',
		'role', $4::text, 'invite_status', 'approved', 'user', $3::bigint)`, id, created, f.user, role)
	if n != 1 {
		d.T.Errorf("no member.add entry for member %d with {email, role %s, invite_status, user}", created, role)
	}
}

// TestNewMembershipConcurrentRuns delivers new_membership four times at once for a user with an invite
// request: the request is replaced by one membership, audited once.
func TestNewMembershipConcurrentRuns(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	f := &membershipFix{org: d.Org("acme", false), user: d.User("bar")}
	f.invite = d.Invite(f.org, "Bar@example.test", "", "requested_to_be_invited", nil, "owner")
	id := d.job(linkRequest(f.org, f.user, "bar-idp"), ssosetup.StageNewMembership, ssosetup.Job{OrganizationID: f.org})

	out, err := d.runConcurrently(ssosetup.StageNewMembership, id, 4)
	if err != nil || out.Detail != "invite request replaced by a membership" {
		t.Fatalf("the run that did the stage: %q, %v", out.Detail, err)
	}
	if n := d.QueryInt(`SELECT count(*) FROM organization_members`); n != 1 {
		t.Errorf("%d member rows, want the one membership", n)
	}
	d.assertMembershipCreated(id, f, out, out.Job.MemberID, "member", false, true)
}
