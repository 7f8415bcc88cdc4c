package postgres_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ssosetup/ssosetup/storage/postgres"
)

// seedSetups inserts n finished and unfinished jobs over 200 organizations, 20 batches and every status,
// created one millisecond apart, and analyzes the table.
func seedSetups(d *db, n int) {
	d.T.Helper()
	d.Exec(`INSERT INTO organizations (id, slug, name) SELECT g, 'org-' || g, 'Org' FROM generate_series(1, 200) g`)
	d.Exec(`INSERT INTO batches (id, request_hash, total) SELECT ('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, '', 0
		FROM generate_series(1, 20) g`)
	d.Exec(`
		INSERT INTO setups (id, flow, organization_id, user_id, status, stage, error_code, error_message, request,
			request_hash, batch_id, created_at, finished_at)
		SELECT gen_random_uuid(), CASE WHEN g % 3 = 0 THEN 'setup' ELSE 'link' END, g % 200 + 1, g % 5000 + 1,
			(ARRAY['queued', 'running', 'succeeded', 'succeeded', 'succeeded', 'succeeded', 'failed', 'cancelled'])[g % 8 + 1],
			'finish', CASE WHEN g % 8 = 6 THEN (ARRAY['not_a_member', 'internal_error', 'sso_required'])[g % 3 + 1] END,
			NULL, '{}', '', CASE WHEN g % 10 = 0 THEN ('00000000-0000-4000-8000-' || lpad((g % 20 + 1)::text, 12, '0'))::uuid END,
			now() - (g * interval '1 millisecond'), now()
		FROM generate_series(1, $1) g`, n)
	d.Exec(`ANALYZE setups`)
}

// listFilters are the filter combinations the console and the CLI use.
var listFilters = map[string]postgres.ListFilter{
	"none":                    {},
	"status":                  {Status: "failed"},
	"flow":                    {Flow: "setup"},
	"organization":            {OrganizationID: 42},
	"organization slug":       {OrganizationSlug: "org-42"},
	"user":                    {UserID: 77},
	"error code":              {ErrorCode: "sso_required"},
	"batch":                   {BatchID: uuid.MustParse("00000000-0000-4000-8000-000000000007")},
	"status and flow":         {Status: "failed", Flow: "link"},
	"organization and status": {OrganizationID: 42, Status: "failed"},
	"batch and status":        {BatchID: uuid.MustParse("00000000-0000-4000-8000-000000000007"), Status: "failed"},
	"created range":           {CreatedAfter: time.Now().Add(-time.Hour), CreatedBefore: time.Now().Add(-time.Minute)},
}

// Every filter combination is served by an index, and pages follow each other without a repeat or a gap.
func TestListSetupsUsesIndexesAndPagesExactly(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	seedSetups(d, 100_000)
	for name, f := range listFilters {
		f.Limit = 50
		sql, args := postgres.ListSQL(f)
		var plan []string
		rows, err := d.Pool.Query(d.Ctx, "EXPLAIN "+sql, args...)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, line)
		}
		if p := strings.Join(plan, "\n"); strings.Contains(p, "Seq Scan on setups") {
			t.Errorf("%s: the list is not served by an index:\n%s", name, p)
		}
	}

	f := postgres.ListFilter{Status: "failed", Limit: 500}
	seen := map[uuid.UUID]bool{}
	pages := 0
	var last time.Time
	for {
		page, next, err := d.store.ListSetups(d.Ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range page {
			if seen[st.SetupID] || (!last.IsZero() && st.CreatedAt.After(last)) {
				t.Fatalf("page %d: %s repeated or out of order", pages, st.SetupID)
			}
			seen[st.SetupID], last = true, st.CreatedAt
		}
		pages++
		if next == nil {
			break
		}
		f.After = next
	}
	if want := d.QueryInt(`SELECT count(*) FROM setups WHERE status = 'failed'`); int64(len(seen)) != want {
		t.Errorf("the pages held %d failed jobs, the table %d", len(seen), want)
	}
}

// BenchmarkListSetups reads a page of 50 with each filter combination from 1,000,000 jobs (SPEC §10: served
// from indexes at any table size).
func BenchmarkListSetups(b *testing.B) {
	d := newDB(b)
	seedSetups(d, 1_000_000)
	for name, f := range listFilters {
		f.Limit = 50
		b.Run(strings.ReplaceAll(name, " ", "_"), func(b *testing.B) {
			for b.Loop() {
				if _, _, err := d.store.ListSetups(d.Ctx, f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
