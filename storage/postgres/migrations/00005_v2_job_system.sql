-- +goose Up
-- SPEC v2 §10, §11: batches, the list's indexes, webhook deliveries, idempotent actions.

CREATE TABLE batches (
    id              uuid PRIMARY KEY,
    idempotency_key text UNIQUE,
    request_hash    text NOT NULL,
    total           integer NOT NULL,
    -- unfinished counts the batch's jobs not yet finished: the transaction that finishes the last one sees
    -- it reach 0 under the row's lock, and finishes the batch (no scan, no race between two last jobs).
    unfinished      integer NOT NULL DEFAULT 0,
    -- results are the creation's answer, item by item, returned again to a repeat with the same key.
    results         jsonb NOT NULL DEFAULT '[]',
    created_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);

ALTER TABLE setups ADD COLUMN batch_id uuid REFERENCES batches (id);
-- A stage record's run (the job's retries when it was written): a retry runs the failed stage again, and only
-- a record of an earlier run is replaced.
ALTER TABLE setup_stages ADD COLUMN run integer NOT NULL DEFAULT 0;
ALTER TABLE setups ADD COLUMN trace_id text;
-- The list pages on created_at: the time of the insert, not of its transaction's start, so that a long batch
-- insert does not file its jobs behind a cursor handed out meanwhile.
ALTER TABLE setups ALTER COLUMN created_at SET DEFAULT clock_timestamp();

-- The list (SPEC §10) is newest first with a keyset on (created_at, id); one index per filter serves each
-- filter alone and, with the others as conditions on its rows, each combination. None of them is on a
-- column every stage writes (stage, updated_at), so most stage updates stay HOT.
CREATE INDEX setups_created_idx ON setups (created_at DESC, id DESC);
CREATE INDEX setups_status_created_idx ON setups (status, created_at DESC, id DESC);
CREATE INDEX setups_org_created_idx ON setups (organization_id, created_at DESC, id DESC);
CREATE INDEX setups_user_created_idx ON setups (user_id, created_at DESC, id DESC);
CREATE INDEX setups_batch_created_idx ON setups (batch_id, created_at DESC, id DESC) WHERE batch_id IS NOT NULL;
CREATE INDEX setups_error_created_idx ON setups (error_code, created_at DESC, id DESC) WHERE error_code IS NOT NULL;

-- Webhook deliveries (SPEC §11) are an outbox: written in the transaction that finishes a job or a batch,
-- one row per receiver URL, delivered at least once by the workers.
CREATE TABLE webhook_deliveries (
    id              uuid PRIMARY KEY,
    event_type      text NOT NULL,
    setup_id        uuid REFERENCES setups (id) ON DELETE CASCADE,
    batch_id        uuid REFERENCES batches (id) ON DELETE CASCADE,
    url             text NOT NULL,
    payload         jsonb NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    claimed_until   timestamptz,
    delivered_at    timestamptz,
    failed_at       timestamptz,
    last_status     integer,
    last_error      text
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
    WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX webhook_deliveries_setup_idx ON webhook_deliveries (setup_id) WHERE setup_id IS NOT NULL;
CREATE INDEX webhook_deliveries_batch_idx ON webhook_deliveries (batch_id) WHERE batch_id IS NOT NULL;

-- A cancel or retry sent with an Idempotency-Key is done once: a repeat finds its key here.
CREATE TABLE idempotent_actions (
    idempotency_key text PRIMARY KEY,
    action          text NOT NULL,
    target          uuid NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idempotent_actions_target_idx ON idempotent_actions (target);

-- Retention (SPEC §15) deletes a job with its signals and e-mails, once an hour for all workers together.
CREATE INDEX signals_setup_idx ON signals (setup_id) WHERE setup_id IS NOT NULL;
CREATE TABLE maintenance_runs (
    name        text PRIMARY KEY,
    finished_at timestamptz NOT NULL
);

-- The documents a webhook carries (SPEC §11), rendered in the transaction that finishes a job or a batch. A
-- batch's document is the one GET /v1/batches/{id} returns too; a job's mirrors the Go status document
-- without its stages, which a test holds them to.
-- +goose StatementBegin
CREATE FUNCTION ssosetup_ts(t timestamptz) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE FUNCTION ssosetup_setup_document(setup uuid) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'setup_id', s.id, 'flow', s.flow, 'organization_id', s.organization_id, 'user_id', s.user_id,
        'status', s.status, 'stage', s.stage, 'created_at', ssosetup_ts(s.created_at),
        'updated_at', ssosetup_ts(s.updated_at), 'finished_at', ssosetup_ts(s.finished_at),
        'result', CASE WHEN s.result IS NULL THEN NULL ELSE jsonb_build_object('redirect', s.result->'redirect',
            'messages', CASE WHEN jsonb_typeof(s.result->'messages') = 'array' THEN s.result->'messages' ELSE '[]' END) END,
        'error', CASE WHEN s.error_code IS NULL THEN NULL ELSE jsonb_build_object('code', s.error_code,
            'message', coalesce(s.error_message, ''),
            'redirect', CASE WHEN o.slug IS NULL THEN '/' WHEN s.flow = 'link' THEN '/auth/login/' || o.slug || '/'
                ELSE '/settings/' || o.slug || '/auth/' END) END,
        'batch_id', s.batch_id, 'retries', s.retries, 'trace_id', s.trace_id, 'cancel_requested', s.cancel_requested)
    FROM setups s LEFT JOIN organizations o ON o.id = s.organization_id WHERE s.id = setup
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE FUNCTION ssosetup_batch_document(batch uuid) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('batch_id', b.id, 'created_at', ssosetup_ts(b.created_at),
        'finished_at', ssosetup_ts(b.finished_at), 'total', b.total,
        'counts', (SELECT jsonb_build_object(
            'queued', count(*) FILTER (WHERE s.status = 'queued'),
            'running', count(*) FILTER (WHERE s.status = 'running'),
            'succeeded', count(*) FILTER (WHERE s.status = 'succeeded'),
            'failed', count(*) FILTER (WHERE s.status = 'failed'),
            'cancelled', count(*) FILTER (WHERE s.status = 'cancelled'))
            FROM setups s WHERE s.batch_id = b.id),
        'failures_by_code', (SELECT coalesce(jsonb_object_agg(f.error_code, f.n), '{}') FROM (
            SELECT s.error_code, count(*) AS n FROM setups s WHERE s.batch_id = b.id AND s.status = 'failed'
            GROUP BY s.error_code) f))
    FROM batches b WHERE b.id = batch
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION ssosetup_batch_document(uuid);
DROP FUNCTION ssosetup_setup_document(uuid);
DROP FUNCTION ssosetup_ts(timestamptz);
DROP TABLE maintenance_runs;
DROP INDEX signals_setup_idx;
DROP TABLE idempotent_actions;
DROP TABLE webhook_deliveries;
DROP INDEX setups_error_created_idx;
DROP INDEX setups_batch_created_idx;
DROP INDEX setups_user_created_idx;
DROP INDEX setups_org_created_idx;
DROP INDEX setups_status_created_idx;
DROP INDEX setups_created_idx;
ALTER TABLE setups ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE setups DROP COLUMN trace_id;
ALTER TABLE setup_stages DROP COLUMN run;
ALTER TABLE setups DROP COLUMN batch_id;
DROP TABLE batches;
