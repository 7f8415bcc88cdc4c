package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ssosetup/ssosetup/storage/postgres"
	"github.com/ssosetup/ssosetup/storage/storagetest"
)

// Sentry's adjacent models: first_seen is kept, last_seen moves only when a minute or more older than the
// event, and a release or environment alone gets its row without a pairing.
func TestUpsertReleaseEnvironment(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storagetest.Postgres(t)
	store := postgres.NewStore(pool)
	var org int64
	if err := pool.QueryRow(ctx, `INSERT INTO organizations (slug, name) VALUES ('acme', 'Acme') RETURNING id`).Scan(&org); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	seen := func() (first, last time.Time) {
		t.Helper()
		err := pool.QueryRow(ctx, `SELECT re.first_seen, re.last_seen FROM release_environments re
			JOIN releases r ON r.id = re.release_id JOIN environments e ON e.id = re.environment_id
			WHERE r.version = 'web@1' AND e.name = 'production'`).Scan(&first, &last)
		if err != nil {
			t.Fatal(err)
		}
		return first.UTC(), last.UTC()
	}
	for _, step := range []struct {
		at          time.Time
		first, last time.Time
	}{
		{t0, t0, t0},
		{t0.Add(30 * time.Second), t0, t0}, // under a minute newer: no write
		{t0.Add(90 * time.Second), t0, t0.Add(90 * time.Second)}, // a minute or more: bumped
		{t0.Add(-time.Hour), t0, t0.Add(90 * time.Second)},       // older events never move it back
	} {
		if err := store.UpsertReleaseEnvironment(ctx, org, "web@1", "production", step.at); err != nil {
			t.Fatal(err)
		}
		if first, last := seen(); !first.Equal(step.first) || !last.Equal(step.last) {
			t.Errorf("after an event at %s: first_seen %s, last_seen %s; want %s, %s", step.at, first, last, step.first, step.last)
		}
	}

	if err := store.UpsertReleaseEnvironment(ctx, org, "web@2", "", t0); err != nil {
		t.Fatal(err)
	}
	if err := store.UpsertReleaseEnvironment(ctx, org, "", "staging", t0); err != nil {
		t.Fatal(err)
	}
	// Concurrent events of one release and environment share their rows.
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if err := store.UpsertReleaseEnvironment(ctx, org, "web@3", "canary", t0); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	var releases, environments, pairs int
	err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM releases), (SELECT count(*) FROM environments),
		(SELECT count(*) FROM release_environments)`).Scan(&releases, &environments, &pairs)
	if err != nil {
		t.Fatal(err)
	}
	if releases != 3 || environments != 3 || pairs != 2 {
		t.Errorf("%d releases, %d environments, %d pairs; want 3, 3, 2", releases, environments, pairs)
	}
}
