package postgres

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// StalledJob is an unfinished job the reconciler checks: its current stage's task should be in Redis.
type StalledJob struct {
	ID          uuid.UUID
	Stage       string
	Queue       string
	Retries     int    // the job's current run
	Traceparent string // the job's trace
}

// UnfinishedJobs returns up to limit unfinished jobs of queue that have not moved for at least idle, oldest
// first. A job that moves normally is younger than idle and is left alone, which keeps the reconciler from
// racing a stage between its commit and its enqueue. One queue at a time, so that a bulk backlog never hides
// an interactive job behind it.
func (s *Store) UnfinishedJobs(ctx context.Context, queue string, idle time.Duration, limit int) ([]StalledJob, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, stage, queue, retries, coalesce(traceparent, '') FROM setups
		WHERE status IN ('queued', 'running') AND queue = $3 AND updated_at < now() - make_interval(secs => $1)
		ORDER BY updated_at LIMIT $2`, idle.Seconds(), limit, queue)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[StalledJob])
}

// EmailJob is a succeeded setup whose link e-mails are not recorded yet.
type EmailJob struct {
	SetupID        uuid.UUID
	OrganizationID int64
	ActorUserID    int64
	Provider       string
}

// SetupsMissingEmails returns up to limit setups that succeeded at least idle ago without their e-mails
// recorded (the e-mail task was lost with Redis's data).
func (s *Store) SetupsMissingEmails(ctx context.Context, idle time.Duration, limit int) ([]EmailJob, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, organization_id, user_id, request->'provider'->>'key' FROM setups
		WHERE status = 'succeeded' AND flow = 'setup' AND emails_recorded_at IS NULL
			AND finished_at < now() - make_interval(secs => $1)
		ORDER BY finished_at LIMIT $2`, idle.Seconds(), limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[EmailJob])
}

// SetupsWithUnsentEmails returns up to limit setups with an e-mail recorded at least idle ago that is neither
// sent nor refused for good, nor claimed by a live run: their e-mail task gave up or was lost, and they are
// sent again until they go (SPEC §4).
func (s *Store) SetupsWithUnsentEmails(ctx context.Context, idle time.Duration, limit int) ([]EmailJob, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT s.id, s.organization_id, s.user_id, s.request->'provider'->>'key' FROM setups s
		WHERE s.id IN (SELECT e.setup_id FROM outbound_emails e
			WHERE e.sent_at IS NULL AND e.error IS NULL AND e.created_at < now() - make_interval(secs => $1)
				AND (e.claimed_at IS NULL OR e.claimed_at < now() - interval '`+emailClaimTimeout+`')
			ORDER BY e.created_at LIMIT $2)`, idle.Seconds(), limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[EmailJob])
}
