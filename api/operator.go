package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/ssosetup/ssosetup"
)

// Operator actions in Asynqmon on a stage task — deleting or archiving it — cancel its job (SPEC §4):
// without this, the reconciler would take a deleted task for one that Redis lost and enqueue it again.
// The dashboard's routes (asynqmon v0.7.2) that remove tasks from a queue's pending, scheduled or retry set:
var (
	oneTaskRoute  = regexp.MustCompile(`/api/queues/([^/]+)/(pending|scheduled|retry)_tasks/([^/]+?)(:archive)?$`)
	batchRoute    = regexp.MustCompile(`/api/queues/([^/]+)/(pending|scheduled|retry)_tasks:batch_(delete|archive)$`)
	allTasksRoute = regexp.MustCompile(`/api/queues/([^/]+)/(pending|scheduled|retry)_tasks:(delete|archive)_all$`)
)

// cancelOnRemoval wraps the dashboard: it works out which tasks a request removes, lets the dashboard act,
// and once it answered 2xx cancels the job of every stage task among them.
func (s *server) cancelOnRemoval(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.CancelJob == nil || s.cfg.Inspector == nil || (r.Method != http.MethodDelete && r.Method != http.MethodPost) {
			next.ServeHTTP(w, r)
			return
		}
		ids, ok := s.removedTasks(r)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		if rec.status/100 != 2 {
			return
		}
		ctx := context.WithoutCancel(r.Context())
		for _, id := range ids {
			if setupID, run, isStage := stageTaskJob(id); isStage {
				if err := s.cfg.CancelJob(ctx, setupID, run); err != nil {
					s.log.ErrorContext(ctx, "could not cancel the job of a removed task", "task_id", id, "error", err.Error())
				}
			}
		}
	})
}

// removedTasks returns the ids of the tasks r removes, and whether r removes tasks at all.
func (s *server) removedTasks(r *http.Request) ([]string, bool) {
	path := r.URL.Path
	if m := oneTaskRoute.FindStringSubmatch(path); m != nil && (r.Method == http.MethodDelete) == (m[4] == "") {
		return []string{m[3]}, true
	}
	if m := batchRoute.FindStringSubmatch(path); m != nil && r.Method == http.MethodPost {
		body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxBodyBytes))
		r.Body = io.NopCloser(bytes.NewReader(body)) // the dashboard reads it too
		var req struct {
			TaskIDs []string `json:"task_ids"`
		}
		if err != nil || json.Unmarshal(body, &req) != nil {
			return nil, false
		}
		return req.TaskIDs, true
	}
	if m := allTasksRoute.FindStringSubmatch(path); m != nil {
		return s.listTasks(m[1], m[2]), true
	}
	return nil, false
}

// listTasks lists the ids of every task of queue in state (pending, scheduled, retry).
func (s *server) listTasks(queue, state string) []string {
	list := map[string]func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){
		"pending": s.cfg.Inspector.ListPendingTasks, "scheduled": s.cfg.Inspector.ListScheduledTasks,
		"retry": s.cfg.Inspector.ListRetryTasks,
	}[state]
	var ids []string
	for page := 1; ; page++ {
		tasks, err := list(queue, asynq.PageSize(1000), asynq.Page(page))
		if err != nil || len(tasks) == 0 {
			return ids
		}
		for _, t := range tasks {
			ids = append(ids, t.ID)
		}
	}
}

// stageTaskJob returns the job and run of a stage task's id: <setup id>:<stage>, <setup id>:<stage>:run-<n>
// for a retried job's run n (tasks.StageTaskID), each with a recovery copy's :r<n> after it.
func stageTaskJob(taskID string) (id uuid.UUID, run int, ok bool) {
	parts := strings.Split(taskID, ":")
	if len(parts) < 2 || !ssosetup.IsStage(parts[1]) {
		return uuid.Nil, 0, false
	}
	if len(parts) > 2 {
		if n, found := strings.CutPrefix(parts[2], "run-"); found {
			if run, err := strconv.Atoi(n); err == nil {
				id, err := uuid.Parse(parts[0])
				return id, run, err == nil
			}
			return uuid.Nil, 0, false
		}
	}
	id, err := uuid.Parse(parts[0])
	return id, 0, err == nil
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}
