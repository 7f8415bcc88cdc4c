package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ssosetup/ssosetup"
)

// NewSetup is a validated job to record.
type NewSetup struct {
	ID             uuid.UUID
	Request        ssosetup.Request
	RequestHash    string
	IdempotencyKey string // optional
	Queue          string
	// TraceID and Traceparent are the job's trace (SPEC §13), "" when tracing is off.
	TraceID, Traceparent string
}

// CreateSetup records a new job and returns its id, or, when the idempotency key was used before with the
// same request, the earlier job's id and created = false.
func (s *Store) CreateSetup(ctx context.Context, n NewSetup) (id uuid.UUID, created bool, err error) {
	request, err := json.Marshal(n.Request)
	if err != nil {
		return uuid.Nil, false, err
	}
	var key *string
	if n.IdempotencyKey != "" {
		key = &n.IdempotencyKey
	}
	r := n.Request
	err = s.pool.QueryRow(ctx, `
		INSERT INTO setups (id, flow, organization_id, organization_slug, user_id, idempotency_key, request,
			request_hash, queue, trace_id, traceparent)
		VALUES ($1, $2, nullif($3, 0), nullif($4, ''), $5, $6, $7, $8, $9, nullif($10, ''), nullif($11, ''))
		ON CONFLICT (idempotency_key) DO NOTHING RETURNING id`,
		n.ID, r.Flow, r.OrganizationID, r.OrganizationSlug, r.UserID, key, request, n.RequestHash, n.Queue,
		n.TraceID, n.Traceparent).Scan(&id)
	if err == nil {
		return id, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, false, err
	}
	var hash string
	err = s.pool.QueryRow(ctx, `SELECT id, request_hash FROM setups WHERE idempotency_key = $1`, key).Scan(&id, &hash)
	if err != nil {
		return uuid.Nil, false, translate(err)
	}
	if hash != n.RequestHash {
		return uuid.Nil, false, ssosetup.ErrIdempotencyConflict
	}
	return id, false, nil
}

// SetupStatus reads a job's status document, the job and its stage records in one round trip;
// ssosetup.ErrNotFound when there is no such job.
func (s *Store) SetupStatus(ctx context.Context, id uuid.UUID) (ssosetup.SetupStatus, error) {
	var st ssosetup.SetupStatus
	var recs []ssosetup.StageRecord
	batch := &pgx.Batch{}
	batch.Queue(`SELECT `+statusColumns+` FROM setups s LEFT JOIN organizations o ON o.id = s.organization_id
		WHERE s.id = $1`, id).QueryRow(func(row pgx.Row) error {
		return translate(scanStatus(row, &st))
	})
	batch.Queue(`SELECT stage, status, attempts, started_at, finished_at, detail FROM setup_stages WHERE setup_id = $1`, id).
		Query(func(rows pgx.Rows) (err error) {
			recs, err = pgx.CollectRows(rows, pgx.RowToStructByPos[ssosetup.StageRecord])
			return err
		})
	if err := s.pool.SendBatch(ctx, batch).Close(); err != nil {
		return st, err
	}
	st.Stages = make([]ssosetup.StageRecord, 0, len(recs))
	for _, name := range ssosetup.Stages { // chain order
		for _, r := range recs {
			if r.Name == name {
				st.Stages = append(st.Stages, r)
			}
		}
	}
	return st, nil
}

// statusColumns are the columns of a status document, read by scanStatus, from setups s joined with its
// organization o.
const statusColumns = `s.id, s.flow, s.organization_id, s.user_id, s.status, s.stage, s.created_at, s.updated_at,
	s.finished_at, s.result, s.error_code, s.error_message, coalesce(o.slug, ''), s.batch_id, s.retries, s.trace_id,
	s.cancel_requested`

// scanStatus reads statusColumns into a status document without its stages.
func scanStatus(row pgx.Row, st *ssosetup.SetupStatus) error {
	var code, message *string
	var slug string
	var result []byte
	err := row.Scan(&st.SetupID, &st.Flow, &st.OrganizationID, &st.UserID, &st.Status, &st.Stage, &st.CreatedAt,
		&st.UpdatedAt, &st.FinishedAt, &result, &code, &message, &slug, &st.BatchID, &st.Retries, &st.TraceID,
		&st.CancelRequested)
	if err != nil {
		return err
	}
	if result != nil {
		if err := json.Unmarshal(result, &st.Result); err != nil {
			return fmt.Errorf("decode result of setup %s: %w", st.SetupID, err)
		}
		if st.Result.Messages == nil {
			st.Result.Messages = []string{}
		}
	}
	if code != nil {
		st.Error = &ssosetup.StatusError{Code: *code, Message: deref(message), Redirect: ssosetup.FailureRedirect(st.Flow, slug)}
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
