package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ssosetup/ssosetup"
)

// NewBatch is a batch of validated jobs to record (SPEC §10). Items that failed validation are nil in
// Setups and keep their place; their answer is in Results already.
type NewBatch struct {
	ID             uuid.UUID
	IdempotencyKey string // optional: the whole batch's
	RequestHash    string // of the whole body, for the batch's key
	Setups         []*NewSetup
	// Results holds, on the way in, the errors of invalid items; CreateBatch fills in the others.
	Results []BatchResult
}

// BatchResult is one item's answer: its job, or why it has none.
type BatchResult struct {
	SetupID *uuid.UUID     `json:"setup_id,omitempty"`
	Error   map[string]any `json:"error,omitempty"`
}

// CreateBatch records a batch and its jobs in one transaction and returns its id, each item's answer and the
// jobs it created (to enqueue). An item whose idempotency key was used before with the same request answers
// with that earlier job (it stays in its own batch); with another request, with a conflict. A repeat of a
// batch under its key returns the first one's answers and created = false, and another body under the key is
// ssosetup.ErrIdempotencyConflict.
func (s *Store) CreateBatch(ctx context.Context, n NewBatch) (id uuid.UUID, results []BatchResult, jobs []uuid.UUID, created bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var key *string
		if n.IdempotencyKey != "" {
			key = &n.IdempotencyKey
		}
		err := tx.QueryRow(ctx, `INSERT INTO batches (id, idempotency_key, request_hash, total) VALUES ($1, $2, $3, 0)
			ON CONFLICT (idempotency_key) DO NOTHING RETURNING id`, n.ID, key, n.RequestHash).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			var hash string
			var raw []byte
			if err := tx.QueryRow(ctx, `SELECT id, request_hash, results FROM batches WHERE idempotency_key = $1`, key).
				Scan(&id, &hash, &raw); err != nil {
				return err
			}
			if hash != n.RequestHash {
				return ssosetup.ErrIdempotencyConflict
			}
			return json.Unmarshal(raw, &results)
		}
		if err != nil {
			return err
		}
		created = true
		results = n.Results
		if jobs, err = insertBatchSetups(ctx, tx, id, n.Setups, results); err != nil {
			return err
		}
		raw, err := json.Marshal(results)
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		b.Queue(`UPDATE batches SET total = $2, unfinished = $2, results = $3,
			finished_at = CASE WHEN $2 = 0 THEN now() END WHERE id = $1`, id, len(jobs), raw)
		if len(jobs) == 0 { // nothing to wait for: finished as it was created, and announced
			b.Queue(`
				INSERT INTO webhook_deliveries (id, event_type, batch_id, url, payload)
				SELECT gen_random_uuid(), 'batch.finished', $1, u.url, jsonb_build_object('type', 'batch.finished',
					'timestamp', ssosetup_ts(now()), 'data', ssosetup_batch_document($1))
				FROM unnest($2::text[]) AS u(url)`, id, s.webhookURLs)
		}
		return tx.SendBatch(ctx, b).Close()
	})
	return id, results, jobs, created, err
}

// insertBatchSetups inserts the batch's jobs in one round trip, then looks up, in another, the earlier jobs
// of the items whose idempotency key was taken; it fills in results and returns the jobs it created.
func insertBatchSetups(ctx context.Context, tx pgx.Tx, batch uuid.UUID, setups []*NewSetup, results []BatchResult) ([]uuid.UUID, error) {
	var jobs []uuid.UUID
	var taken []int
	b := &pgx.Batch{}
	for i, n := range setups {
		if n == nil {
			continue
		}
		request, err := json.Marshal(n.Request)
		if err != nil {
			return nil, err
		}
		var key *string
		if n.IdempotencyKey != "" {
			key = &n.IdempotencyKey
		}
		r := n.Request
		b.Queue(`
			INSERT INTO setups (id, flow, organization_id, organization_slug, user_id, idempotency_key, request,
				request_hash, queue, batch_id, trace_id, traceparent)
			VALUES ($1, $2, nullif($3, 0), nullif($4, ''), $5, $6, $7, $8, $9, $10, nullif($11, ''), nullif($12, ''))
			ON CONFLICT (idempotency_key) DO NOTHING RETURNING id`,
			n.ID, r.Flow, r.OrganizationID, r.OrganizationSlug, r.UserID, key, request, n.RequestHash, n.Queue, batch,
			n.TraceID, n.Traceparent).
			QueryRow(func(row pgx.Row) error {
				var id uuid.UUID
				switch err := row.Scan(&id); {
				case errors.Is(err, pgx.ErrNoRows):
					taken = append(taken, i)
				case err != nil:
					return err
				default:
					results[i] = BatchResult{SetupID: &id}
					jobs = append(jobs, id)
				}
				return nil
			})
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	b = &pgx.Batch{}
	for _, i := range taken {
		b.Queue(`SELECT id, request_hash FROM setups WHERE idempotency_key = $1`, setups[i].IdempotencyKey).
			QueryRow(func(row pgx.Row) error {
				var id uuid.UUID
				var hash string
				if err := row.Scan(&id, &hash); err != nil {
					return err
				}
				if hash != setups[i].RequestHash {
					results[i] = BatchResult{Error: map[string]any{"code": "conflict",
						"message": "this item's idempotency_key was used with another request body"}}
				} else {
					results[i] = BatchResult{SetupID: &id}
				}
				return nil
			})
	}
	return jobs, tx.SendBatch(ctx, b).Close()
}

// BatchDocument returns a batch's document (SPEC §10) as JSON, rendered by Postgres (the one a webhook
// carries); ssosetup.ErrNotFound when there is no such batch.
func (s *Store) BatchDocument(ctx context.Context, id uuid.UUID) (json.RawMessage, error) {
	var doc []byte
	err := s.pool.QueryRow(ctx, `SELECT ssosetup_batch_document(id) FROM batches WHERE id = $1`, id).Scan(&doc)
	return doc, translate(err)
}

// BatchDoc is a batch's document, decoded.
type BatchDoc struct {
	ID             uuid.UUID      `json:"batch_id"`
	CreatedAt      time.Time      `json:"created_at"`
	FinishedAt     *time.Time     `json:"finished_at"`
	Total          int            `json:"total"`
	Counts         map[string]int `json:"counts"`
	FailuresByCode map[string]int `json:"failures_by_code"`
}

// Batch reads a batch's document, decoded; ssosetup.ErrNotFound when there is no such batch.
func (s *Store) Batch(ctx context.Context, id uuid.UUID) (BatchDoc, error) {
	var d BatchDoc
	raw, err := s.BatchDocument(ctx, id)
	if err != nil {
		return d, err
	}
	return d, json.Unmarshal(raw, &d)
}

// BatchJobs returns the ids of a batch's jobs whose status is one of statuses.
func (s *Store) BatchJobs(ctx context.Context, id uuid.UUID, statuses ...string) ([]uuid.UUID, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM setups WHERE batch_id = $1 AND status = ANY($2) ORDER BY created_at, id`,
		id, statuses)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
}
