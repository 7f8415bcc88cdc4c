// Package invariants reads back what a set of jobs left in Postgres and ClickHouse and checks the product's
// exactly-once promises (SPEC §4): used by `ssosetup loadtest` and by the fault tests.
package invariants

import (
	"context"
	"fmt"
	"slices"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Report is the outcome of a check; Problems is empty when every invariant holds.
type Report struct {
	Jobs      int      `json:"jobs"`
	Succeeded int      `json:"succeeded"`
	Events    uint64   `json:"events"`
	Problems  []string `json:"problems"`
}

// OK reports whether every invariant held.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// checks are (description, query returning a count that must be zero). $1 is the jobs' setup ids. Each can
// fail: none counts rows that a unique index already keeps single (those could never be duplicated); they
// count effects that a lost, skipped or doubled stage would change.
var checks = []struct{ name, sql string }{
	{"succeeded jobs without all seven stages recorded", `
		SELECT count(*) FROM setups s WHERE s.id = ANY ($1) AND s.status = 'succeeded'
			AND (SELECT count(*) FROM setup_stages st WHERE st.setup_id = s.id) <> 7`},
	{"set-up organizations that still require 2FA", `
		SELECT count(*) FROM setups s JOIN organizations o ON o.id = s.organization_id
		WHERE s.id = ANY ($1) AND s.flow = 'setup' AND s.status = 'succeeded' AND o.require_2fa`},
	{"setups without their sso.enable audit entry", `
		SELECT count(*) FROM setups s WHERE s.id = ANY ($1) AND s.flow = 'setup' AND s.status = 'succeeded'
			AND NOT EXISTS (SELECT 1 FROM audit_log_entries a WHERE a.setup_id = s.id AND a.event = 'sso.enable')`},
	{"set-up organizations whose sso_enabled signal had no effect", `
		SELECT count(*) FROM setups s WHERE s.id = ANY ($1) AND s.flow = 'setup' AND s.status = 'succeeded'
			AND NOT EXISTS (SELECT 1 FROM feature_adoptions f WHERE f.organization_id = s.organization_id
				AND f.feature = 'sso' AND f.complete)`},
	{"members linked by a job but not marked sso_linked", `
		SELECT count(*) FROM setups s JOIN organization_members m ON m.id = s.member_id
		WHERE s.id = ANY ($1) AND s.status = 'succeeded' AND NOT m.sso_linked`},
	{"jobs not succeeded", `SELECT count(*) FROM setups WHERE id = ANY ($1) AND status <> 'succeeded'`},
	{"organizations without exactly one provider", `
		SELECT count(*) FROM (SELECT DISTINCT organization_id FROM setups WHERE id = ANY ($1)) o
		WHERE (SELECT count(*) FROM auth_providers p WHERE p.organization_id = o.organization_id) <> 1`},
	{"jobs without their own identity", `
		SELECT count(*) - count(DISTINCT i.id)
		FROM setups s LEFT JOIN auth_identities i ON i.id = s.identity_id AND i.user_id = s.user_id
		WHERE s.id = ANY ($1)`},
	{"setups without their sso_enabled signal", `
		SELECT count(*) FROM setups s WHERE s.id = ANY ($1) AND s.flow = 'setup'
			AND NOT EXISTS (SELECT 1 FROM signals g WHERE g.setup_id = s.id AND g.name = 'sso_enabled')`},
	{"undelivered signals", `SELECT count(*) FROM signals WHERE setup_id = ANY ($1) AND delivered_at IS NULL`},
	{"setups whose e-mails were not recorded", `
		SELECT count(*) FROM setups WHERE id = ANY ($1) AND flow = 'setup' AND emails_recorded_at IS NULL`},
}

// eventCountChunk is how many setup ids one ClickHouse count carries: about 80 KiB of query text.
const eventCountChunk = 2000

// Check verifies the invariants for the given jobs.
func Check(ctx context.Context, pool *pgxpool.Pool, ch driver.Conn, ids []uuid.UUID) (Report, error) {
	r := Report{Jobs: len(ids), Problems: []string{}}
	var succeeded int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM setups WHERE id = ANY ($1) AND status = 'succeeded'`, ids).Scan(&succeeded); err != nil {
		return r, err
	}
	r.Succeeded = succeeded
	for _, c := range checks {
		var n int64
		if err := pool.QueryRow(ctx, c.sql, ids).Scan(&n); err != nil {
			return r, fmt.Errorf("%s: %w", c.name, err)
		}
		if n != 0 {
			r.Problems = append(r.Problems, fmt.Sprintf("%s: %d", c.name, n))
		}
	}
	// The ids travel inside the query text, which ClickHouse caps (max_query_size, 256 KiB): count in chunks.
	for chunk := range slices.Chunk(ids, eventCountChunk) {
		strs := make([]string, len(chunk))
		for i, id := range chunk {
			strs[i] = id.String()
		}
		var n uint64
		if err := ch.QueryRow(ctx, `SELECT count() FROM events FINAL WHERE has(?, setup_id)`, strs).Scan(&n); err != nil {
			return r, fmt.Errorf("count events: %w", err)
		}
		r.Events += n
	}
	if r.Events != uint64(len(ids)) {
		r.Problems = append(r.Problems, fmt.Sprintf("events in ClickHouse (FINAL): %d for %d jobs", r.Events, len(ids)))
	}
	return r, nil
}
