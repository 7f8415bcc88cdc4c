package api

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/google/uuid"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/enqueue"
)

type created struct {
	SetupID   uuid.UUID `json:"setup_id"`
	Status    string    `json:"status"`
	StatusURL string    `json:"status_url"`
}

func createdBody(id uuid.UUID) created {
	return created{SetupID: id, Status: ssosetup.StatusQueued, StatusURL: "/v1/setups/" + id.String()}
}

func (s *server) createSetup(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r, MaxBodyBytes)
	if !ok {
		return
	}
	key, ok := idempotencyKey(w, r)
	if !ok {
		return
	}
	req, err := ssosetup.DecodeRequest(body)
	if err != nil {
		writeRequestError(w, err)
		return
	}
	id, isNew, err := s.cfg.Submitter.Submit(r.Context(), req, enqueue.Options{IdempotencyKey: key})
	switch {
	case errors.Is(err, ssosetup.ErrIdempotencyConflict):
		writeError(w, http.StatusConflict, "conflict", "this Idempotency-Key was used with another request body", nil)
		return
	case errors.Is(err, ssosetup.ErrNotEnqueued):
		// The job exists; the reconciler will enqueue it.
		s.log.WarnContext(r.Context(), "setup recorded but not enqueued; the reconciler will enqueue it",
			"setup_id", id, "error", err.Error())
	case err != nil:
		writeRequestError(w, err)
		return
	}
	status := http.StatusAccepted
	if !isNew {
		status = http.StatusOK
	}
	writeJSON(w, status, createdBody(id))
}

func (s *server) getSetup(w http.ResponseWriter, r *http.Request) {
	id, ok := setupID(w, r)
	if !ok {
		return
	}
	wait, ok := waitParam(w, r)
	if !ok {
		return
	}
	st, err := longPoll(r.Context(), s.notifier(), id, wait, func(ctx context.Context) (ssosetup.SetupStatus, bool, error) {
		st, err := s.cfg.Store.SetupStatus(ctx, id)
		return st, ssosetup.IsFinished(st.Status), err
	})
	if r.Context().Err() != nil {
		return // the client went away
	}
	if errors.Is(err, ssosetup.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", "no setup with this id", nil)
		return
	}
	if err != nil {
		s.log.ErrorContext(r.Context(), "read setup status", "setup_id", id, "error", err.Error())
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the status could not be read; try again", nil)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// readBody reads at most limit bytes; a larger body gets 413.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		writeError(w, http.StatusRequestEntityTooLarge, "payload_too_large", "the request body is larger than allowed", nil)
		return nil, false
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "the request body could not be read", nil)
		return nil, false
	}
	return body, true
}

func writeRequestError(w http.ResponseWriter, err error) {
	var fe ssosetup.FieldErrors
	if errors.As(err, &fe) {
		writeError(w, http.StatusBadRequest, "invalid_request", "the request is invalid; see fields", fe)
		return
	}
	writeError(w, http.StatusServiceUnavailable, "unavailable", "the setup could not be recorded; try again", nil)
}

// idempotencyKey reads the Idempotency-Key header: absent, or 1–255 printable ASCII characters (SPEC §4).
// Anything else gets a 400, so that a client never retries a request that can only fail.
func idempotencyKey(w http.ResponseWriter, r *http.Request) (string, bool) {
	values := r.Header.Values("Idempotency-Key")
	if len(values) == 0 {
		return "", true
	}
	key := values[0]
	if len(values) != 1 || !validKey(key) {
		writeError(w, http.StatusBadRequest, "invalid_request", "Idempotency-Key must be one value of 1 to 255 printable ASCII characters",
			map[string]string{"Idempotency-Key": "must be 1 to 255 printable ASCII characters"})
		return "", false
	}
	return key, true
}

// validKey reports whether an idempotency key is 1–255 printable ASCII characters.
func validKey(key string) bool {
	valid := len(key) >= 1 && len(key) <= 255
	for i := 0; valid && i < len(key); i++ {
		valid = key[i] >= 0x20 && key[i] <= 0x7e
	}
	return valid
}
