package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// WebhookDelivery is one delivery of the outbox (SPEC §11) as the API lists it.
type WebhookDelivery struct {
	ID            uuid.UUID  `json:"id"`
	EventType     string     `json:"event_type"`
	SetupID       *uuid.UUID `json:"setup_id"`
	BatchID       *uuid.UUID `json:"batch_id"`
	URL           string     `json:"url"`
	Attempts      int        `json:"attempts"`
	CreatedAt     time.Time  `json:"created_at"`
	NextAttemptAt *time.Time `json:"next_attempt_at"`
	DeliveredAt   *time.Time `json:"delivered_at"`
	FailedAt      *time.Time `json:"failed_at"`
	LastStatus    *int       `json:"last_status"`
	LastError     *string    `json:"last_error"`
	State         string     `json:"state"` // pending, delivered or failed
}

// DueWebhook is a delivery claimed for an attempt.
type DueWebhook struct {
	ID          uuid.UUID
	URL         string
	Payload     []byte
	Attempts    int // counting this one
	CreatedAt   time.Time
	Traceparent string // the job's trace, "" for a batch's webhook
}

// ClaimWebhooks claims up to limit deliveries that are due, for lease: another worker skips them meanwhile,
// and takes them over if the lease runs out (the claimer died).
func (s *Store) ClaimWebhooks(ctx context.Context, limit int, lease time.Duration) ([]DueWebhook, error) {
	rows, err := s.pool.Query(ctx, `
		UPDATE webhook_deliveries SET claimed_until = now() + make_interval(secs => $2), attempts = attempts + 1
		WHERE id IN (
			SELECT id FROM webhook_deliveries
			WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= now()
				AND (claimed_until IS NULL OR claimed_until < now())
			ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
		RETURNING id, url, payload::text, attempts, created_at,
			coalesce((SELECT traceparent FROM setups s WHERE s.id = webhook_deliveries.setup_id), '')`, limit, lease.Seconds())
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[DueWebhook])
}

// WebhookAttempt is the outcome of one attempt.
type WebhookAttempt struct {
	Status    int    // the receiver's HTTP status; 0 when there was no answer
	Error     string // "" when delivered
	Delivered bool
	Next      time.Time // when to try again, if not delivered
	GiveUp    bool      // not delivered, and tried for long enough
}

// RecordWebhook records attempt number attempt of delivery id. A late result of an attempt whose claim ran
// out, and which another worker has made since, is dropped: it must not undo that one's outcome.
func (s *Store) RecordWebhook(ctx context.Context, id uuid.UUID, attempt int, a WebhookAttempt) error {
	var status *int
	if a.Status != 0 {
		status = &a.Status
	}
	var errText *string
	if a.Error != "" {
		errText = &a.Error
	}
	_, err := s.pool.Exec(ctx, `
		UPDATE webhook_deliveries SET claimed_until = NULL, last_status = $2, last_error = $3,
			delivered_at = CASE WHEN $4 THEN now() END, failed_at = CASE WHEN $5 THEN now() END,
			next_attempt_at = CASE WHEN $4 OR $5 THEN next_attempt_at ELSE $6 END
		WHERE id = $1 AND attempts = $7 AND delivered_at IS NULL AND failed_at IS NULL`,
		id, status, errText, a.Delivered, a.GiveUp && !a.Delivered, a.Next, attempt)
	return err
}

// WebhookFilter selects deliveries; zero fields do not filter.
type WebhookFilter struct {
	SetupID, BatchID uuid.UUID
	State            string // pending, delivered or failed
	Limit            int
}

// ListWebhookDeliveries lists deliveries, newest first.
func (s *Store) ListWebhookDeliveries(ctx context.Context, f WebhookFilter) ([]WebhookDelivery, error) {
	var where []string
	var args []any
	if f.SetupID != uuid.Nil {
		args = append(args, f.SetupID)
		where = append(where, fmt.Sprintf("setup_id = $%d", len(args)))
	}
	if f.BatchID != uuid.Nil {
		args = append(args, f.BatchID)
		where = append(where, fmt.Sprintf("batch_id = $%d", len(args)))
	}
	switch f.State {
	case "pending":
		where = append(where, "delivered_at IS NULL AND failed_at IS NULL")
	case "delivered":
		where = append(where, "delivered_at IS NOT NULL")
	case "failed":
		where = append(where, "failed_at IS NOT NULL")
	}
	sql := `SELECT id, event_type, setup_id, batch_id, url, attempts, created_at,
			CASE WHEN delivered_at IS NULL AND failed_at IS NULL THEN next_attempt_at END,
			delivered_at, failed_at, last_status, last_error,
			CASE WHEN delivered_at IS NOT NULL THEN 'delivered' WHEN failed_at IS NOT NULL THEN 'failed' ELSE 'pending' END
		FROM webhook_deliveries`
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, f.Limit)
	sql += fmt.Sprintf(" ORDER BY created_at DESC, id DESC LIMIT $%d", len(args))
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[WebhookDelivery])
}
