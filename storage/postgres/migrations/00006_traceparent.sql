-- +goose Up
-- The W3C traceparent of the span that enqueued a job (SPEC §13): tasks that Postgres starts rather than a
-- task (the reconciler's, a retry's) and webhook deliveries continue the job's trace from it.
ALTER TABLE setups ADD COLUMN traceparent text;

-- +goose Down
ALTER TABLE setups DROP COLUMN traceparent;
