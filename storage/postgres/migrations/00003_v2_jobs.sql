-- +goose Up
-- SPEC v2: a job can be cancelled (an operator archived its task, or the web tier asked), and retried.
ALTER TABLE setups DROP CONSTRAINT setups_status_check;
ALTER TABLE setups ADD CONSTRAINT setups_status_check
    CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled'));
ALTER TABLE setups ADD COLUMN retries integer NOT NULL DEFAULT 0;
ALTER TABLE setups ADD COLUMN cancel_requested boolean NOT NULL DEFAULT false;

-- A signal whose receiver can never take it (malformed args) is set aside with its error instead of
-- blocking every signal after it.
ALTER TABLE signals ADD COLUMN failed_at timestamptz;
ALTER TABLE signals ADD COLUMN error text;
DROP INDEX signals_undelivered_idx;
CREATE INDEX signals_undelivered_idx ON signals (id) WHERE delivered_at IS NULL AND failed_at IS NULL;

-- Audit entries are unique per setup, run (retries) and step: a job's compensation writes a second org.edit
-- (require_2fa back on) beside the one its disable_2fa wrote.
ALTER TABLE audit_log_entries ADD COLUMN run integer NOT NULL DEFAULT 0;
ALTER TABLE audit_log_entries ADD COLUMN step text NOT NULL DEFAULT '';
DROP INDEX audit_log_entries_setup_event_key;
CREATE UNIQUE INDEX audit_log_entries_setup_event_key ON audit_log_entries (setup_id, run, step, event)
    WHERE setup_id IS NOT NULL;

-- An e-mail is claimed before it is sent, so that two runs of the e-mail task never both send it; a claim
-- older than a sending can take belongs to a run that died, and may be taken over.
ALTER TABLE outbound_emails ADD COLUMN claimed_at timestamptz;
-- The reconciler finds e-mails still to send (their task gave up, or was lost) without a scan.
CREATE INDEX outbound_emails_unsent_idx ON outbound_emails (created_at) WHERE sent_at IS NULL AND error IS NULL;

-- +goose Down
DROP INDEX outbound_emails_unsent_idx;
ALTER TABLE outbound_emails DROP COLUMN claimed_at;
DROP INDEX audit_log_entries_setup_event_key;
CREATE UNIQUE INDEX audit_log_entries_setup_event_key ON audit_log_entries (setup_id, event) WHERE setup_id IS NOT NULL;
ALTER TABLE audit_log_entries DROP COLUMN step;
ALTER TABLE audit_log_entries DROP COLUMN run;
DROP INDEX signals_undelivered_idx;
CREATE INDEX signals_undelivered_idx ON signals (id) WHERE delivered_at IS NULL;
ALTER TABLE signals DROP COLUMN error;
ALTER TABLE signals DROP COLUMN failed_at;
ALTER TABLE setups DROP COLUMN cancel_requested;
ALTER TABLE setups DROP COLUMN retries;
ALTER TABLE setups DROP CONSTRAINT setups_status_check;
ALTER TABLE setups ADD CONSTRAINT setups_status_check CHECK (status IN ('queued', 'running', 'succeeded', 'failed'));
