package ssosetup

import (
	"errors"
	"fmt"
)

// Error codes a job can fail with (SPEC §3.9).
const (
	CodeNotAuthenticated      = "not_authenticated"
	CodeUIDMismatch           = "uid_mismatch"
	CodeNotAMember            = "not_a_member"
	CodeInvalidIdentity       = "invalid_identity"
	CodeOrgNotFound           = "org_not_found"
	CodeUserNotFound          = "user_not_found"
	CodeAlreadyConfigured     = "already_configured"
	CodeProviderNotConfigured = "provider_not_configured"
	CodeProviderMismatch      = "provider_mismatch"
	CodeSSORequired           = "sso_required"
	CodeInternal              = "internal_error"
	CodeCancelled             = "cancelled"
)

// Codes are the error codes, in SPEC §3.9's order.
var Codes = []string{CodeNotAuthenticated, CodeUIDMismatch, CodeNotAMember, CodeInvalidIdentity, CodeOrgNotFound,
	CodeUserNotFound, CodeAlreadyConfigured, CodeProviderNotConfigured, CodeProviderMismatch, CodeSSORequired,
	CodeInternal, CodeCancelled}

var messages = map[string]string{
	CodeNotAuthenticated:      "You must be authenticated to link accounts.",
	CodeUIDMismatch:           "There was an error encountered during authentication.",
	CodeNotAMember:            "There was an error encountered during authentication.",
	CodeInvalidIdentity:       "The provider did not return a valid user identity.",
	CodeOrgNotFound:           "The organization does not exist.",
	CodeUserNotFound:          "The user does not exist or is inactive.",
	CodeAlreadyConfigured:     "SSO is already configured for this organization.",
	CodeProviderNotConfigured: "The organization does not have SSO enabled.",
	CodeProviderMismatch:      "The identity provider does not match the organization's SSO provider.",
	CodeSSORequired:           "The invite cannot be accepted without a linked SSO identity.",
	CodeInternal:              "An internal error occurred; the setup was not completed.",
	CodeCancelled:             "The setup was cancelled.",
}

// Sentinel errors, tested with errors.Is. Drivers' errors are translated to them at the storage boundary, so
// that no caller imports a driver.
var (
	// ErrNotFound means the row asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrStageDone means the stage was already recorded for the job: a redelivered task has nothing left to
	// do but make sure what follows is enqueued.
	ErrStageDone = errors.New("stage already recorded")
	// ErrJobFinished means the job already ended: a late task of it has nothing to do and enqueues nothing.
	ErrJobFinished = errors.New("job already finished")
	// ErrStaleRun means the task belongs to an earlier run of a job that was retried since: it has nothing to
	// do, the job's current run has tasks of its own.
	ErrStaleRun = errors.New("task of an earlier run of the job")
	// ErrIdempotencyConflict means the idempotency key was used before with another request body.
	ErrIdempotencyConflict = errors.New("idempotency key already used with another request")
	// ErrNotEnqueued means the job was recorded but its first task could not be enqueued: the job exists
	// (the id returned with it is valid) and the worker's reconciler enqueues it later.
	ErrNotEnqueued = errors.New("setup recorded but not enqueued")
)

// ConflictError is a lifecycle action the job's state does not allow (SPEC §10: HTTP 409); its message says
// why, for the caller.
type ConflictError struct {
	Message string
}

func (e *ConflictError) Error() string { return e.Message }

// Message returns the end-user message of an error code.
func Message(code string) string { return messages[code] }

// IsCode reports whether code is one of the error codes of SPEC §3.9.
func IsCode(code string) bool {
	_, ok := messages[code]
	return ok
}

// JobError is a permanent failure of a job: retrying cannot help, so the job fails with Code.
type JobError struct {
	Code string
}

// Fail returns the permanent failure with the given code.
func Fail(code string) error { return &JobError{Code: code} }

func (e *JobError) Error() string { return fmt.Sprintf("%s: %s", e.Code, Message(e.Code)) }

// AsJobError returns the JobError inside err, if any.
func AsJobError(err error) (*JobError, bool) {
	var je *JobError
	ok := errors.As(err, &je)
	return je, ok
}
