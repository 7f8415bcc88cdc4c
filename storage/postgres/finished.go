package postgres

import "github.com/jackc/pgx/v5"

// NotifyChannel is the Postgres channel on which a job's finishing transaction announces, at its commit,
// "<setup id>" or "<setup id> <batch id>" when it also finished its batch: what long-polls wait for.
const NotifyChannel = "ssosetup_finished"

// finishedByThisTx matches a row this transaction wrote (its xmin is our transaction id): what tells the
// transaction that finished a job, or took its batch to 0, from any other that merely finds it finished.
const finishedByThisTx = `xmin = pg_current_xact_id()::xid`

// finishedJobSQL runs after the update that finished job $1, in the same transaction: the job leaves its
// batch's unfinished count, its webhook deliveries are written for every receiver URL in $2 (an outbox,
// SPEC §11), and waiting long-polls are told at commit. It does nothing unless this transaction finished
// the job, so that a run that finds the job finished by another counts nothing twice.
const finishedJobSQL = `
	WITH s AS (
		SELECT id, batch_id, status FROM setups
		WHERE id = $1 AND status IN ('succeeded', 'failed', 'cancelled') AND ` + finishedByThisTx + `
	), b AS (
		UPDATE batches SET unfinished = unfinished - 1,
			finished_at = CASE WHEN unfinished = 1 THEN now() ELSE finished_at END
		WHERE id = (SELECT batch_id FROM s)
	), hooks AS (
		INSERT INTO webhook_deliveries (id, event_type, setup_id, url, payload)
		SELECT gen_random_uuid(), 'setup.' || s.status, s.id, u.url, jsonb_build_object('type', 'setup.' || s.status,
			'timestamp', ssosetup_ts(now()), 'data', ssosetup_setup_document(s.id))
		FROM s, unnest($2::text[]) AS u(url)
	)
	SELECT pg_notify('` + NotifyChannel + `', s.id::text) FROM s`

// finishedBatchSQL follows finishedJobSQL in a statement of its own, so that it sees the batch's other jobs
// as they are once the batch row's lock was had: when this transaction took job $1's batch to 0 unfinished,
// the batch is announced (webhooks, long-polls) with its final document.
const finishedBatchSQL = `
	WITH b AS (
		SELECT id FROM batches
		WHERE id = (SELECT batch_id FROM setups WHERE id = $1) AND unfinished = 0 AND ` + finishedByThisTx + `
	), hooks AS (
		INSERT INTO webhook_deliveries (id, event_type, batch_id, url, payload)
		SELECT gen_random_uuid(), 'batch.finished', b.id, u.url, jsonb_build_object('type', 'batch.finished',
			'timestamp', ssosetup_ts(now()), 'data', ssosetup_batch_document(b.id))
		FROM b, unnest($2::text[]) AS u(url)
	)
	SELECT pg_notify('` + NotifyChannel + `', b.id::text) FROM b`

// queueFinished queues the statements that follow a job's finishing update.
func (s *Store) queueFinished(b *pgx.Batch, id any) {
	b.Queue(finishedJobSQL, id, s.webhookURLs)
	b.Queue(finishedBatchSQL, id, s.webhookURLs)
}
