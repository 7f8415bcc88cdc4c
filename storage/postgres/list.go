package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ssosetup/ssosetup"
)

// ListFilter selects jobs for ListSetups (SPEC §10); zero fields do not filter.
type ListFilter struct {
	Status, Flow, ErrorCode     string
	OrganizationID              int64
	OrganizationSlug            string
	UserID                      int64
	BatchID                     uuid.UUID
	CreatedAfter, CreatedBefore time.Time
	Limit                       int         // 1–500
	After                       *ListCursor // the last job of the previous page
}

// ListCursor is a position in the list: the newest-first order is (created_at, id) descending, so a page
// starts right after the last job of the one before, whatever was added meanwhile.
type ListCursor struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// String is the cursor as text, "<created_at in Unix µs>.<id>"; ParseListCursor reads it back.
func (c ListCursor) String() string {
	return strconv.FormatInt(c.CreatedAt.UnixMicro(), 10) + "." + c.ID.String()
}

// maxCursorMicros is the year 9999 in Unix microseconds: later is no time a job was created at (and out of
// Postgres's range far beyond it).
const maxCursorMicros = 253402300799999999

// ParseListCursor reads a cursor's text; ok is false for anything that is not one.
func ParseListCursor(s string) (c ListCursor, ok bool) {
	micros, id, found := strings.Cut(s, ".")
	us, err1 := strconv.ParseInt(micros, 10, 64)
	u, err2 := uuid.Parse(id)
	if !found || err1 != nil || err2 != nil || us < 0 || us > maxCursorMicros {
		return ListCursor{}, false
	}
	return ListCursor{CreatedAt: time.UnixMicro(us), ID: u}, true
}

// ListSetups returns a page of jobs, newest first, without their stages, and the cursor of the next page
// (nil on the last page). Each filter has an index whose order is the list's (migration 00005), so a page
// reads about as many rows as it returns, at any table size.
func (s *Store) ListSetups(ctx context.Context, f ListFilter) ([]ssosetup.SetupStatus, *ListCursor, error) {
	sql, args := ListSQL(f)
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, nil, err
	}
	page, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (st ssosetup.SetupStatus, err error) {
		return st, scanStatus(row, &st)
	})
	if err != nil {
		return nil, nil, err
	}
	if len(page) <= f.Limit {
		return page, nil, nil
	}
	page = page[:f.Limit]
	last := page[len(page)-1]
	return page, &ListCursor{CreatedAt: last.CreatedAt, ID: last.SetupID}, nil
}

// ListSQL is the statement ListSetups runs for f, and its arguments (exported for the tests' EXPLAIN).
func ListSQL(f ListFilter) (string, []any) {
	var where []string
	var args []any
	cond := func(sql string, arg any) {
		args = append(args, arg)
		where = append(where, strings.ReplaceAll(sql, "?", fmt.Sprintf("$%d", len(args))))
	}
	if f.Status != "" {
		cond("s.status = ?", f.Status)
	}
	if f.Flow != "" {
		cond("s.flow = ?", f.Flow)
	}
	if f.ErrorCode != "" {
		cond("s.error_code = ?", f.ErrorCode)
	}
	if f.OrganizationID != 0 {
		cond("s.organization_id = ?", f.OrganizationID)
	}
	if f.OrganizationSlug != "" {
		cond("s.organization_id = (SELECT id FROM organizations WHERE slug = ?)", f.OrganizationSlug)
	}
	if f.UserID != 0 {
		cond("s.user_id = ?", f.UserID)
	}
	if f.BatchID != uuid.Nil {
		cond("s.batch_id = ?", f.BatchID)
	}
	if !f.CreatedAfter.IsZero() {
		cond("s.created_at > ?", f.CreatedAfter)
	}
	if !f.CreatedBefore.IsZero() {
		cond("s.created_at < ?", f.CreatedBefore)
	}
	if f.After != nil {
		args = append(args, f.After.CreatedAt, f.After.ID)
		where = append(where, fmt.Sprintf("(s.created_at, s.id) < ($%d, $%d)", len(args)-1, len(args)))
	}
	sql := `SELECT ` + statusColumns + ` FROM setups s LEFT JOIN organizations o ON o.id = s.organization_id`
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, f.Limit+1) // one more tells whether there is a next page
	sql += fmt.Sprintf(" ORDER BY s.created_at DESC, s.id DESC LIMIT $%d", len(args))
	return sql, args
}
