package postgres

import (
	"context"
	"time"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/storage"
)

// UpsertReleaseEnvironment records the release and environment an event names (Sentry's adjacent models):
// first_seen once, last_seen bumped only when it is at least a minute older than the event, which spares hot
// rows a write per event. Idempotent and safe under concurrency; a blank release or environment is skipped.
func (s *Store) UpsertReleaseEnvironment(ctx context.Context, org int64, release, environment string, seen time.Time) error {
	if release == "" && environment == "" {
		return nil
	}
	// One statement, so one round trip and its own transaction. The no-op DO UPDATEs make RETURNING see an
	// existing row, and wait for a concurrent insert instead of failing on it.
	_, err := s.pool.Exec(ctx, `
		WITH rel AS (
			INSERT INTO releases (organization_id, version) SELECT $1, $2 WHERE $2 <> ''
			ON CONFLICT (organization_id, version) DO UPDATE SET version = excluded.version RETURNING id
		), env AS (
			INSERT INTO environments (organization_id, name) SELECT $1, $3 WHERE $3 <> ''
			ON CONFLICT (organization_id, name) DO UPDATE SET name = excluded.name RETURNING id
		)
		INSERT INTO release_environments (organization_id, release_id, environment_id, first_seen, last_seen)
		SELECT $1, rel.id, env.id, $4, $4 FROM rel, env
		ON CONFLICT (organization_id, release_id, environment_id) DO UPDATE SET last_seen = excluded.last_seen
		WHERE release_environments.last_seen < excluded.last_seen - interval '60 seconds'`,
		org, release, environment, seen)
	return err
}

// RecordEventSaved records the save_event stage once its event is in the eventstream. The stage changed no
// job fact and wrote nothing else to Postgres, so it is recorded alone (recordAlone). storage.ErrStageDone
// when another run recorded it first, ErrJobFinished when the job is no longer running.
func (s *Store) RecordEventSaved(ctx context.Context, run Run, detail string) error {
	_, res, err := s.recordAlone(ctx, ssosetup.StageSaveEvent, ssosetup.StageDone, run, `true`, `$7::text`, detail)
	switch {
	case err != nil:
		return err
	case res == alreadyRecorded:
		return storage.ErrStageDone
	case res == notRunning:
		return ErrJobFinished
	}
	return nil
}
