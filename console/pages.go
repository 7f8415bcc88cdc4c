package console

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/storage/postgres"
	"github.com/ssosetup/ssosetup/tasks"
)

// pageData is what every template gets.
type pageData struct {
	Title    string
	CSRF     string
	ReadOnly bool
	Message  string // the message page's text, or a notice above a page
	Refresh  bool   // the job or batch is unfinished: the page reloads itself every 5 s

	// list
	Filter  listForm
	Jobs    []ssosetup.SetupStatus
	Next    string // the next page's query
	Counts  []statusCount
	Codes   []string
	Flows   []string
	Statusv []string

	// job
	Job       ssosetup.SetupStatus
	Stages    []stageRow
	History   postgres.History
	EventID   string
	TaskLink  string
	TraceLink string
	CanCancel bool
	CanRetry  bool
	Meaning   string

	// batch
	Batch batchView
}

type statusCount struct {
	Status string
	N      int
}

// listForm is the list's filters as the form shows them.
type listForm struct {
	Status, Flow, Org, Code, Batch string
}

// countsTTL is how long the last 24 hours' counts are reused: counting is the page's only read that grows
// with the table.
const countsTTL = 10 * time.Second

func (c *console) listPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	form := listForm{Status: q.Get("status"), Flow: q.Get("flow"), Org: q.Get("org"), Code: q.Get("code"), Batch: q.Get("batch")}
	f := postgres.ListFilter{Status: form.Status, Flow: form.Flow, ErrorCode: form.Code, Limit: 50}
	var problems []string
	if form.Status != "" && !slices.Contains(ssosetup.Statuses, form.Status) {
		problems = append(problems, "status is not a job status")
		f.Status = ""
	}
	if form.Flow != "" && form.Flow != ssosetup.FlowSetup && form.Flow != ssosetup.FlowLink {
		problems = append(problems, "flow is setup or link")
		f.Flow = ""
	}
	if form.Code != "" && !ssosetup.IsCode(form.Code) {
		problems = append(problems, "error code is not one of SPEC §3.9")
		f.ErrorCode = ""
	}
	if form.Org != "" {
		if id, err := strconv.ParseInt(form.Org, 10, 64); err == nil && id > 0 {
			f.OrganizationID = id
		} else {
			f.OrganizationSlug = form.Org
		}
	}
	if form.Batch != "" {
		id, err := uuid.Parse(form.Batch)
		if err != nil {
			problems = append(problems, "batch is a batch id (a UUID)")
		}
		f.BatchID = id
	}
	if after := q.Get("after"); after != "" {
		cursor, ok := postgres.ParseListCursor(after)
		if !ok {
			problems = append(problems, "the page link is broken; start from the first page")
		} else {
			f.After = &cursor
		}
	}
	jobs, next, err := c.cfg.Store.ListSetups(r.Context(), f)
	if err != nil {
		c.fail(w, r, "list setups", err)
		return
	}
	d := pageData{Title: "Jobs", Filter: form, Jobs: jobs, Codes: ssosetup.Codes, Flows: []string{ssosetup.FlowSetup, ssosetup.FlowLink},
		Statusv: ssosetup.Statuses, Message: strings.Join(problems, "; ")}
	if next != nil {
		nq := url.Values{}
		for k, v := range map[string]string{"status": form.Status, "flow": form.Flow, "org": form.Org, "code": form.Code, "batch": form.Batch} {
			if v != "" {
				nq.Set(k, v)
			}
		}
		nq.Set("after", next.String())
		d.Next = nq.Encode()
	}
	if d.Counts, err = c.lastDayCounts(r); err != nil {
		c.fail(w, r, "count setups", err)
		return
	}
	c.render(w, r, http.StatusOK, "list", d)
}

// lastDayCounts is the count of the last 24 hours' jobs by status. It grows with the table (200 ms at a
// million jobs a day), so no page waits for it but the first: it is refreshed in the background when older
// than countsTTL, and a page shows the last count.
func (c *console) lastDayCounts(r *http.Request) ([]statusCount, error) {
	c.countsMu.Lock()
	defer c.countsMu.Unlock()
	switch {
	case c.counts == nil:
		counts, err := c.cfg.Store.StatusCounts(r.Context(), time.Now().Add(-24*time.Hour))
		if err != nil {
			return nil, err
		}
		c.counts, c.countsAt = counts, time.Now()
	case time.Since(c.countsAt) > countsTTL && !c.counting:
		c.counting = true
		go c.refreshCounts(context.WithoutCancel(r.Context()))
	}
	out := make([]statusCount, 0, len(ssosetup.Statuses))
	for _, s := range ssosetup.Statuses {
		out = append(out, statusCount{Status: s, N: c.counts[s]})
	}
	return out, nil
}

func (c *console) refreshCounts(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	counts, err := c.cfg.Store.StatusCounts(ctx, time.Now().Add(-24*time.Hour))
	c.countsMu.Lock()
	defer c.countsMu.Unlock()
	c.counting = false
	if err != nil {
		c.log.WarnContext(ctx, "console: count the last day's jobs", "error", err.Error())
		return
	}
	c.counts, c.countsAt = counts, time.Now()
}

// stageRow is one stage of the job's timeline.
type stageRow struct {
	Name     string
	Status   string // done, skipped, failed, or "" when it has not run
	Attempts int
	Started  *time.Time
	Duration string
	Detail   string
	Current  bool
}

func (c *console) jobPage(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		c.notFound(w, r, "There is no job with this id.")
		return
	}
	st, err := c.cfg.Store.SetupStatus(r.Context(), id)
	if errors.Is(err, ssosetup.ErrNotFound) {
		c.notFound(w, r, "There is no job with this id.")
		return
	}
	if err != nil {
		c.fail(w, r, "read setup", err)
		return
	}
	h, err := c.cfg.Store.JobHistory(r.Context(), id)
	if err != nil {
		c.fail(w, r, "read setup history", err)
		return
	}
	d := pageData{Title: "Job " + id.String(), Job: st, History: h, Refresh: !ssosetup.IsFinished(st.Status),
		Message: r.URL.Query().Get("notice")}
	for _, name := range ssosetup.Stages {
		row := stageRow{Name: name, Current: name == st.Stage && !ssosetup.IsFinished(st.Status)}
		for _, rec := range st.Stages {
			if rec.Name == name {
				started := rec.StartedAt
				row.Status, row.Attempts, row.Started, row.Detail = rec.Status, rec.Attempts, &started, rec.Detail
				row.Duration = rec.FinishedAt.Sub(rec.StartedAt).Round(100 * time.Microsecond).String()
				if ev, ok := strings.CutPrefix(rec.Detail, "event "); ok && name == ssosetup.StageSaveEvent {
					d.EventID = ev
				}
			}
		}
		d.Stages = append(d.Stages, row)
	}
	if st.Error != nil {
		d.Meaning = meaning(st.Error.Code)
	}
	d.CanCancel = !c.cfg.ReadOnly && !ssosetup.IsFinished(st.Status)
	d.CanRetry = !c.cfg.ReadOnly && (st.Status == ssosetup.StatusFailed || st.Status == ssosetup.StatusCancelled)
	if c.cfg.TraceURL != "" && st.TraceID != nil {
		d.TraceLink = strings.ReplaceAll(c.cfg.TraceURL, "{trace_id}", url.PathEscape(*st.TraceID))
	}
	if c.cfg.Dashboard != "" && !ssosetup.IsFinished(st.Status) {
		d.TaskLink = fmt.Sprintf("%s/queues/%s/tasks/%s", c.cfg.Dashboard, url.PathEscape(h.Queue),
			url.PathEscape(tasks.StageTaskID(id, st.Stage, st.Retries)))
	}
	c.render(w, r, http.StatusOK, "job", d)
}

// meaning says what a failure means for the user and for an operator.
func meaning(code string) string {
	switch code {
	case ssosetup.CodeNotAMember, ssosetup.CodeUIDMismatch, ssosetup.CodeNotAuthenticated:
		return "The admin who started the setup could not be confirmed for this organization. Fix the membership or the session, then retry."
	case ssosetup.CodeOrgNotFound, ssosetup.CodeUserNotFound:
		return "The organization or the user does not exist (or the user is inactive). Create or activate it, then retry."
	case ssosetup.CodeAlreadyConfigured:
		return "The organization already has an SSO provider: nothing was changed. No retry will help unless the provider is removed."
	case ssosetup.CodeProviderNotConfigured, ssosetup.CodeProviderMismatch:
		return "The user signed in through a provider the organization does not use. Configure the provider, then retry."
	case ssosetup.CodeSSORequired:
		return "The invite needs a linked SSO identity first. The user should sign in through SSO; a retry runs accept_invite again."
	case ssosetup.CodeInvalidIdentity:
		return "The identity provider returned no user id. The user must sign in again; this job cannot succeed."
	case ssosetup.CodeInternal:
		return "A stage kept failing for a reason that is not the user's. Look at the stage's detail and the worker's logs, fix it, then retry."
	case ssosetup.CodeCancelled:
		return "The job was cancelled; what its stages did before stays. Retry runs it on from where it stopped."
	}
	return ""
}

// batchView is the batch page's figures.
type batchView struct {
	ID             string
	CreatedAt      time.Time
	FinishedAt     *time.Time
	Total          int
	Done           int
	Percent        int
	Counts         []statusCount
	FailuresByCode map[string]int
	Jobs           []ssosetup.SetupStatus
	More           string
}

func (c *console) batchPage(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		c.notFound(w, r, "There is no batch with this id.")
		return
	}
	doc, err := c.cfg.Store.Batch(r.Context(), id)
	if errors.Is(err, ssosetup.ErrNotFound) {
		c.notFound(w, r, "There is no batch with this id.")
		return
	}
	if err != nil {
		c.fail(w, r, "read batch", err)
		return
	}
	jobs, next, err := c.cfg.Store.ListSetups(r.Context(), postgres.ListFilter{BatchID: id, Limit: 100})
	if err != nil {
		c.fail(w, r, "list the batch's setups", err)
		return
	}
	v := batchView{ID: id.String(), CreatedAt: doc.CreatedAt, FinishedAt: doc.FinishedAt, Total: doc.Total,
		FailuresByCode: doc.FailuresByCode, Jobs: jobs}
	for _, s := range ssosetup.Statuses {
		v.Counts = append(v.Counts, statusCount{Status: s, N: doc.Counts[s]})
		if ssosetup.IsFinished(s) {
			v.Done += doc.Counts[s]
		}
	}
	if v.Total > 0 {
		v.Percent = 100 * v.Done / v.Total
	}
	if next != nil {
		v.More = url.Values{"batch": {id.String()}, "after": {next.String()}}.Encode()
	}
	c.render(w, r, http.StatusOK, "batch", pageData{Title: "Batch " + id.String(), Batch: v, Refresh: doc.FinishedAt == nil})
}

// act is Cancel or Retry from the job page: a form with its CSRF token (the API has checked the origin).
func (c *console) act(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(r.PathValue("id"))
	action := r.PathValue("action")
	if err != nil || (action != "cancel" && action != "retry") {
		c.notFound(w, r, "There is no such action.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if c.cfg.ReadOnly {
		c.render(w, r, http.StatusForbidden, "message", pageData{Title: "Read-only", Message: "The console is read-only (SSOSETUP_DASHBOARD_READONLY)."})
		return
	}
	if !validCSRF(r) {
		c.render(w, r, http.StatusForbidden, "message", pageData{Title: "Refused",
			Message: "The form's token is missing or stale. Go back, reload the page and try again."})
		return
	}
	var notice string
	if action == "cancel" {
		_, err = c.cfg.Submitter.Cancel(r.Context(), id)
		notice = "Cancelled: the job stops at its next stage boundary."
	} else {
		_, err = c.cfg.Submitter.Retry(r.Context(), id, "console-"+r.PostFormValue("csrf")+"-"+id.String()+"-"+r.PostFormValue("retries"))
		notice = "Retried: the job runs again from the stage where it stopped."
	}
	var conflict *ssosetup.ConflictError
	switch {
	case errors.As(err, &conflict):
		notice = "Refused: " + conflict.Message
	case errors.Is(err, ssosetup.ErrNotFound):
		c.notFound(w, r, "There is no job with this id.")
		return
	case errors.Is(err, ssosetup.ErrNotEnqueued):
		notice += " (Redis did not take its task; the reconciler will enqueue it.)"
	case err != nil:
		c.fail(w, r, action+" setup", err)
		return
	}
	http.Redirect(w, r, "/console/setups/"+id.String()+"?notice="+url.QueryEscape(notice), http.StatusSeeOther)
}

func (c *console) notFound(w http.ResponseWriter, r *http.Request, msg string) {
	c.render(w, r, http.StatusNotFound, "message", pageData{Title: "Not found", Message: msg})
}

func (c *console) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	c.log.ErrorContext(r.Context(), "console: "+what, "error", err.Error())
	c.render(w, r, http.StatusServiceUnavailable, "message", pageData{Title: "Unavailable",
		Message: "The store could not be read. Reload the page in a moment."})
}

func (c *console) render(w http.ResponseWriter, r *http.Request, status int, page string, d pageData) {
	d.CSRF, d.ReadOnly = csrfToken(w, r), c.cfg.ReadOnly
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := c.pages[page].ExecuteTemplate(w, "layout", d); err != nil {
		c.log.ErrorContext(r.Context(), "console: render", "page", page, "error", err.Error())
	}
}

func parseTemplates() map[string]*template.Template {
	funcs := template.FuncMap{
		"when": func(t any) string {
			switch v := t.(type) {
			case time.Time:
				return v.UTC().Format("2006-01-02 15:04:05 UTC")
			case *time.Time:
				if v != nil {
					return v.UTC().Format("2006-01-02 15:04:05 UTC")
				}
			}
			return "—"
		},
		"deref": func(s *string) string {
			if s == nil {
				return ""
			}
			return *s
		},
		"orgOf": func(id *int64) string {
			if id == nil {
				return "—"
			}
			return strconv.FormatInt(*id, 10)
		},
	}
	pages := map[string]*template.Template{}
	for _, page := range []string{"list", "job", "batch", "message"} {
		pages[page] = template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+page+".html"))
	}
	return pages
}
