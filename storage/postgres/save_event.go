package postgres

import (
	"context"
	"time"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/eventstream"
)

// saveEvent is the Postgres part of the save_event stage (SPEC §3.6). Its event is already in the
// eventstream: the worker's prepare step wrote it before this transaction began (see Prepare), so the stage
// is never recorded without its event. Here it saves the adjacent models, the event's release and
// environment, and records the event's id. Normalizing is deterministic, so this build of the event is the
// one the prepare step wrote.
func saveEvent(_ context.Context, tx *stageTx, j *ssosetup.Job) (string, string, error) {
	ev := eventstream.Build(eventstream.FromJob(*j))
	upsertReleaseEnvironment(tx, j.OrganizationID, ev.Release, ev.Environment, ev.Timestamp)
	return ssosetup.StageDone, "event " + ev.EventID.String(), nil
}

// upsertReleaseEnvironment queues the release and environment an event names: first_seen once, last_seen
// bumped only when it is more than a minute older than the event (Sentry's rule), which spares hot rows a
// write per event. A release without an environment pairs with the environment named "" (empty), as in
// Sentry; an environment without a release gets its row alone. Idempotent and safe under concurrency.
func upsertReleaseEnvironment(tx *stageTx, org int64, release, environment string, seen time.Time) {
	if release == "" && environment == "" {
		return
	}
	// The no-op DO UPDATEs make RETURNING see an existing row, and wait for a concurrent insert instead of
	// failing on it.
	tx.later(`
		WITH rel AS (
			INSERT INTO releases (organization_id, version) SELECT $1, $2 WHERE $2 <> ''
			ON CONFLICT (organization_id, version) DO UPDATE SET version = excluded.version RETURNING id
		), env AS (
			INSERT INTO environments (organization_id, name) SELECT $1, $3 WHERE $3 <> '' OR $2 <> ''
			ON CONFLICT (organization_id, name) DO UPDATE SET name = excluded.name RETURNING id
		)
		INSERT INTO release_environments (organization_id, release_id, environment_id, first_seen, last_seen)
		SELECT $1, rel.id, env.id, $4, $4 FROM rel, env
		ON CONFLICT (organization_id, release_id, environment_id) DO UPDATE SET last_seen = excluded.last_seen
		WHERE release_environments.last_seen < excluded.last_seen - interval '60 seconds'`,
		org, release, environment, seen)
}
