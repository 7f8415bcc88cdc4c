package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ssosetup/ssosetup/storage/postgres"
)

// DB is a test's Postgres schema with the helpers every test that seeds or checks rows needs. Its methods
// fail the test on any error, no row included, so that a check never compares against a value that was
// never read.
type DB struct {
	T    testing.TB
	Ctx  context.Context
	Pool *pgxpool.Pool
	URL  string // the schema's connection URL, for a second pool (a worker's, through a proxy)
}

// NewDB returns a DB on a fresh, migrated schema (see PostgresURL).
func NewDB(t testing.TB) *DB {
	t.Helper()
	u := PostgresURL(t)
	pool, err := postgres.Open(context.Background(), u, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return &DB{T: t, Ctx: context.Background(), Pool: pool, URL: u}
}

// Exec runs a statement.
func (d *DB) Exec(sql string, args ...any) {
	d.T.Helper()
	if _, err := d.Pool.Exec(d.Ctx, sql, args...); err != nil {
		d.T.Fatalf("%s: %v", sql, err)
	}
}

// Scan runs a query that returns one row and scans it into dest.
func (d *DB) Scan(sql string, args []any, dest ...any) {
	d.T.Helper()
	if err := d.Pool.QueryRow(d.Ctx, sql, args...).Scan(dest...); err != nil {
		d.T.Fatalf("%s: %v", sql, err)
	}
}

// QueryInt runs a query that returns one number.
func (d *DB) QueryInt(sql string, args ...any) int64 {
	d.T.Helper()
	var n int64
	d.Scan(sql, args, &n)
	return n
}

// Org creates organization slug, named "Org <slug>".
func (d *DB) Org(slug string, require2FA bool) int64 {
	d.T.Helper()
	return d.QueryInt(`INSERT INTO organizations (slug, name, require_2fa) VALUES ($1, $2, $3) RETURNING id`,
		slug, "Org "+slug, require2FA)
}

// User creates an active user whose e-mail is <username>@example.test.
func (d *DB) User(username string) int64 {
	d.T.Helper()
	return d.QueryInt(`INSERT INTO users (username, email, name) VALUES ($1, $1 || '@example.test', $1) RETURNING id`,
		username)
}

// Member makes user a member of org with role.
func (d *DB) Member(org, user int64, role string) int64 {
	d.T.Helper()
	return d.QueryInt(`INSERT INTO organization_members (organization_id, user_id, role) VALUES ($1, $2, $3) RETURNING id`,
		org, user, role)
}

// Provider configures org's SSO provider key with an empty config.
func (d *DB) Provider(org int64, key string, allowUnlinked bool) int64 {
	d.T.Helper()
	return d.QueryInt(`INSERT INTO auth_providers (organization_id, provider, config, allow_unlinked) VALUES ($1, $2, '{}', $3) RETURNING id`,
		org, key, allowUnlinked)
}

// Identity records user's identity at provider, verified a day ago so that a re-link's refresh shows.
func (d *DB) Identity(provider, user int64, ident, data string) int64 {
	d.T.Helper()
	return d.QueryInt(`INSERT INTO auth_identities (auth_provider_id, user_id, ident, data, last_verified, last_synced)
		VALUES ($1, $2, $3, $4, now() - interval '1 day', now() - interval '1 day') RETURNING id`,
		provider, user, ident, data)
}

// Invite records a pending member row of org (no user yet), as an admin's invite or a user's request leaves
// it; token "" and a nil expires mean none.
func (d *DB) Invite(org int64, email, token, status string, expires *time.Time, role string) int64 {
	d.T.Helper()
	return d.QueryInt(`INSERT INTO organization_members (organization_id, email, token, invite_status, token_expires_at, role)
		VALUES ($1, $2, nullif($3, ''), $4, $5, $6) RETURNING id`, org, email, token, status, expires, role)
}

// DomainTables are every table a stage may write, for before/after comparisons.
var DomainTables = []string{
	"organizations", "users", "organization_members", "auth_providers", "auth_identities", "audit_log_entries",
	"releases", "environments", "release_environments", "signals", "feature_adoptions", "onboarding_tasks",
	"outbound_emails",
}

// Snapshot returns the content of tables as JSON text, for comparing before and after a run.
func (d *DB) Snapshot(tables ...string) map[string]string {
	d.T.Helper()
	out := map[string]string{}
	for _, table := range tables {
		var s string
		d.Scan(`SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY to_jsonb(t)::text)::text, '[]') FROM `+table+` t`, nil, &s)
		out[table] = s
	}
	return out
}

// AssertUnchanged reports every table whose content differs between two snapshots.
func (d *DB) AssertUnchanged(before, after map[string]string) {
	d.T.Helper()
	for table, b := range before {
		if after[table] != b {
			d.T.Errorf("table %s changed:\nbefore %s\nafter  %s", table, b, after[table])
		}
	}
}

// SeedSetups inserts n finished and unfinished jobs over 200 organizations and every status, one in ten in
// batches of 1000 (the most a batch holds), created one millisecond apart, and analyzes the table.
func (d *DB) SeedSetups(n int) {
	d.T.Helper()
	d.Exec(`INSERT INTO organizations (id, slug, name) SELECT g, 'org-' || g, 'Org' FROM generate_series(1, 200) g`)
	d.Exec(`INSERT INTO batches (id, request_hash, total) SELECT ('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, '', 0
		FROM generate_series(1, greatest($1 / 10000, 1)) g`, n)
	d.Exec(`
		INSERT INTO setups (id, flow, organization_id, user_id, status, stage, error_code, error_message, request,
			request_hash, batch_id, created_at, finished_at)
		SELECT gen_random_uuid(), CASE WHEN g % 3 = 0 THEN 'setup' ELSE 'link' END, g % 200 + 1, g % 5000 + 1,
			(ARRAY['queued', 'running', 'succeeded', 'succeeded', 'succeeded', 'succeeded', 'failed', 'cancelled'])[g % 8 + 1],
			'finish', CASE WHEN g % 8 = 6 THEN (ARRAY['not_a_member', 'internal_error', 'sso_required'])[g % 3 + 1] END,
			NULL, '{}', '', CASE WHEN g % 10 = 0 THEN ('00000000-0000-4000-8000-' || lpad(((g / 10) % greatest($1 / 10000, 1) + 1)::text, 12, '0'))::uuid END,
			now() - (g * interval '1 millisecond'), now()
		FROM generate_series(1, $1) g`, n)
	d.Exec(`ANALYZE setups`)
}
