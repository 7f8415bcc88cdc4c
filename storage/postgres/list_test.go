package postgres_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ssosetup/ssosetup/storage/postgres"
)

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
	d.SeedSetups(100_000)
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
	d.SeedSetups(1_000_000)
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
