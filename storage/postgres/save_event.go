package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ssosetup/ssosetup"
)

// UpsertReleaseEnvironment records the release and environment an event names (Sentry's adjacent models):
// first_seen once, last_seen bumped only when it is at least a minute older than the event, which spares hot
// rows a write per event. Idempotent and safe under concurrency; a blank release or environment is skipped.
func (s *Store) UpsertReleaseEnvironment(ctx context.Context, org int64, release, environment string, seen time.Time) error {
	if release == "" && environment == "" {
		return nil
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var relID, envID int64
		if release != "" {
			if err := tx.QueryRow(ctx, upsertReturningID("releases", "version"), org, release).Scan(&relID); err != nil {
				return err
			}
		}
		if environment != "" {
			if err := tx.QueryRow(ctx, upsertReturningID("environments", "name"), org, environment).Scan(&envID); err != nil {
				return err
			}
		}
		if relID == 0 || envID == 0 {
			return nil
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO release_environments (organization_id, release_id, environment_id, first_seen, last_seen)
			VALUES ($1, $2, $3, $4, $4)
			ON CONFLICT (organization_id, release_id, environment_id) DO UPDATE SET last_seen = excluded.last_seen
			WHERE release_environments.last_seen < excluded.last_seen - interval '60 seconds'`,
			org, relID, envID, seen)
		return err
	})
}

// upsertReturningID inserts (organization_id, col) unless present and returns the row's id either way. The
// no-op DO UPDATE makes RETURNING see an existing row without a second query, and waits for a concurrent
// insert instead of failing on it.
func upsertReturningID(table, col string) string {
	return `INSERT INTO ` + table + ` (organization_id, ` + col + `) VALUES ($1, $2)
		ON CONFLICT (organization_id, ` + col + `) DO UPDATE SET ` + col + ` = excluded.` + col + `
		RETURNING id`
}

// RecordEventSaved records the save_event stage once its event is in the eventstream.
func (s *Store) RecordEventSaved(ctx context.Context, run Run, detail string) (Outcome, error) {
	return s.runStage(ctx, ssosetup.StageSaveEvent, run, func(context.Context, querier, *Job) (string, string, error) {
		return ssosetup.StageDone, detail, nil
	})
}
