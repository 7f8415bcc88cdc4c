-- +goose Up
-- The organization's provider key, as start found it: a link job's event names it although its request
-- need not (SPEC §3.6).
ALTER TABLE setups ADD COLUMN provider_key text;

-- +goose Down
ALTER TABLE setups DROP COLUMN provider_key;
