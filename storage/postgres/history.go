package postgres

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ssosetup/ssosetup/redact"
)

// History is every row a job wrote besides its own, for the console's job page (SPEC §12).
type History struct {
	Queue    string // the job's queue, where its tasks are
	Audit    []AuditEntry
	Emails   []EmailRow
	Signals  []SignalRow
	Webhooks []WebhookDelivery
}

// AuditEntry is an audit log entry of a job, its data redacted.
type AuditEntry struct {
	Event     string
	Run       int
	Step      string
	TargetID  *int64
	Data      string // JSON, secret values redacted
	CreatedAt time.Time
}

// EmailRow is an e-mail a job recorded.
type EmailRow struct {
	To      string
	Subject string
	SentAt  *time.Time
	Error   *string
}

// SignalRow is a signal a job wrote.
type SignalRow struct {
	Name        string
	DeliveredAt *time.Time
	FailedAt    *time.Time
	Error       *string
}

// JobHistory reads what job id wrote, in one round trip.
func (s *Store) JobHistory(ctx context.Context, id uuid.UUID) (History, error) {
	var h History
	b := &pgx.Batch{}
	b.Queue(`SELECT queue FROM setups WHERE id = $1`, id).QueryRow(func(row pgx.Row) error {
		return translate(row.Scan(&h.Queue))
	})
	b.Queue(`SELECT event, run, step, target_object_id, data, created_at FROM audit_log_entries
		WHERE setup_id = $1 ORDER BY id`, id).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var e AuditEntry
			var data []byte
			if err := rows.Scan(&e.Event, &e.Run, &e.Step, &e.TargetID, &data, &e.CreatedAt); err != nil {
				return err
			}
			var v any
			if err := json.Unmarshal(data, &v); err != nil {
				return err
			}
			redacted, err := json.Marshal(redact.Value(v)) // stored redacted already; shown so whatever wrote it
			if err != nil {
				return err
			}
			e.Data = string(redacted)
			h.Audit = append(h.Audit, e)
		}
		return rows.Err()
	})
	b.Queue(`SELECT to_address, subject, sent_at, error FROM outbound_emails WHERE setup_id = $1 ORDER BY id`, id).
		Query(func(rows pgx.Rows) (err error) {
			h.Emails, err = pgx.CollectRows(rows, pgx.RowToStructByPos[EmailRow])
			return err
		})
	b.Queue(`SELECT name, delivered_at, failed_at, error FROM signals WHERE setup_id = $1 ORDER BY id`, id).
		Query(func(rows pgx.Rows) (err error) {
			h.Signals, err = pgx.CollectRows(rows, pgx.RowToStructByPos[SignalRow])
			return err
		})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return h, err
	}
	var err error
	h.Webhooks, err = s.ListWebhookDeliveries(ctx, WebhookFilter{SetupID: id, Limit: 100})
	return h, err
}

// StatusCounts counts the jobs created since, by status.
func (s *Store) StatusCounts(ctx context.Context, since time.Time) (map[string]int, error) {
	rows, err := s.pool.Query(ctx, `SELECT status, count(*) FROM setups WHERE created_at > $1 GROUP BY status`, since)
	if err != nil {
		return nil, err
	}
	counts := map[string]int{}
	for rows.Next() {
		var status string
		var n int
		if err := rows.Scan(&status, &n); err != nil {
			return nil, err
		}
		counts[status] = n
	}
	return counts, rows.Err()
}
