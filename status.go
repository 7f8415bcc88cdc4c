package ssosetup

import (
	"time"

	"github.com/google/uuid"
)

// SetupStatus is a job's status document (SPEC §5, GET /v1/setups/{id}); the API writes it as it is.
type SetupStatus struct {
	SetupID        uuid.UUID  `json:"setup_id"`
	Flow           string     `json:"flow"`
	OrganizationID *int64     `json:"organization_id"`
	UserID         int64      `json:"user_id"`
	Status         string     `json:"status"`
	Stage          string     `json:"stage"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	FinishedAt     *time.Time `json:"finished_at"`
	// Stages is nil, and left out, in a list of jobs (SPEC §10); a job's own document always has it.
	Stages          []StageRecord `json:"stages,omitzero"`
	Result          *Result       `json:"result"`
	Error           *StatusError  `json:"error"`
	BatchID         *uuid.UUID    `json:"batch_id"`
	Retries         int           `json:"retries"`
	TraceID         *string       `json:"trace_id"`
	CancelRequested bool          `json:"cancel_requested"`
}

// StageRecord is one recorded stage of a job.
type StageRecord struct {
	Name       string    `json:"name"`
	Status     string    `json:"status"`
	Attempts   int       `json:"attempts"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	Detail     string    `json:"detail"`
}

// StatusError is a failed job's error for the web tier: what to show and where to send the user.
type StatusError struct {
	Code     string `json:"code"`
	Message  string `json:"message"`
	Redirect string `json:"redirect"`
}

// NewStatusError returns the error document of a job of flow that failed with code.
func NewStatusError(code, flow, orgSlug string) *StatusError {
	return &StatusError{Code: code, Message: Message(code), Redirect: FailureRedirect(flow, orgSlug)}
}
