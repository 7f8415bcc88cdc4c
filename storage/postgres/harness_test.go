package postgres_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/storage/postgres"
	"github.com/ssosetup/ssosetup/storage/storagetest"
)

// db is one test's Postgres schema with the store on it: the stage tests need nothing else, since they run a
// stage through the store's frame without a queue or the eventstream.
type db struct {
	*storagetest.DB
	store *postgres.Store
}

func newDB(t testing.TB) *db {
	t.Helper()
	sdb := storagetest.NewDB(t)
	return &db{DB: sdb, store: postgres.NewStore(sdb.Pool)}
}

// job records a job for req as its earlier stages would have left it: running, at stage, with facts' fact
// fields (organization, provider, identity, member, invite, was_member) stored.
func (d *db) job(req ssosetup.Request, stage string, facts ssosetup.Job) uuid.UUID {
	d.T.Helper()
	if err := req.Normalize(); err != nil {
		d.T.Fatalf("request: %v", err)
	}
	id := uuid.New()
	_, _, err := d.store.CreateSetup(d.Ctx, postgres.NewSetup{ID: id, Request: req, RequestHash: id.String(), Queue: "sso_setups"})
	if err != nil {
		d.T.Fatal(err)
	}
	d.Exec(`UPDATE setups SET status = 'running', stage = $2, organization_id = nullif($3, 0),
		auth_provider_id = nullif($4, 0), identity_id = nullif($5, 0), member_id = nullif($6, 0),
		invite_member_id = nullif($7, 0), was_member = $8 WHERE id = $1`,
		id, stage, facts.OrganizationID, facts.AuthProviderID, facts.IdentityID, facts.MemberID, facts.InviteMemberID,
		facts.WasMember)
	return id
}

// run runs stage of job id once through the store's frame.
func (d *db) run(stage string, id uuid.UUID) (ssosetup.Outcome, error) {
	return d.store.RunStage(d.Ctx, stage, ssosetup.Run{SetupID: id, Attempt: 1, StartedAt: time.Now()}, nil)
}

// stageRecord returns the job's record of stage as "status: detail", "" when there is none.
func (d *db) stageRecord(id uuid.UUID, stage string) string {
	d.T.Helper()
	var rec string
	err := d.Pool.QueryRow(d.Ctx, `SELECT status || ': ' || detail FROM setup_stages WHERE setup_id = $1 AND stage = $2`,
		id, stage).Scan(&rec)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		d.T.Fatal(err)
	}
	return rec
}

// setupRequest is an admin's setup of org through provider "okta".
func setupRequest(org, user int64) ssosetup.Request {
	return ssosetup.Request{
		Flow: ssosetup.FlowSetup, OrganizationID: org, UserID: user, Authenticated: true, PipelineUserID: user,
		Provider: &ssosetup.Provider{Key: "okta", Config: map[string]any{"domain": "acme.okta.com", "client_secret": "s3cr3t"}},
		Identity: ssosetup.Identity{ID: fmt.Sprintf("idp-%d", user), Data: map[string]any{"access_token": "s3cr3t"}},
	}
}

// linkRequest is user's link to org's provider with the IdP's id ident.
func linkRequest(org, user int64, ident string) ssosetup.Request {
	return ssosetup.Request{
		Flow: ssosetup.FlowLink, OrganizationID: org, UserID: user, Authenticated: true, PipelineUserID: user,
		Identity: ssosetup.Identity{ID: ident},
	}
}

// stateTables are storagetest.DomainTables plus the jobs' own state: a run that finds its stage recorded changes none of them.
var stateTables = append(slices.Clone(storagetest.DomainTables), "setups", "setup_stages")

// jobState is the job's status, current stage and error code ("running new_membership", "failed start
// not_a_member"): what every stage test checks of the job itself.
func (d *db) jobState(id uuid.UUID) string {
	d.T.Helper()
	var s string
	d.Scan(`SELECT status || ' ' || stage || coalesce(' ' || error_code, '') FROM setups WHERE id = $1`, []any{id}, &s)
	return s
}

// audits lists the events of the audit entries job id wrote, in the order they were written.
func (d *db) audits(id uuid.UUID) []string {
	d.T.Helper()
	var events []string
	d.Scan(`SELECT coalesce(array_agg(event ORDER BY id), '{}') FROM audit_log_entries WHERE setup_id = $1`,
		[]any{id}, &events)
	return events
}

// memberRow is an organization_members row as the stages change it.
type memberRow struct {
	UserID                                            *int64
	Email, Token                                      *string
	Expires                                           *time.Time
	Role, InviteStatus                                string
	Linked, Invalid, Restricted, Provisioned, RoleRst bool
}

// memberRow reads member row id; ok is false when the row is gone.
func (d *db) memberRow(id int64) (m memberRow, ok bool) {
	d.T.Helper()
	err := d.Pool.QueryRow(d.Ctx, `SELECT user_id, email, token, token_expires_at, role, invite_status, sso_linked,
		sso_invalid, member_limit_restricted, idp_provisioned, idp_role_restricted FROM organization_members WHERE id = $1`, id).
		Scan(&m.UserID, &m.Email, &m.Token, &m.Expires, &m.Role, &m.InviteStatus, &m.Linked, &m.Invalid, &m.Restricted,
			&m.Provisioned, &m.RoleRst)
	if errors.Is(err, pgx.ErrNoRows) {
		return m, false
	}
	if err != nil {
		d.T.Fatal(err)
	}
	return m, true
}

// memberOf returns the id of user's membership of org, 0 when there is none.
func (d *db) memberOf(org, user int64) int64 {
	d.T.Helper()
	return d.QueryInt(`SELECT coalesce((SELECT id FROM organization_members WHERE organization_id = $1 AND user_id = $2), 0)`,
		org, user)
}

// assertFailed checks a permanent failure of stage with code: the error and outcome, the stage's record, the
// job failed with the code's message, and nothing outside the job's own state changed since before.
func (d *db) assertFailed(id uuid.UUID, stage, code string, out ssosetup.Outcome, err error, before map[string]string) {
	d.T.Helper()
	if je, ok := ssosetup.AsJobError(err); !ok || je.Code != code {
		d.T.Errorf("%s returned %v, want the permanent failure %s", stage, err, code)
	}
	if out.Status != ssosetup.StageFailed || out.Detail != code || out.Signalled {
		d.T.Errorf("outcome %s %q signalled=%v, want failed %q", out.Status, out.Detail, out.Signalled, code)
	}
	if got := d.stageRecord(id, stage); got != "failed: "+code {
		d.T.Errorf("stage record %q, want %q", got, "failed: "+code)
	}
	if got, want := d.jobState(id), "failed "+stage+" "+code; got != want {
		d.T.Errorf("job %q, want %q", got, want)
	}
	var message string
	d.Scan(`SELECT coalesce(error_message, '') FROM setups WHERE id = $1`, []any{id}, &message)
	if message != ssosetup.Message(code) {
		d.T.Errorf("error message %q, want %q", message, ssosetup.Message(code))
	}
	d.AssertUnchanged(before, d.Snapshot(storagetest.DomainTables...))
}

// assertRerunNoop runs stage of job id again, as a redelivered task would: it must report ErrStageDone and
// change nothing, the job's own state included.
func (d *db) assertRerunNoop(stage string, id uuid.UUID) {
	d.T.Helper()
	before := d.Snapshot(stateTables...)
	if _, err := d.run(stage, id); !errors.Is(err, ssosetup.ErrStageDone) {
		d.T.Errorf("second run of %s returned %v, want ErrStageDone", stage, err)
	}
	d.AssertUnchanged(before, d.Snapshot(stateTables...))
}

// runConcurrently runs stage of job id in n goroutines released at once, as overlapping deliveries would; it
// checks that every run but one returned ErrStageDone and returns that one run's outcome and error.
func (d *db) runConcurrently(stage string, id uuid.UUID, n int) (ssosetup.Outcome, error) {
	d.T.Helper()
	outs, errs := make([]ssosetup.Outcome, n), make([]error, n)
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-gate
			outs[i], errs[i] = d.run(stage, id)
		})
	}
	close(gate)
	wg.Wait()
	ran := -1
	for i, err := range errs {
		if errors.Is(err, ssosetup.ErrStageDone) {
			continue
		}
		if ran >= 0 {
			d.T.Fatalf("runs %d and %d both did the stage (errors %v, %v); the others must return ErrStageDone",
				ran, i, errs[ran], err)
		}
		ran = i
	}
	if ran < 0 {
		d.T.Fatalf("all %d runs returned ErrStageDone; one must do the stage", n)
	}
	return outs[ran], errs[ran]
}
