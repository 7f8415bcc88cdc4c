package postgres_test

import (
	"testing"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/storage/storagetest"
)

// startOrgs are the organizations and users every start case chooses from.
type startOrgs struct {
	acme, taken, bare, linked     int64 // taken has a google provider, bare none, linked a saml2 one
	takenProvider, linkedProvider int64
	admin, outsider, inactive     int64 // admin is a member of every org, inactive of acme only
}

// startFixture seeds the organizations of startOrgs into a fresh schema.
func startFixture(d *db) startOrgs {
	d.T.Helper()
	f := startOrgs{acme: d.Org("acme", false), taken: d.Org("taken", false), bare: d.Org("bare", false),
		linked: d.Org("linked", false), admin: d.User("ada"), outsider: d.User("out"), inactive: d.User("gone")}
	for _, org := range []int64{f.acme, f.taken, f.bare, f.linked} {
		d.Member(org, f.admin, "owner")
	}
	d.Member(f.acme, f.inactive, "member")
	d.Exec(`UPDATE users SET is_active = false WHERE id = $1`, f.inactive)
	f.takenProvider, f.linkedProvider = d.Provider(f.taken, "google", false), d.Provider(f.linked, "saml2", false)
	return f
}

// TestStart has one case per check of SPEC §3.1, in order: each failing request also breaks every later
// check, so that a check run out of order shows as the wrong code.
func TestStart(t *testing.T) {
	t.Parallel()
	const missing = 999999
	for _, tc := range []struct {
		name  string
		req   func(f startOrgs) ssosetup.Request
		facts func(f startOrgs) ssosetup.Job // what earlier runs of the job recorded
		code  string                         // the failure; "" when start passes
		// For a pass: the facts start records.
		org, provider func(f startOrgs) int64
		wasMember     bool
		key           string // the organization's provider key: the request's for a setup, the org's for a link
	}{
		{name: "not authenticated", code: ssosetup.CodeNotAuthenticated, req: func(f startOrgs) ssosetup.Request {
			r := setupRequest(missing, f.outsider)
			r.Authenticated, r.PipelineUserID, r.Identity.ID = false, f.admin, ""
			return r
		}},
		{name: "uid mismatch", code: ssosetup.CodeUIDMismatch, req: func(f startOrgs) ssosetup.Request {
			r := setupRequest(missing, missing)
			r.PipelineUserID, r.Identity.ID = f.admin, ""
			return r
		}},
		{name: "org not found", code: ssosetup.CodeOrgNotFound, req: func(f startOrgs) ssosetup.Request {
			r := setupRequest(missing, missing)
			r.Identity.ID = ""
			return r
		}},
		{name: "org slug not found", code: ssosetup.CodeOrgNotFound, req: func(f startOrgs) ssosetup.Request {
			r := setupRequest(0, f.admin)
			r.OrganizationSlug = "nope"
			return r
		}},
		{name: "user missing", code: ssosetup.CodeUserNotFound, req: func(f startOrgs) ssosetup.Request {
			r := setupRequest(f.taken, missing)
			r.Identity.ID = ""
			return r
		}},
		{name: "user inactive", code: ssosetup.CodeUserNotFound, req: func(f startOrgs) ssosetup.Request {
			r := setupRequest(f.acme, f.inactive)
			r.Identity.ID = ""
			return r
		}},
		{name: "invalid identity", code: ssosetup.CodeInvalidIdentity, req: func(f startOrgs) ssosetup.Request {
			r := setupRequest(f.taken, f.outsider)
			r.Identity.ID = ""
			return r
		}},
		{name: "not a member", code: ssosetup.CodeNotAMember, req: func(f startOrgs) ssosetup.Request {
			return setupRequest(f.taken, f.outsider)
		}},
		{name: "already configured", code: ssosetup.CodeAlreadyConfigured, req: func(f startOrgs) ssosetup.Request {
			return setupRequest(f.taken, f.admin)
		}},
		{name: "provider not configured", code: ssosetup.CodeProviderNotConfigured, req: func(f startOrgs) ssosetup.Request {
			r := linkRequest(f.bare, f.outsider, "idp")
			r.Provider = &ssosetup.Provider{Key: "google"}
			return r
		}},
		{name: "provider mismatch", code: ssosetup.CodeProviderMismatch, req: func(f startOrgs) ssosetup.Request {
			r := linkRequest(f.linked, f.admin, "idp")
			r.Provider = &ssosetup.Provider{Key: "google"}
			return r
		}},
		{
			name:      "setup by id",
			req:       func(f startOrgs) ssosetup.Request { return setupRequest(f.acme, f.admin) },
			org:       func(f startOrgs) int64 { return f.acme },
			provider:  func(startOrgs) int64 { return 0 },
			wasMember: true,
			key:       "okta",
		},
		{
			name: "setup by organization_slug",
			req: func(f startOrgs) ssosetup.Request {
				r := setupRequest(0, f.admin)
				r.OrganizationSlug = "acme"
				return r
			},
			org:       func(f startOrgs) int64 { return f.acme },
			provider:  func(startOrgs) int64 { return 0 },
			wasMember: true,
			key:       "okta",
		},
		{
			name:      "setup whose provider this job created (a retry)",
			req:       func(f startOrgs) ssosetup.Request { return setupRequest(f.taken, f.admin) },
			facts:     func(f startOrgs) ssosetup.Job { return ssosetup.Job{AuthProviderID: f.takenProvider} },
			org:       func(f startOrgs) int64 { return f.taken },
			provider:  func(f startOrgs) int64 { return f.takenProvider },
			wasMember: true,
			key:       "okta",
		},
		{
			name:     "link of a non-member without a provider key",
			req:      func(f startOrgs) ssosetup.Request { return linkRequest(f.linked, f.outsider, "idp") },
			org:      func(f startOrgs) int64 { return f.linked },
			provider: func(f startOrgs) int64 { return f.linkedProvider },
			key:      "saml2",
		},
		{
			name: "link of a member by organization_slug with the org's provider key",
			req: func(f startOrgs) ssosetup.Request {
				r := linkRequest(0, f.admin, "idp")
				r.OrganizationSlug, r.Provider = "linked", &ssosetup.Provider{Key: "saml2"}
				return r
			},
			org:       func(f startOrgs) int64 { return f.linked },
			provider:  func(f startOrgs) int64 { return f.linkedProvider },
			wasMember: true,
			key:       "saml2",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := newDB(t)
			f := startFixture(d)
			var facts ssosetup.Job
			if tc.facts != nil {
				facts = tc.facts(f)
			}
			id := d.job(tc.req(f), ssosetup.StageStart, facts)
			before := d.Snapshot(storagetest.DomainTables...)

			out, err := d.run(ssosetup.StageStart, id)

			if tc.code != "" {
				d.assertFailed(id, ssosetup.StageStart, tc.code, out, err, before)
				d.assertRerunNoop(ssosetup.StageStart, id)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			j := out.Job
			if out.Status != ssosetup.StageDone || out.Detail != "preconditions met" || out.Signalled || out.Notice != "" {
				t.Errorf("outcome %+v", out)
			}
			if j.OrganizationID != tc.org(f) || j.AuthProviderID != tc.provider(f) || j.WasMember != tc.wasMember ||
				j.Provider != tc.key {
				t.Errorf("facts org %d provider %d %q was_member %v, want %d %d %q %v", j.OrganizationID, j.AuthProviderID,
					j.Provider, j.WasMember, tc.org(f), tc.provider(f), tc.key, tc.wasMember)
			}
			var org, provider int64
			var wasMember bool
			var key string
			d.Scan(`SELECT organization_id, coalesce(auth_provider_id, 0), was_member, provider_key FROM setups WHERE id = $1`,
				[]any{id}, &org, &provider, &wasMember, &key)
			if org != tc.org(f) || provider != tc.provider(f) || wasMember != tc.wasMember || key != tc.key {
				t.Errorf("stored facts org %d provider %d %q was_member %v", org, provider, key, wasMember)
			}
			if got := d.stageRecord(id, ssosetup.StageStart); got != "done: preconditions met" {
				t.Errorf("stage record %q", got)
			}
			if got := d.jobState(id); got != "running disable_2fa" {
				t.Errorf("job %q", got)
			}
			d.AssertUnchanged(before, d.Snapshot(storagetest.DomainTables...))
			d.assertRerunNoop(ssosetup.StageStart, id)
		})
	}
}

// TestStartConcurrentRuns delivers start four times at once, for a job that passes and one that fails: one
// run decides, the others see its record.
func TestStartConcurrentRuns(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	f := startFixture(d)

	pass := d.job(setupRequest(f.acme, f.admin), ssosetup.StageStart, ssosetup.Job{})
	if out, err := d.runConcurrently(ssosetup.StageStart, pass, 4); err != nil || out.Status != ssosetup.StageDone {
		t.Errorf("passing job: %s, %v", out.Status, err)
	}
	if got := d.jobState(pass); got != "running disable_2fa" {
		t.Errorf("passing job %q", got)
	}

	fail := d.job(setupRequest(f.taken, f.outsider), ssosetup.StageStart, ssosetup.Job{})
	before := d.Snapshot(storagetest.DomainTables...)
	out, err := d.runConcurrently(ssosetup.StageStart, fail, 4)
	d.assertFailed(fail, ssosetup.StageStart, ssosetup.CodeNotAMember, out, err, before)
}
