package api

import (
	"errors"
	"net/http"

	"github.com/google/uuid"

	"github.com/ssosetup/ssosetup"
)

// cancelSetup is POST /v1/setups/{id}/cancel (SPEC §10).
func (s *server) cancelSetup(w http.ResponseWriter, r *http.Request) {
	id, ok := setupID(w, r)
	if !ok {
		return
	}
	st, err := s.cfg.Submitter.Cancel(r.Context(), id)
	s.writeAction(w, r, "cancel", id, st, err)
}

// retrySetup is POST /v1/setups/{id}/retry (SPEC §10), idempotent with an Idempotency-Key.
func (s *server) retrySetup(w http.ResponseWriter, r *http.Request) {
	id, ok := setupID(w, r)
	if !ok {
		return
	}
	key, ok := idempotencyKey(w, r)
	if !ok {
		return
	}
	st, err := s.cfg.Submitter.Retry(r.Context(), id, key)
	if errors.Is(err, ssosetup.ErrNotEnqueued) {
		s.log.WarnContext(r.Context(), "setup retried but not enqueued; the reconciler will enqueue it",
			"setup_id", id, "error", err.Error())
		err = nil
	}
	s.writeAction(w, r, "retry", id, st, err)
}

// writeAction answers a lifecycle action: 202 with the job's status document, or the error's status.
func (s *server) writeAction(w http.ResponseWriter, r *http.Request, action string, id uuid.UUID, st ssosetup.SetupStatus, err error) {
	var conflict *ssosetup.ConflictError
	switch {
	case err == nil:
		writeJSON(w, http.StatusAccepted, st)
	case errors.Is(err, ssosetup.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", "no setup with this id", nil)
	case errors.As(err, &conflict):
		writeError(w, http.StatusConflict, "conflict", conflict.Message, nil)
	case errors.Is(err, ssosetup.ErrIdempotencyConflict):
		writeError(w, http.StatusConflict, "conflict", "this Idempotency-Key was used for another action or setup", nil)
	default:
		s.log.ErrorContext(r.Context(), "setup action", "action", action, "setup_id", id, "error", err.Error())
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the "+action+" could not be done; try again", nil)
	}
}

// setupID reads the {id} of the path; anything but a UUID is no setup (404).
func setupID(w http.ResponseWriter, r *http.Request) (uuid.UUID, bool) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusNotFound, "not_found", "no setup with this id", nil)
		return uuid.Nil, false
	}
	return id, true
}
