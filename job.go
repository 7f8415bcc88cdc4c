package ssosetup

import (
	"time"

	"github.com/google/uuid"
)

// Job is a setup job as its stages see it: the stored request and the facts earlier stages recorded. A stage
// changes the fact fields; the store writes them back in the same transaction as the stage's record.
type Job struct {
	ID        uuid.UUID
	Flow      string
	Status    string
	Queue     string
	CreatedAt time.Time
	Request   Request
	UserEmail string // the acting user's e-mail, "" when the user does not exist
	Retries   int    // how many times the job was retried (SPEC §10): each retry is a new run of its stages

	// Facts, written back with each stage's record.
	OrganizationID int64
	OrgSlug        string
	AuthProviderID int64
	Provider       string // the organization's provider key, as start found it
	IdentityID     int64
	MemberID       int64
	InviteMemberID int64 // the approved invite new_membership handed to accept_invite
	WasMember      bool  // the user was a member of the organization before this job
	Messages       []string
	Result         *Result // set by finish: the job succeeded
}

// AddMessage appends a message for the user once, in the order the stages add them.
func (j *Job) AddMessage(m string) {
	for _, have := range j.Messages {
		if have == m {
			return
		}
	}
	j.Messages = append(j.Messages, m)
}

// ProviderKey is the organization's provider key: the one start found, else (a job started before start
// kept it) the one the request names, or "".
func (j *Job) ProviderKey() string {
	if j.Provider != "" || j.Request.Provider == nil {
		return j.Provider
	}
	return j.Request.Provider.Key
}

// Result is a succeeded job's outcome for the web tier (SPEC §3.7).
type Result struct {
	Redirect string   `json:"redirect"`
	Messages []string `json:"messages"`
}

// Run is one delivery of a stage's task.
type Run struct {
	SetupID   uuid.UUID
	Retry     int // the job's run the task belongs to: its retries when the task was enqueued
	Attempt   int // 1 for the first delivery
	StartedAt time.Time
}

// Outcome is what one run of a stage did; the worker logs it, counts it and enqueues what follows.
type Outcome struct {
	Status string // StageDone, StageSkipped or StageFailed
	Detail string // recorded with the stage; the error code when it failed
	// Notice is a line to log at info once the stage committed, the way Sentry logs it
	// ("Require 2fa disabled during sso setup").
	Notice string
	// Signalled means the stage wrote a signal: the forwarder should deliver it soon.
	Signalled bool
	// NextRecorded means the stage after this one already ran: there is nothing to enqueue.
	NextRecorded bool
	Job          Job
}
