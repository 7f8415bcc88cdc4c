package postgres_test

import (
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/storage/storagetest"
)

// attachFix is one attach_identity case's data: org "acme", the acting user "bar" and another user "baz"
// always; the rest as the case arranges it.
type attachFix struct {
	org, user, other int64
	provider         int64  // acme's provider, arranged for the link flow
	identity         int64  // an identity arranged beforehand that the stage must reuse
	member           int64  // the acting user's membership, if arranged
	memberVersion    string // the membership's xmin before the run, for a case that must not write it
}

// attachLink is the link request of these cases: bar's identity "bar-idp" with fresh data.
func attachLink(f *attachFix, data map[string]any) ssosetup.Request {
	r := linkRequest(f.org, f.user, "bar-idp")
	r.Identity.Data = data
	return r
}

// linkFacts are what start and disable_2fa record for a link job of f.
func linkFacts(f *attachFix) ssosetup.Job {
	return ssosetup.Job{OrganizationID: f.org, AuthProviderID: f.provider, WasMember: f.member != 0}
}

// TestAttachIdentity has one case per branch of SPEC §3.3.
func TestAttachIdentity(t *testing.T) {
	t.Parallel()
	fresh := map[string]any{"access_token": "new"}
	for _, tc := range []struct {
		name    string
		setup   bool // a setup job: acme has no provider yet
		arrange func(d *db, f *attachFix) (ssosetup.Request, ssosetup.Job)
		code    string // the failure; "" when the stage passes
		isNew   bool
		audit   string // the sso-identity.link entry's data when new, secrets redacted
		check   func(t *testing.T, d *db, f *attachFix, out ssosetup.Outcome)
	}{{
		name: "setup creates the provider and a new identity", setup: true, isNew: true,
		audit: `{"access_token": "[redacted]"}`,
		arrange: func(d *db, f *attachFix) (ssosetup.Request, ssosetup.Job) {
			f.member = d.Member(f.org, f.user, "owner")
			d.Exec(`UPDATE organization_members SET idp_provisioned = true, idp_role_restricted = true WHERE id = $1`, f.member)
			return setupRequest(f.org, f.user), ssosetup.Job{OrganizationID: f.org, WasMember: true}
		},
		check: func(t *testing.T, d *db, f *attachFix, out ssosetup.Outcome) {
			var config map[string]any
			d.Scan(`SELECT id, config FROM auth_providers WHERE organization_id = $1 AND provider = 'okta'
				AND NOT allow_unlinked AND NOT scim_enabled`, []any{f.org}, &f.provider, &config)
			if out.Job.AuthProviderID != f.provider || config["client_secret"] != "s3cr3t" || config["domain"] != "acme.okta.com" {
				t.Errorf("provider %d (job's %d) config %v: the provider keeps its config", f.provider, out.Job.AuthProviderID, config)
			}
			if m, _ := d.memberRow(f.member); !m.Linked || m.Invalid || !m.Provisioned || !m.RoleRst {
				t.Errorf("member %+v: linked, other flags kept", m)
			}
		},
	}, {
		name: "setup finds a provider a concurrent setup created", setup: true, code: ssosetup.CodeAlreadyConfigured,
		arrange: func(d *db, f *attachFix) (ssosetup.Request, ssosetup.Job) {
			d.Member(f.org, f.user, "owner")
			d.Provider(f.org, "google", false)
			return setupRequest(f.org, f.user), ssosetup.Job{OrganizationID: f.org, WasMember: true}
		},
	}, {
		name: "link: new identity of a member", isNew: true, audit: `{"access_token": "[redacted]"}`,
		arrange: func(d *db, f *attachFix) (ssosetup.Request, ssosetup.Job) {
			f.member = d.Member(f.org, f.user, "admin")
			d.Exec(`UPDATE organization_members SET sso_invalid = true, member_limit_restricted = true WHERE id = $1`, f.member)
			return attachLink(f, fresh), linkFacts(f)
		},
		check: func(t *testing.T, d *db, f *attachFix, out ssosetup.Outcome) {
			if m, _ := d.memberRow(f.member); !m.Linked || m.Invalid || !m.Restricted || m.Role != "admin" {
				t.Errorf("member %+v: linked and valid, other flags kept", m)
			}
		},
	}, {
		name: "link: new identity of a non-member", isNew: true, audit: `{}`,
		arrange: func(d *db, f *attachFix) (ssosetup.Request, ssosetup.Job) {
			return attachLink(f, nil), linkFacts(f)
		},
		check: func(t *testing.T, d *db, f *attachFix, out ssosetup.Outcome) {
			if n := d.QueryInt(`SELECT count(*) FROM organization_members WHERE organization_id = $1`, f.org); n != 0 || out.Job.MemberID != 0 {
				t.Errorf("%d members, job's member %d: linking creates no membership", n, out.Job.MemberID)
			}
		},
	}, {
		name: "link: re-link by ident keeps the refresh_token, leaves a linked member alone",
		arrange: func(d *db, f *attachFix) (ssosetup.Request, ssosetup.Job) {
			f.member = d.Member(f.org, f.user, "member")
			d.Exec(`UPDATE organization_members SET sso_linked = true WHERE id = $1`, f.member)
			d.Scan(`SELECT xmin::text FROM organization_members WHERE id = $1`, []any{f.member}, &f.memberVersion)
			f.identity = d.Identity(f.provider, f.user, "bar-idp", `{"refresh_token": "rt-old", "access_token": "old"}`)
			return attachLink(f, fresh), linkFacts(f)
		},
		check: func(t *testing.T, d *db, f *attachFix, out ssosetup.Outcome) {
			var version string
			if d.Scan(`SELECT xmin::text FROM organization_members WHERE id = $1`, []any{f.member}, &version); version != f.memberVersion {
				t.Error("an already linked membership was written")
			}
			if n := d.QueryInt(`SELECT count(*) FROM auth_identities WHERE id = $1 AND data = '{"access_token": "new", "refresh_token": "rt-old"}'
				AND last_verified > now() - interval '1 minute' AND last_synced > now() - interval '1 minute'`, f.identity); n != 1 {
				t.Error("identity data not replaced with the old refresh_token kept, or not verified now")
			}
		},
	}, {
		name: "link: re-link with a new refresh_token takes it",
		arrange: func(d *db, f *attachFix) (ssosetup.Request, ssosetup.Job) {
			f.identity = d.Identity(f.provider, f.user, "bar-idp", `{"refresh_token": "rt-old"}`)
			return attachLink(f, map[string]any{"refresh_token": "rt-new"}), linkFacts(f)
		},
		check: func(t *testing.T, d *db, f *attachFix, out ssosetup.Outcome) {
			if n := d.QueryInt(`SELECT count(*) FROM auth_identities WHERE id = $1 AND data = '{"refresh_token": "rt-new"}'`, f.identity); n != 1 {
				t.Error("the new refresh_token did not replace the old one")
			}
		},
	}, {
		name: "link: re-link by user when the IdP's id changed",
		arrange: func(d *db, f *attachFix) (ssosetup.Request, ssosetup.Job) {
			f.identity = d.Identity(f.provider, f.user, "bar-old", `{}`)
			return attachLink(f, fresh), linkFacts(f)
		},
	}, {
		name: "link: another user's identity is taken over after a wipe",
		arrange: func(d *db, f *attachFix) (ssosetup.Request, ssosetup.Job) {
			f.member = d.Member(f.org, f.user, "member")
			d.Member(f.org, f.other, "admin")
			d.Exec(`UPDATE organization_members SET sso_linked = true, idp_provisioned = true, member_limit_restricted = true
				WHERE user_id = $1`, f.other) // in both organizations
			d.Identity(f.provider, f.user, "bar-old", `{}`)
			f.identity = d.Identity(f.provider, f.other, "bar-idp", `{}`)
			return attachLink(f, fresh), linkFacts(f)
		},
		check: func(t *testing.T, d *db, f *attachFix, out ssosetup.Outcome) {
			if n := d.QueryInt(`SELECT count(*) FROM auth_identities WHERE auth_provider_id = $1 AND ident = 'bar-old'`, f.provider); n != 0 {
				t.Error("the acting user's other identity of the provider was not deleted")
			}
			if n := d.QueryInt(`SELECT count(*) FROM auth_identities WHERE auth_provider_id <> $1 AND user_id = $2`, f.provider, f.user); n != 1 {
				t.Error("the acting user's identity of another provider was touched")
			}
			x, _ := d.memberRow(d.memberOf(f.org, f.other))
			if x.Linked || !x.Invalid || !x.Provisioned || !x.Restricted || x.Role != "admin" {
				t.Errorf("previous owner's member %+v: want invalid, unlinked, other flags kept", x)
			}
			if n := d.QueryInt(`SELECT count(*) FROM organization_members WHERE organization_id <> $1 AND user_id = $2
				AND sso_linked AND NOT sso_invalid`, f.org, f.other); n != 1 {
				t.Error("the previous owner's membership of another organization was touched")
			}
			if m, _ := d.memberRow(f.member); !m.Linked || m.Invalid {
				t.Errorf("acting member %+v", m)
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := newDB(t)
			f := &attachFix{org: d.Org("acme", false), user: d.User("bar"), other: d.User("baz")}
			if !tc.setup {
				f.provider = d.Provider(f.org, "okta", false)
			}
			// Another organization where both users have state that no case may touch.
			elsewhere := d.Org("else", false)
			d.Member(elsewhere, f.other, "member")
			d.Identity(d.Provider(elsewhere, "okta", false), f.user, "bar-idp", `{}`)
			req, facts := tc.arrange(d, f)
			id := d.job(req, ssosetup.StageAttachIdentity, facts)
			before := d.Snapshot(storagetest.DomainTables...)

			out, err := d.run(ssosetup.StageAttachIdentity, id)

			if tc.code != "" {
				d.assertFailed(id, ssosetup.StageAttachIdentity, tc.code, out, err, before)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, d, f, out)
			}
			d.assertAttached(id, f, out, tc.isNew, tc.audit)
			d.assertRerunNoop(ssosetup.StageAttachIdentity, id)
		})
	}
}

// assertAttached checks what every passing attach_identity run leaves: the outcome, the identity linked to the
// acting user (f.identity reused when arranged), the job's facts, and the audit entry and message exactly
// when the identity is new.
func (d *db) assertAttached(id uuid.UUID, f *attachFix, out ssosetup.Outcome, isNew bool, audit string) {
	d.T.Helper()
	record := "done: identity re-linked"
	if isNew {
		record = "done: identity linked"
	}
	if got := out.Status + ": " + out.Detail; got != record || out.Notice != "" || out.Signalled {
		d.T.Errorf("outcome %q notice %q signalled %v, want %q", got, out.Notice, out.Signalled, record)
	}
	if got := d.stageRecord(id, ssosetup.StageAttachIdentity); got != record {
		d.T.Errorf("stage record %q, want %q", got, record)
	}
	j := out.Job
	identity := d.QueryInt(`SELECT coalesce((SELECT id FROM auth_identities WHERE auth_provider_id = $1 AND ident = $2 AND user_id = $3), 0)`,
		j.AuthProviderID, j.Request.Identity.ID, f.user)
	if identity == 0 || identity != j.IdentityID || (f.identity != 0 && identity != f.identity) {
		d.T.Errorf("identity %d, job's %d, arranged %d: want the acting user's identity, the arranged one reused",
			identity, j.IdentityID, f.identity)
	}
	if j.MemberID != f.member {
		d.T.Errorf("job's member %d, want %d", j.MemberID, f.member)
	}
	var provider, identityFact, member int64
	var messages []string
	d.Scan(`SELECT coalesce(auth_provider_id, 0), coalesce(identity_id, 0), coalesce(member_id, 0), messages FROM setups WHERE id = $1`,
		[]any{id}, &provider, &identityFact, &member, &messages)
	if provider != j.AuthProviderID || identityFact != j.IdentityID || member != j.MemberID {
		d.T.Errorf("stored facts provider %d identity %d member %d, outcome %d %d %d", provider, identityFact, member,
			j.AuthProviderID, j.IdentityID, j.MemberID)
	}
	if got := d.jobState(id); got != "running new_membership" {
		d.T.Errorf("job %q", got)
	}
	if !isNew {
		if a := d.audits(id); len(messages) != 0 || len(a) != 0 {
			d.T.Errorf("a re-link wrote messages %q, audits %v", messages, a)
		}
		return
	}
	if len(messages) != 1 || messages[0] != ssosetup.MessageLinked {
		d.T.Errorf("messages %q, want the link message", messages)
	}
	if a := d.audits(id); len(a) != 1 || a[0] != "sso-identity.link" {
		d.T.Errorf("audits %v, want [sso-identity.link]", a)
	}
	n := d.QueryInt(`SELECT count(*) FROM audit_log_entries WHERE setup_id = $1 AND event = 'sso-identity.link'
		AND target_object_id = $2 AND target_user_id = $3 AND actor_user_id = $3
		AND data = jsonb_build_object('user_id', $3::bigint, 'data', $4::jsonb)`, id, identity, f.user, audit)
	if n != 1 {
		d.T.Errorf("no sso-identity.link entry with target %d, user %d, data {user_id, data: %s}", identity, f.user, audit)
	}
}

// TestAttachIdentityConcurrentRuns delivers a setup job's attach_identity four times at once: one provider,
// one identity, one audit entry and one message.
func TestAttachIdentityConcurrentRuns(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	f := &attachFix{org: d.Org("acme", false), user: d.User("bar")}
	f.member = d.Member(f.org, f.user, "owner")
	id := d.job(setupRequest(f.org, f.user), ssosetup.StageAttachIdentity, ssosetup.Job{OrganizationID: f.org, WasMember: true})

	out, err := d.runConcurrently(ssosetup.StageAttachIdentity, id, 4)
	if err != nil {
		t.Fatal(err)
	}
	if n := d.QueryInt(`SELECT count(*) FROM auth_identities`); n != 1 {
		t.Errorf("%d identities, want 1", n)
	}
	d.assertAttached(id, f, out, true, `{"access_token": "[redacted]"}`)
}

// TestAttachIdentityConcurrentSetupsOfOneOrg runs two admins' setups of one organization at once: one creates
// the provider, the other fails already_configured and leaves nothing behind.
func TestAttachIdentityConcurrentSetupsOfOneOrg(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	org := d.Org("acme", false)
	var ids [2]uuid.UUID
	var errs [2]error
	for i, name := range []string{"ada", "bob"} {
		user := d.User(name)
		d.Member(org, user, "owner")
		ids[i] = d.job(setupRequest(org, user), ssosetup.StageAttachIdentity, ssosetup.Job{OrganizationID: org, WasMember: true})
	}
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() { _, errs[i] = d.run(ssosetup.StageAttachIdentity, ids[i]) })
	}
	wg.Wait()

	var failed int
	for i, err := range errs {
		if je, ok := ssosetup.AsJobError(err); ok && je.Code == ssosetup.CodeAlreadyConfigured {
			failed++
			if got := d.jobState(ids[i]); got != "failed attach_identity already_configured" {
				t.Errorf("losing job %q", got)
			}
		} else if err != nil {
			t.Errorf("job %d: %v", i, err)
		}
	}
	if failed != 1 {
		t.Errorf("%d jobs failed already_configured (%v), want 1", failed, errs)
	}
	for what, sql := range map[string]string{
		"providers":     `SELECT count(*) FROM auth_providers`,
		"identities":    `SELECT count(*) FROM auth_identities`,
		"audit entries": `SELECT count(*) FROM audit_log_entries`,
	} {
		if n := d.QueryInt(sql); n != 1 {
			t.Errorf("%d %s, want 1", n, what)
		}
	}
}
