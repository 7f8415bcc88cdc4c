package postgres_test

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ssosetup/ssosetup"
)

// saveEventJob records a link job at save_event whose event names release and environment at `at`.
func (d *db) saveEventJob(org, user int64, release, environment string, at time.Time) uuid.UUID {
	d.T.Helper()
	ev := map[string]any{"timestamp": at.Format(time.RFC3339)}
	if release != "" {
		ev["release"] = release
	}
	if environment != "" {
		ev["environment"] = environment
	}
	raw, err := json.Marshal(ev)
	if err != nil {
		d.T.Fatal(err)
	}
	req := linkRequest(org, user, "idp")
	req.Event = raw
	return d.job(req, ssosetup.StageSaveEvent, ssosetup.Job{OrganizationID: org})
}

// Sentry's adjacent models: first_seen is kept, last_seen moves only when more than a minute older than the
// event, a release alone pairs with the environment "", and an environment alone gets its row without a
// pairing.
func TestSaveEventReleaseEnvironment(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	org, user := d.Org("acme", false), d.User("ada")
	t0 := time.Now().Add(-24 * time.Hour).UTC().Truncate(time.Second) // inside the 30 days an event may be old
	seen := func() (first, last time.Time) {
		t.Helper()
		d.Scan(`SELECT re.first_seen, re.last_seen FROM release_environments re
			JOIN releases r ON r.id = re.release_id JOIN environments e ON e.id = re.environment_id
			WHERE r.version = 'web@1' AND e.name = 'production'`, nil, &first, &last)
		return first.UTC(), last.UTC()
	}
	for _, step := range []struct {
		at          time.Time
		first, last time.Time
	}{
		{t0, t0, t0},
		{t0.Add(60 * time.Second), t0, t0}, // exactly a minute newer: no write
		{t0.Add(61 * time.Second), t0, t0.Add(61 * time.Second)},  // more than a minute: bumped
		{t0.Add(121 * time.Second), t0, t0.Add(61 * time.Second)}, // a minute after the bump: no write
		{t0.Add(122 * time.Second), t0, t0.Add(122 * time.Second)},
		{t0.Add(-time.Hour), t0, t0.Add(122 * time.Second)}, // older events never move it back
	} {
		id := d.saveEventJob(org, user, "web@1", "production", step.at)
		out, err := d.run(ssosetup.StageSaveEvent, id)
		if err != nil {
			t.Fatal(err)
		}
		if evID, ok := strings.CutPrefix(out.Detail, "event "); out.Status != ssosetup.StageDone || !ok || uuid.Validate(evID) != nil {
			t.Errorf("outcome %s %q", out.Status, out.Detail)
		}
		if first, last := seen(); !first.Equal(step.first) || !last.Equal(step.last) {
			t.Errorf("after an event at %s: first_seen %s, last_seen %s; want %s, %s", step.at, first, last, step.first, step.last)
		}
	}

	for _, id := range []uuid.UUID{d.saveEventJob(org, user, "web@2", "", t0), d.saveEventJob(org, user, "", "staging", t0)} {
		if _, err := d.run(ssosetup.StageSaveEvent, id); err != nil {
			t.Fatal(err)
		}
	}
	// Concurrent events of one release and environment share their rows.
	var wg sync.WaitGroup
	for range 20 {
		id := d.saveEventJob(org, user, "web@3", "canary", t0)
		wg.Go(func() {
			if _, err := d.run(ssosetup.StageSaveEvent, id); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	var releases, environments, pairs int
	d.Scan(`SELECT (SELECT count(*) FROM releases), (SELECT count(*) FROM environments),
		(SELECT count(*) FROM release_environments)`, nil, &releases, &environments, &pairs)
	// web@2 came without an environment: as in Sentry, it pairs with the environment named "".
	if releases != 3 || environments != 4 || pairs != 3 {
		t.Errorf("%d releases, %d environments, %d pairs; want 3, 4 (one named \"\"), 3", releases, environments, pairs)
	}
	if n := d.QueryInt(`SELECT count(*) FROM release_environments re JOIN releases r ON r.id = re.release_id
		JOIN environments e ON e.id = re.environment_id WHERE r.version = 'web@2' AND e.name = ''`); n != 1 {
		t.Errorf("web@2 has %d pairings with the empty environment, want 1", n)
	}
}
