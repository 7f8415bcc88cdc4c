// Package tasks is the contract between whoever enqueues work and the worker: task type names, payloads and
// constructors that set the queue, id, retry, timeout and retention. Payloads carry ids only — never provider
// configs or identity data, because Redis and the dashboard show payloads to operators (SPEC §4).
package tasks

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/ssosetup/ssosetup"
)

// Task types: one per stage, and the side tasks.
const (
	TypePrefix            = "sso:"
	TypeEmailMissingLinks = "sso:email_missing_links"
)

// Queues. Their names say what they hold, for an operator looking at the dashboard.
const (
	QueueSetups = "sso_setups"       // interactive jobs submitted by the web tier
	QueueBulk   = "sso_setups_bulk"  // bulk jobs (load tests, imports); lower priority
	QueueSide   = "sso_side_effects" // e-mails sent after a setup
)

// QueuePriorities are the weights the worker gives each queue.
var QueuePriorities = map[string]int{QueueSetups: 6, QueueSide: 3, QueueBulk: 2}

const (
	// MaxRetry with RetryDelay's cap of a minute rides out about half an hour of a dependency being down
	// before a job fails with internal_error; the reconciler resumes jobs after longer outages.
	MaxRetry = 40
	// Timeout bounds one stage run; a stage is a few Postgres round trips.
	Timeout = 30 * time.Second
	// Retention keeps a finished task's id taken for a while, so that a redelivered stage's re-enqueue of the
	// next stage is recognised as a duplicate instead of running that stage again.
	Retention = 10 * time.Minute
)

// StageType is the task type of a stage ("sso:start").
func StageType(stage string) string { return TypePrefix + stage }

// StagePayload is the payload of every stage task.
type StagePayload struct {
	SetupID uuid.UUID `json:"setup_id"`
	// Run is the job's run the task belongs to: 0 until the job is retried, then its retries (SPEC §10). A task
	// of an earlier run that is still around (in a retry's backoff, archived) finds its run over, and does
	// nothing.
	Run int `json:"run,omitempty"`
}

// TaskID is the deterministic id of a job's task, so that enqueueing it twice is detected by Asynq.
func TaskID(setupID uuid.UUID, name string) string { return setupID.String() + ":" + name }

// StageTaskID is the id of a job's stage task in run: a retried job's tasks have ids of their own, because
// its earlier run's tasks may still hold theirs (archived, or kept for Retention).
func StageTaskID(setupID uuid.UUID, stage string, run int) string {
	if run == 0 {
		return TaskID(setupID, stage)
	}
	return fmt.Sprintf("%s:%s:run-%d", setupID, stage, run)
}

// NewStage returns the task that runs stage for a job's first run, on queue.
func NewStage(stage string, setupID uuid.UUID, queue string) *asynq.Task {
	return NewStageRun(stage, setupID, 0, queue, nil)
}

// NewStageRun returns the task that runs stage for a job's run, on queue. headers carry the job's trace
// context (SPEC §13), never anything else.
func NewStageRun(stage string, setupID uuid.UUID, run int, queue string, headers map[string]string) *asynq.Task {
	payload, _ := json.Marshal(StagePayload{SetupID: setupID, Run: run}) // cannot fail
	return asynq.NewTaskWithHeaders(StageType(stage), payload, headers,
		asynq.TaskID(StageTaskID(setupID, stage, run)), asynq.Queue(queue), asynq.MaxRetry(MaxRetry),
		asynq.Timeout(Timeout), asynq.Retention(Retention))
}

// ParseStage decodes a stage payload; an error means the payload is malformed and retrying cannot help.
// Unknown fields are ignored (SPEC §4): a newer release may add one while older workers still run.
func ParseStage(t *asynq.Task) (StagePayload, error) {
	var p StagePayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return p, fmt.Errorf("task %s: %w", t.Type(), err)
	}
	if p.SetupID == uuid.Nil {
		return p, fmt.Errorf("task %s: setup_id is missing", t.Type())
	}
	if p.Run < 0 {
		return p, fmt.Errorf("task %s: run %d is negative", t.Type(), p.Run)
	}
	return p, nil
}

// EmailMissingLinksPayload asks for the "link your account" e-mails after a setup (SPEC §3.8).
type EmailMissingLinksPayload struct {
	OrganizationID int64     `json:"organization_id"`
	ActorUserID    int64     `json:"actor_user_id"`
	Provider       string    `json:"provider"`
	SetupID        uuid.UUID `json:"setup_id"`
}

// NewEmailMissingLinks returns the e-mail task of a setup.
func NewEmailMissingLinks(p EmailMissingLinksPayload, headers map[string]string) *asynq.Task {
	payload, _ := json.Marshal(p)
	return asynq.NewTaskWithHeaders(TypeEmailMissingLinks, payload, headers,
		asynq.TaskID(TaskID(p.SetupID, "email_missing_links")), asynq.Queue(QueueSide),
		asynq.MaxRetry(MaxRetry), asynq.Timeout(2*time.Minute), asynq.Retention(Retention))
}

// ParseEmailMissingLinks decodes the e-mail task's payload, ignoring unknown fields as ParseStage does.
func ParseEmailMissingLinks(t *asynq.Task) (EmailMissingLinksPayload, error) {
	var p EmailMissingLinksPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return p, fmt.Errorf("task %s: %w", t.Type(), err)
	}
	if p.SetupID == uuid.Nil || p.OrganizationID <= 0 || p.ActorUserID <= 0 {
		return p, fmt.Errorf("task %s: setup_id, organization_id and actor_user_id are required", t.Type())
	}
	return p, nil
}

// IsStageType reports whether a task type is one of the chain's stages, returning the stage.
func IsStageType(typ string) (string, bool) {
	if len(typ) <= len(TypePrefix) || typ[:len(TypePrefix)] != TypePrefix {
		return "", false
	}
	stage := typ[len(TypePrefix):]
	return stage, ssosetup.IsStage(stage)
}
