// Package eventstream turns a job into the event it saves into the eventstream: the request's event when
// one was given, else one built from the job, normalized (SPEC §3.6). It does no I/O.
package eventstream

import (
	"time"

	"github.com/google/uuid"

	"github.com/ssosetup/ssosetup"
)

// Event is a normalized event, shaped like a row of the ClickHouse events table (SPEC §7.2).
type Event struct {
	EventID        uuid.UUID
	OrganizationID uint64
	SetupID        string
	Timestamp      time.Time
	Received       time.Time
	Type           string
	Platform       string
	Level          string
	Logger         string
	Message        string
	Release        string
	Environment    string
	UserID         string
	UserEmail      string
	TagKeys        []string
	TagValues      []string
	Contexts       string // JSON object
	Errors         string // JSON array of {"type", "name", "value"}
	Data           string // the whole normalized event as JSON
	RetentionDays  uint16
}

// DefaultRetentionDays is the retention written with every event.
const DefaultRetentionDays = 90

// Job is what the eventstream needs to know about a job.
type Job struct {
	SetupID        uuid.UUID
	OrganizationID int64
	OrgSlug        string
	Flow           string
	Provider       string
	UserID         int64
	UserEmail      string
	CreatedAt      time.Time
	Raw            []byte // the request's event object; nil to build one
}

// FromJob is what the eventstream needs of a setup job.
func FromJob(j ssosetup.Job) Job {
	return Job{
		SetupID: j.ID, OrganizationID: j.OrganizationID, OrgSlug: j.OrgSlug, Flow: j.Flow, Provider: j.ProviderKey(),
		UserID: j.Request.UserID, UserEmail: j.UserEmail, CreatedAt: j.CreatedAt, Raw: j.Request.Event,
	}
}
