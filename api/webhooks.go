package api

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/google/uuid"

	"github.com/ssosetup/ssosetup/redact"
	"github.com/ssosetup/ssosetup/storage/postgres"
)

// listWebhookDeliveries is GET /v1/webhook-deliveries (SPEC §11): the delivery log, newest first.
func (s *server) listWebhookDeliveries(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := postgres.WebhookFilter{Limit: DefaultListLimit}
	fields := map[string]string{}
	for name := range q {
		if !slices.Contains([]string{"setup_id", "batch_id", "state", "limit"}, name) {
			fields[name] = "is not a filter of this list"
		}
	}
	for name, into := range map[string]*uuid.UUID{"setup_id": &f.SetupID, "batch_id": &f.BatchID} {
		if v := q.Get(name); v != "" {
			id, err := uuid.Parse(v)
			if err != nil {
				fields[name] = "must be a UUID"
			}
			*into = id
		}
	}
	if f.State = q.Get("state"); f.State != "" && !slices.Contains([]string{"pending", "delivered", "failed"}, f.State) {
		fields["state"] = `must be "pending", "delivered" or "failed"`
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxListLimit {
			fields["limit"] = "must be an integer from 1 to 500"
		}
		f.Limit = n
	}
	if len(fields) > 0 {
		writeError(w, http.StatusBadRequest, "invalid_request", "the filters are invalid; see fields", fields)
		return
	}
	list, err := s.cfg.Store.ListWebhookDeliveries(r.Context(), f)
	if err != nil {
		s.log.ErrorContext(r.Context(), "list webhook deliveries", "error", err.Error())
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the deliveries could not be read; try again", nil)
		return
	}
	if list == nil {
		list = []postgres.WebhookDelivery{}
	}
	for i := range list {
		list[i].URL = redact.URL(list[i].URL) // a receiver's URL may carry a token
	}
	writeJSON(w, http.StatusOK, map[string]any{"deliveries": list})
}
