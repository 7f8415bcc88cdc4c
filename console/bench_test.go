package console_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/uuid"

	"github.com/ssosetup/ssosetup/console"
	"github.com/ssosetup/ssosetup/storage/postgres"
	"github.com/ssosetup/ssosetup/storage/storagetest"
)

// BenchmarkConsolePages renders each page with 1,000,000 jobs in the table, server time only (SPEC §12 goal:
// ≤ 50 ms a page). The list's counts of the last 24 hours are refreshed in the background, as in production;
// the "first list" case measures the one page that waits for them, the first after a start.
func BenchmarkConsolePages(b *testing.B) {
	d := storagetest.NewDB(b)
	d.SeedSetups(1_000_000)
	store := postgres.NewStore(d.Pool)
	var job, batch uuid.UUID
	d.Scan(`SELECT id FROM setups WHERE status = 'failed' LIMIT 1`, nil, &job)
	d.Scan(`SELECT id FROM batches LIMIT 1`, nil, &batch)
	handler := func() http.Handler {
		return console.Handler(console.Config{Store: store, Logger: storagetest.Logger(b), Dashboard: "/monitoring"})
	}
	cached := handler()
	for _, page := range []struct {
		name, path string
		fresh      bool
	}{
		{"list", "/console/", false},
		{"first list", "/console/", true},
		{"list, failed of one org", "/console/?status=failed&org=42", false},
		{"job", "/console/setups/" + job.String(), false},
		{"batch", "/console/batches/" + batch.String(), false},
	} {
		b.Run(page.name, func(b *testing.B) {
			for b.Loop() {
				h := cached
				if page.fresh {
					h = handler()
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest("GET", page.path, nil))
				if rec.Code != 200 {
					b.Fatalf("%s: %d", page.path, rec.Code)
				}
			}
		})
	}
}
