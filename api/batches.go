package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/google/uuid"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/enqueue"
	"github.com/ssosetup/ssosetup/tasks"
)

// Batch limits (SPEC §4): the most jobs one batch may hold, and the largest batch body; each item is held to
// MaxBodyBytes like a single request.
const (
	MaxBatch          = 1000
	MaxBatchBodyBytes = 16 << 20
)

// createBatch is POST /v1/setups/batch (SPEC §10).
func (s *server) createBatch(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r, MaxBatchBodyBytes)
	if !ok {
		return
	}
	key, ok := idempotencyKey(w, r)
	if !ok {
		return
	}
	var batch struct {
		Setups   []json.RawMessage `json:"setups"`
		Priority string            `json:"priority"`
	}
	if err := ssosetup.DecodeStrict(body, &batch); err != nil {
		writeRequestError(w, err)
		return
	}
	// A batch is bulk work unless it says otherwise: the bulk queue, whose events wait longer to share
	// ClickHouse INSERTs.
	queue := tasks.QueueBulk
	switch batch.Priority {
	case "", "bulk":
	case "interactive":
		queue = tasks.QueueSetups
	default:
		writeError(w, http.StatusBadRequest, "invalid_request", "the request is invalid; see fields",
			map[string]string{"priority": `must be "bulk" or "interactive"`})
		return
	}
	if len(batch.Setups) == 0 || len(batch.Setups) > MaxBatch {
		writeError(w, http.StatusBadRequest, "invalid_request", "setups must hold 1 to 1000 requests",
			map[string]string{"setups": "must hold 1 to 1000 requests"})
		return
	}
	items := make([]enqueue.BatchItem, len(batch.Setups))
	for i, raw := range batch.Setups {
		items[i] = decodeBatchItem(raw)
	}
	sum := sha256.Sum256(body)
	b, err := s.cfg.Submitter.SubmitBatch(r.Context(), items, enqueue.BatchOptions{
		IdempotencyKey: key, BodyHash: hex.EncodeToString(sum[:]), Queue: queue,
		OwnTraces: r.Header.Get("traceparent") == ""}) // without the caller's trace, a trace per job
	switch {
	case errors.Is(err, ssosetup.ErrIdempotencyConflict):
		writeError(w, http.StatusConflict, "conflict", "this Idempotency-Key was used with another request body", nil)
		return
	case errors.Is(err, ssosetup.ErrNotEnqueued):
		s.log.WarnContext(r.Context(), "batch recorded but not all of it enqueued; the reconciler will enqueue the rest",
			"batch_id", b.ID, "error", err.Error())
	case err != nil:
		s.log.ErrorContext(r.Context(), "record batch", "error", err.Error())
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the batch could not be recorded; try again", nil)
		return
	}
	status := http.StatusAccepted
	if !b.Created {
		status = http.StatusOK
	}
	writeJSON(w, status, map[string]any{"batch_id": b.ID, "results": b.Results})
}

// decodeBatchItem decodes one item strictly, as a request of its own, after taking out its own
// "idempotency_key"; an item that is too large or invalid gets its error.
func decodeBatchItem(raw json.RawMessage) enqueue.BatchItem {
	if len(raw) > MaxBodyBytes {
		return enqueue.BatchItem{Error: map[string]any{"code": "payload_too_large",
			"message": "this item is larger than a single request may be (256 KiB)"}}
	}
	var fields map[string]json.RawMessage
	var item enqueue.BatchItem
	if json.Unmarshal(raw, &fields) == nil {
		if k, ok := fields["idempotency_key"]; ok {
			if json.Unmarshal(k, &item.IdempotencyKey) != nil || !validKey(item.IdempotencyKey) {
				return enqueue.BatchItem{Error: enqueue.FieldError(ssosetup.FieldErrors{
					"idempotency_key": "must be 1 to 255 printable ASCII characters"})}
			}
			delete(fields, "idempotency_key")
			raw, _ = json.Marshal(fields) // decoded from JSON: cannot fail
		}
	}
	req, err := ssosetup.DecodeRequest(raw)
	if err != nil {
		item.Error = enqueue.FieldError(err)
		return item
	}
	item.Request = &req
	return item
}

// getBatch is GET /v1/batches/{id}.
func (s *server) getBatch(w http.ResponseWriter, r *http.Request) {
	id, ok := batchID(w, r)
	if !ok {
		return
	}
	wait, ok := waitParam(w, r)
	if !ok {
		return
	}
	doc, err := longPoll(r.Context(), s.notifier(), id, wait, func(ctx context.Context) (json.RawMessage, bool, error) {
		doc, err := s.cfg.Store.BatchDocument(ctx, id)
		var d struct {
			FinishedAt *string `json:"finished_at"`
		}
		if err == nil {
			err = json.Unmarshal(doc, &d)
		}
		return doc, d.FinishedAt != nil, err
	})
	switch {
	case r.Context().Err() != nil:
	case errors.Is(err, ssosetup.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", "no batch with this id", nil)
	case err != nil:
		s.log.ErrorContext(r.Context(), "read batch", "batch_id", id, "error", err.Error())
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the batch could not be read; try again", nil)
	default:
		writeRawJSON(w, http.StatusOK, doc)
	}
}

// cancelBatch is POST /v1/batches/{id}/cancel: every unfinished job of it is cancelled.
func (s *server) cancelBatch(w http.ResponseWriter, r *http.Request) {
	id, ok := batchID(w, r)
	if !ok {
		return
	}
	if _, ok := s.batchDocument(w, r, id); !ok {
		return
	}
	n, err := s.cfg.Submitter.CancelBatch(r.Context(), id)
	if err != nil {
		s.log.ErrorContext(r.Context(), "cancel batch", "batch_id", id, "error", err.Error())
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the batch could not be cancelled; try again", nil)
		return
	}
	s.writeBatchAction(w, r, id, map[string]any{"cancelled": n})
}

// retryBatch is POST /v1/batches/{id}/retry: its failed and cancelled jobs are retried; a job whose retry is
// refused is listed with the reason.
func (s *server) retryBatch(w http.ResponseWriter, r *http.Request) {
	id, ok := batchID(w, r)
	if !ok {
		return
	}
	if _, ok := s.batchDocument(w, r, id); !ok {
		return
	}
	n, refused, err := s.cfg.Submitter.RetryBatch(r.Context(), id)
	if err != nil {
		s.log.ErrorContext(r.Context(), "retry batch", "batch_id", id, "error", err.Error())
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the batch could not be retried; try again", nil)
		return
	}
	if refused == nil {
		refused = []enqueue.Refused{}
	}
	s.writeBatchAction(w, r, id, map[string]any{"retried": n, "refused": refused})
}

// writeBatchAction answers a batch action with 202: the batch's document and what the action did.
func (s *server) writeBatchAction(w http.ResponseWriter, r *http.Request, id uuid.UUID, did map[string]any) {
	doc, ok := s.batchDocument(w, r, id)
	if !ok {
		return
	}
	var out map[string]any
	if err := json.Unmarshal(doc, &out); err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "the batch document could not be read", nil)
		return
	}
	for k, v := range did {
		out[k] = v
	}
	writeJSON(w, http.StatusAccepted, out)
}

func (s *server) batchDocument(w http.ResponseWriter, r *http.Request, id uuid.UUID) (json.RawMessage, bool) {
	doc, err := s.cfg.Store.BatchDocument(r.Context(), id)
	if errors.Is(err, ssosetup.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", "no batch with this id", nil)
		return nil, false
	}
	if err != nil {
		s.log.ErrorContext(r.Context(), "read batch", "batch_id", id, "error", err.Error())
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the batch could not be read; try again", nil)
		return nil, false
	}
	return doc, true
}

func batchID(w http.ResponseWriter, r *http.Request) (uuid.UUID, bool) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusNotFound, "not_found", "no batch with this id", nil)
		return uuid.Nil, false
	}
	return id, true
}
