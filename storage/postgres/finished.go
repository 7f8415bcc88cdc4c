package postgres

import "github.com/jackc/pgx/v5"

// NotifyChannel is the Postgres channel on which a job's finishing transaction announces, at its commit,
// "<setup id>" or "<setup id> <batch id>" when it also finished its batch: what long-polls wait for.
const NotifyChannel = "ssosetup_finished"

// finishedSQL is what every transaction that finishes job $1 runs after the job's own update: the job leaves
// its batch's unfinished count, and the one that takes it to 0 finishes the batch; webhook deliveries of the
// job (and of the batch it finished) are written for every receiver URL in $2 (an outbox, SPEC §11); and
// waiting long-polls are told at commit. It does nothing for a job that is not finished.
const finishedSQL = `
	WITH s AS (
		SELECT id, batch_id, status FROM setups WHERE id = $1 AND status IN ('succeeded', 'failed', 'cancelled')
	), b AS (
		UPDATE batches SET unfinished = unfinished - 1,
			finished_at = CASE WHEN unfinished = 1 THEN now() ELSE finished_at END
		WHERE id = (SELECT batch_id FROM s) RETURNING id, unfinished, finished_at
	), job_hooks AS (
		INSERT INTO webhook_deliveries (id, event_type, setup_id, url, payload)
		SELECT gen_random_uuid(), 'setup.' || s.status, s.id, u.url, jsonb_build_object('type', 'setup.' || s.status,
			'timestamp', ssosetup_ts(now()), 'data', ssosetup_setup_document(s.id))
		FROM s, unnest($2::text[]) AS u(url)
	), batch_hooks AS (
		INSERT INTO webhook_deliveries (id, event_type, batch_id, url, payload)
		SELECT gen_random_uuid(), 'batch.finished', b.id, u.url, jsonb_build_object('type', 'batch.finished',
			'timestamp', ssosetup_ts(now()),
			-- the batch's own row is changed by this statement, which its document does not see yet
			'data', ssosetup_batch_document(b.id) || jsonb_build_object('finished_at', ssosetup_ts(b.finished_at)))
		FROM b, unnest($2::text[]) AS u(url) WHERE b.unfinished = 0
	)
	SELECT pg_notify('` + NotifyChannel + `', s.id::text || coalesce(' ' || (SELECT id::text FROM b WHERE unfinished = 0), ''))
	FROM s`

// queueFinished queues finishedSQL for job id.
func (s *Store) queueFinished(b *pgx.Batch, id any) {
	b.Queue(finishedSQL, id, s.webhookURLs)
}
