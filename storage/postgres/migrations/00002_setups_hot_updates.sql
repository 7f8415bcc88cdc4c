-- +goose Up
-- Every stage updates its job's row (stage, facts, updated_at). With an index on updated_at, each of those
-- seven updates wrote a new entry into every index of setups. Indexing unfinished jobs by created_at instead
-- (the reconciler filters them by updated_at; there are few unfinished jobs outside a backlog) leaves no
-- index on a column a stage changes, and the free space of a lower fillfactor lets Postgres make those
-- updates in place (HOT), without touching an index.
DROP INDEX setups_unfinished_idx;
CREATE INDEX setups_unfinished_idx ON setups (created_at) WHERE status IN ('queued', 'running');
ALTER TABLE setups SET (fillfactor = 50);

-- +goose Down
ALTER TABLE setups RESET (fillfactor);
DROP INDEX setups_unfinished_idx;
CREATE INDEX setups_unfinished_idx ON setups (updated_at) WHERE status IN ('queued', 'running');
