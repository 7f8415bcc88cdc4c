package api

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/storage/postgres"
)

// List limits (SPEC §10).
const (
	DefaultListLimit = 50
	MaxListLimit     = 500
)

var listParams = []string{"status", "flow", "organization_id", "organization_slug", "user_id", "error_code",
	"batch_id", "created_after", "created_before", "limit", "cursor"}

func (s *server) listSetups(w http.ResponseWriter, r *http.Request) {
	f, fields := parseListFilter(r.URL.Query())
	if len(fields) > 0 {
		writeError(w, http.StatusBadRequest, "invalid_request", "the filters are invalid; see fields", fields)
		return
	}
	page, next, err := s.cfg.Store.ListSetups(r.Context(), f)
	if err != nil {
		s.log.ErrorContext(r.Context(), "list setups", "error", err.Error())
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the list could not be read; try again", nil)
		return
	}
	var cursor *string
	if next != nil {
		c := encodeCursor(*next)
		cursor = &c
	}
	if page == nil {
		page = []ssosetup.SetupStatus{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"setups": page, "next_cursor": cursor})
}

// parseListFilter reads the list's query parameters; every bad one is named in fields.
func parseListFilter(q url.Values) (postgres.ListFilter, map[string]string) {
	f := postgres.ListFilter{Limit: DefaultListLimit}
	fields := map[string]string{}
	for name, values := range q {
		if !slices.Contains(listParams, name) {
			fields[name] = "is not a filter of this list"
		} else if len(values) > 1 {
			fields[name] = "may be given once"
		}
	}
	str := func(name string, valid func(string) bool, problem string, into *string) {
		if v := q.Get(name); v != "" {
			if !valid(v) {
				fields[name] = problem
				return
			}
			*into = v
		}
	}
	id := func(name string, into *int64) {
		if v := q.Get(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				fields[name] = "must be a positive integer"
				return
			}
			*into = n
		}
	}
	at := func(name string, into *time.Time) {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				fields[name] = "must be an RFC 3339 time"
				return
			}
			*into = t
		}
	}
	str("status", func(v string) bool { return slices.Contains(ssosetup.Statuses, v) },
		"must be one of "+strings.Join(ssosetup.Statuses, ", "), &f.Status)
	str("flow", func(v string) bool { return v == ssosetup.FlowSetup || v == ssosetup.FlowLink },
		`must be "setup" or "link"`, &f.Flow)
	str("error_code", ssosetup.IsCode, "must be an error code of SPEC §3.9", &f.ErrorCode)
	str("organization_slug", func(v string) bool {
		return len(v) <= 255 && utf8.ValidString(v) && !strings.ContainsRune(v, 0)
	}, "must be at most 255 characters of UTF-8 text", &f.OrganizationSlug)
	id("organization_id", &f.OrganizationID)
	id("user_id", &f.UserID)
	at("created_after", &f.CreatedAfter)
	at("created_before", &f.CreatedBefore)
	if v := q.Get("batch_id"); v != "" {
		b, err := uuid.Parse(v)
		if err != nil {
			fields["batch_id"] = "must be a batch id (a UUID)"
		}
		f.BatchID = b
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxListLimit {
			fields["limit"] = fmt.Sprintf("must be an integer from 1 to %d", MaxListLimit)
		}
		f.Limit = n
	}
	if v := q.Get("cursor"); v != "" {
		c, ok := decodeCursor(v)
		if !ok {
			fields["cursor"] = "is not a cursor this list returned"
		}
		f.After = &c
	}
	return f, fields
}

// A cursor is opaque to clients: the base64url of the position of a page's last job.
func encodeCursor(c postgres.ListCursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(c.String()))
}

func decodeCursor(s string) (postgres.ListCursor, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return postgres.ListCursor{}, false
	}
	return postgres.ParseListCursor(string(raw))
}
