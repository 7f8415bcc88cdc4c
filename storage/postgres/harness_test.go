package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/storage/postgres"
	"github.com/ssosetup/ssosetup/storage/storagetest"
)

// db is one test's Postgres schema with the store on it: the stage tests need nothing else, since they run a
// stage through the store's frame without a queue or the eventstream.
type db struct {
	t     testing.TB
	ctx   context.Context
	pool  *pgxpool.Pool
	store *postgres.Store
}

func newDB(t testing.TB) *db {
	t.Helper()
	pool := storagetest.Postgres(t)
	return &db{t: t, ctx: context.Background(), pool: pool, store: postgres.NewStore(pool)}
}

func (d *db) exec(sql string, args ...any) {
	d.t.Helper()
	if _, err := d.pool.Exec(d.ctx, sql, args...); err != nil {
		d.t.Fatalf("%s: %v", sql, err)
	}
}

// scan runs a query that returns one row and scans it into dest; any error, no row included, fails the test.
func (d *db) scan(sql string, args []any, dest ...any) {
	d.t.Helper()
	if err := d.pool.QueryRow(d.ctx, sql, args...).Scan(dest...); err != nil {
		d.t.Fatalf("%s: %v", sql, err)
	}
}

func (d *db) queryInt(sql string, args ...any) int64 {
	d.t.Helper()
	var n int64
	d.scan(sql, args, &n)
	return n
}

func (d *db) org(slug string, require2FA bool) int64 {
	d.t.Helper()
	return d.queryInt(`INSERT INTO organizations (slug, name, require_2fa) VALUES ($1, $2, $3) RETURNING id`,
		slug, "Org "+slug, require2FA)
}

// user creates an active user whose e-mail is <username>@example.test.
func (d *db) user(username string) int64 {
	d.t.Helper()
	return d.queryInt(`INSERT INTO users (username, email, name) VALUES ($1, $1 || '@example.test', $1) RETURNING id`,
		username)
}

func (d *db) member(org, user int64, role string) int64 {
	d.t.Helper()
	return d.queryInt(`INSERT INTO organization_members (organization_id, user_id, role) VALUES ($1, $2, $3) RETURNING id`,
		org, user, role)
}

func (d *db) provider(org int64, key string, allowUnlinked bool) int64 {
	d.t.Helper()
	return d.queryInt(`INSERT INTO auth_providers (organization_id, provider, config, allow_unlinked) VALUES ($1, $2, '{}', $3) RETURNING id`,
		org, key, allowUnlinked)
}

// job records a job for req as its earlier stages would have left it: running, at stage, with facts' fact
// fields (organization, provider, identity, member, invite, was_member) stored.
func (d *db) job(req ssosetup.Request, stage string, facts ssosetup.Job) uuid.UUID {
	d.t.Helper()
	if err := req.Normalize(); err != nil {
		d.t.Fatalf("request: %v", err)
	}
	id := uuid.New()
	_, _, err := d.store.CreateSetup(d.ctx, postgres.NewSetup{ID: id, Request: req, RequestHash: id.String(), Queue: "sso_setups"})
	if err != nil {
		d.t.Fatal(err)
	}
	d.exec(`UPDATE setups SET status = 'running', stage = $2, organization_id = nullif($3, 0),
		auth_provider_id = nullif($4, 0), identity_id = nullif($5, 0), member_id = nullif($6, 0),
		invite_member_id = nullif($7, 0), was_member = $8 WHERE id = $1`,
		id, stage, facts.OrganizationID, facts.AuthProviderID, facts.IdentityID, facts.MemberID, facts.InviteMemberID,
		facts.WasMember)
	return id
}

// run runs stage of job id once through the store's frame.
func (d *db) run(stage string, id uuid.UUID) (ssosetup.Outcome, error) {
	return d.store.RunStage(d.ctx, stage, ssosetup.Run{SetupID: id, Attempt: 1, StartedAt: time.Now()}, nil)
}

// stageRecord returns the job's record of stage as "status: detail", "" when there is none.
func (d *db) stageRecord(id uuid.UUID, stage string) string {
	d.t.Helper()
	var rec string
	err := d.pool.QueryRow(d.ctx, `SELECT status || ': ' || detail FROM setup_stages WHERE setup_id = $1 AND stage = $2`,
		id, stage).Scan(&rec)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		d.t.Fatal(err)
	}
	return rec
}

// domainTables are every table a stage may write, for before/after comparisons.
var domainTables = []string{
	"organizations", "users", "organization_members", "auth_providers", "auth_identities", "audit_log_entries",
	"releases", "environments", "release_environments", "signals", "feature_adoptions", "onboarding_tasks",
	"outbound_emails",
}

// snapshot returns the content of tables as JSON text, for comparing before and after a run.
func (d *db) snapshot(tables ...string) map[string]string {
	d.t.Helper()
	out := map[string]string{}
	for _, table := range tables {
		var s string
		d.scan(`SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY to_jsonb(t)::text)::text, '[]') FROM `+table+` t`, nil, &s)
		out[table] = s
	}
	return out
}

func (d *db) assertUnchanged(before, after map[string]string) {
	d.t.Helper()
	for table, b := range before {
		if after[table] != b {
			d.t.Errorf("table %s changed:\nbefore %s\nafter  %s", table, b, after[table])
		}
	}
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
