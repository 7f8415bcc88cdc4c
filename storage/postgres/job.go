package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ssosetup/ssosetup"
)

// Job is a setup job as a stage sees it: the request and the facts earlier stages recorded. Stages change
// the fact fields; the stage runner writes them back in the same transaction as the stage record.
type Job struct {
	ID        uuid.UUID
	Flow      string
	Status    string
	Queue     string
	CreatedAt time.Time
	Request   ssosetup.Request
	UserEmail string // the acting user's e-mail, "" when the user does not exist

	// Facts, written back by the runner.
	OrganizationID int64
	OrgSlug        string
	AuthProviderID int64
	IdentityID     int64
	MemberID       int64
	InviteMemberID int64
	WasMember      bool
	Messages       []string
	Result         *Result // set by finish: the job succeeded
}

// Result is a succeeded job's outcome for the web tier (SPEC §3.7).
type Result struct {
	Redirect string   `json:"redirect"`
	Messages []string `json:"messages"`
}

// addMessage appends a message for the user once, in order.
func (j *Job) addMessage(m string) {
	for _, have := range j.Messages {
		if have == m {
			return
		}
	}
	j.Messages = append(j.Messages, m)
}

// ipAddress is the request's IP address, or nil.
func (j *Job) ipAddress() *string {
	if j.Request.IPAddress == "" {
		return nil
	}
	return &j.Request.IPAddress
}

// jobState is a job with what the stage runner needs to know about its stage records.
type jobState struct {
	Job
	stageRecorded bool
	nextRecorded  bool
}

const jobColumns = `s.id, s.flow, s.status, s.queue, s.created_at, s.request, coalesce(s.organization_id, 0),
	coalesce(o.slug, ''), coalesce(s.auth_provider_id, 0), coalesce(s.identity_id, 0), coalesce(s.member_id, 0),
	coalesce(s.invite_member_id, 0), coalesce(s.was_member, false), s.messages, coalesce(u.email, '')`

const jobFrom = `FROM setups s LEFT JOIN organizations o ON o.id = s.organization_id LEFT JOIN users u ON u.id = s.user_id`

func scanJob(row pgx.Row, extra ...any) (Job, error) {
	var j Job
	var request, messages []byte
	dest := append([]any{&j.ID, &j.Flow, &j.Status, &j.Queue, &j.CreatedAt, &request, &j.OrganizationID,
		&j.OrgSlug, &j.AuthProviderID, &j.IdentityID, &j.MemberID, &j.InviteMemberID, &j.WasMember, &messages, &j.UserEmail},
		extra...)
	if err := row.Scan(dest...); err != nil {
		return j, translate(err)
	}
	if err := json.Unmarshal(request, &j.Request); err != nil {
		return j, fmt.Errorf("decode stored request: %w", err)
	}
	if err := json.Unmarshal(messages, &j.Messages); err != nil {
		return j, fmt.Errorf("decode stored messages: %w", err)
	}
	return j, nil
}

// jobStateSQL reads job $1 with whether stage $2 and the stage after it, $3, are recorded.
const jobStateSQL = `SELECT ` + jobColumns + `,
	EXISTS (SELECT 1 FROM setup_stages WHERE setup_id = s.id AND stage = $2),
	EXISTS (SELECT 1 FROM setup_stages WHERE setup_id = s.id AND stage = $3)
	` + jobFrom + ` WHERE s.id = $1`

// lockJobSQL is jobStateSQL locking the job's row, which serializes concurrent runs of one job.
const lockJobSQL = jobStateSQL + ` FOR UPDATE OF s`

// LoadJob reads a job without locking it, with whether stage (and the stage after it) is recorded.
func (s *Store) LoadJob(ctx context.Context, id uuid.UUID, stage string) (Outcome, bool, error) {
	var out Outcome
	var recorded bool
	var err error
	out.Job, err = scanJob(s.pool.QueryRow(ctx, jobStateSQL, id, stage, ssosetup.NextStage(stage)),
		&recorded, &out.NextRecorded)
	return out, recorded, err
}
