package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/storage"
)

// ErrJobFinished means the job already failed: a late task of it has nothing to do and must not enqueue more.
var ErrJobFinished = errors.New("job already finished")

// Run describes one run of a stage, from the task that carries it.
type Run struct {
	SetupID   uuid.UUID
	Attempt   int // 1 for the first delivery
	StartedAt time.Time
}

// Outcome is what a stage run did; the worker logs it and decides what to enqueue.
type Outcome struct {
	Status       string // ssosetup.StageDone, StageSkipped or StageFailed
	Detail       string
	NextRecorded bool // the next stage already ran: do not enqueue it again
	Job          Job
}

// stageFunc does a stage's work inside the job's transaction. It may change j's fact fields. It returns a
// *ssosetup.JobError for a permanent failure, and must do so before it writes anything through tx's
// querier: the runner then records the failure in the same transaction, so such writes would commit with it
// (writes queued with tx.later are dropped).
type stageFunc func(ctx context.Context, tx *stageTx, j *Job) (status, detail string, err error)

// stageTx is a stage's transaction. Statements whose answer the stage needs run at once through the querier;
// writes it needs nothing back from (audit entries, signals) are queued with later and travel with the stage
// record and COMMIT, in the same round trip.
type stageTx struct {
	querier
	deferred *pgx.Batch
}

// later queues a write to run, in order, just before the stage record.
func (tx *stageTx) later(sql string, args ...any) { tx.deferred.Queue(sql, args...) }

// runStage is the exactly-once frame of every stage: lock the job; if this stage is already recorded return
// storage.ErrStageDone; otherwise do the work and record the stage and the job's new facts in the same
// transaction. A permanent failure records the failed stage and fails the job, and is returned.
//
// Stages are the hot path (seven per job), so the frame is a pipelinedTx: BEGIN travels with the lock query,
// and the stage's deferred writes with the stage record and COMMIT — two round trips plus the stage's reads.
func (s *Store) runStage(ctx context.Context, stage string, run Run, fn stageFunc) (out Outcome, err error) {
	var st jobState
	var done Job
	var fnErr error // a permanent failure, returned once its record committed
	err = s.pipelinedTx(ctx, func(b *pgx.Batch) {
		b.Queue(lockJobSQL, run.SetupID, stage, ssosetup.NextStage(stage)).QueryRow(func(row pgx.Row) (err error) {
			st.Job, err = scanJob(row, &st.stageRecorded, &st.nextRecorded)
			return err
		})
	}, func(q querier, last *pgx.Batch) error {
		out.Job, out.NextRecorded = st.Job, st.nextRecorded
		switch {
		case st.stageRecorded:
			return storage.ErrStageDone
		case st.Status == ssosetup.StatusFailed:
			return ErrJobFinished
		}
		done = st.Job
		status, detail, err := fn(ctx, &stageTx{querier: q, deferred: last}, &done)
		je, failed := ssosetup.AsJobError(err)
		switch {
		case failed:
			*last = pgx.Batch{} // drop the stage's deferred writes
			out.Status, out.Detail, fnErr = ssosetup.StageFailed, je.Code, err
			queueFailure(last, stage, run, &done, je.Code)
			return nil
		case err != nil:
			return err
		}
		out.Status, out.Detail = status, detail
		return queueRecord(last, stage, run, &done, status, detail)
	})
	if err != nil {
		return out, err
	}
	out.Job = done
	return out, fnErr
}

// recordResult is what recordAlone did.
type recordResult int

const (
	recorded        recordResult = iota
	alreadyRecorded              // another run recorded the stage first
	notRunning                   // the job is not running, or the predicate did not hold
)

// recordAlone records a stage that writes nothing but its record, in one statement: no lock, no transaction
// round trips; the record's primary key decides between concurrent runs. It records with status when the job
// is running and when, an SQL predicate on the job's row (alias s), holds; detail is an SQL expression on the
// same row, and may use args as $7 on. The outcome carries what the worker needs of the job.
func (s *Store) recordAlone(ctx context.Context, stage, status string, run Run, when, detail string, args ...any) (Outcome, recordResult, error) {
	out := Outcome{Status: status}
	var wrote bool
	err := s.pool.QueryRow(ctx, `
		WITH job AS (
			SELECT s.id, s.flow, s.queue, coalesce(s.organization_id, 0) AS organization_id, (`+detail+`) AS detail
			FROM setups s WHERE s.id = $1 AND s.status = 'running' AND (`+when+`)
		), rec AS (
			INSERT INTO setup_stages (setup_id, stage, status, attempts, detail, started_at)
			SELECT id, $2, $3, $4, detail, $5 FROM job
			ON CONFLICT (setup_id, stage) DO NOTHING RETURNING setup_id
		), moved AS (
			UPDATE setups SET stage = $6, updated_at = now() WHERE id = (SELECT setup_id FROM rec)
		)
		SELECT job.flow, job.queue, job.organization_id, job.detail, EXISTS (SELECT 1 FROM rec) FROM job`,
		append([]any{run.SetupID, stage, status, run.Attempt, run.StartedAt, ssosetup.NextStage(stage)}, args...)...).
		Scan(&out.Job.Flow, &out.Job.Queue, &out.Job.OrganizationID, &out.Detail, &wrote)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return out, notRunning, nil
	case err != nil:
		return out, notRunning, err
	case !wrote:
		return out, alreadyRecorded, nil
	}
	out.Job.ID = run.SetupID
	return out, recorded, nil
}

// queueRecord queues the stage record and the job's facts as one statement.
func queueRecord(batch *pgx.Batch, stage string, run Run, j *Job, status, detail string) error {
	messages, err := json.Marshal(j.Messages)
	if err != nil {
		return err
	}
	jobStatus, nextStage := ssosetup.StatusRunning, ssosetup.NextStage(stage)
	var result []byte
	if j.Result != nil {
		jobStatus, nextStage = ssosetup.StatusSucceeded, stage
		if result, err = json.Marshal(j.Result); err != nil {
			return err
		}
	}
	batch.Queue(`
		WITH rec AS (
			INSERT INTO setup_stages (setup_id, stage, status, attempts, detail, started_at)
			VALUES ($1, $2, $3, $4, $5, $6)
		)
		UPDATE setups SET stage = $7, status = $8, result = $9,
			finished_at = CASE WHEN $8 = 'succeeded' THEN now() END,
			organization_id = nullif($10, 0), auth_provider_id = nullif($11, 0), identity_id = nullif($12, 0),
			member_id = nullif($13, 0), invite_member_id = nullif($14, 0), was_member = $15, messages = $16,
			updated_at = now()
		WHERE id = $1`,
		run.SetupID, stage, status, run.Attempt, detail, run.StartedAt,
		nextStage, jobStatus, result,
		j.OrganizationID, j.AuthProviderID, j.IdentityID, j.MemberID, j.InviteMemberID, j.WasMember, messages)
	return nil
}

// queueFailure queues failing the job with code; of the facts only the organization is kept, for the
// redirect.
func queueFailure(batch *pgx.Batch, stage string, run Run, j *Job, code string) {
	batch.Queue(`
		WITH rec AS (
			INSERT INTO setup_stages (setup_id, stage, status, attempts, detail, started_at)
			VALUES ($1, $2, 'failed', $3, $4, $5)
		)
		UPDATE setups SET stage = $2, status = 'failed', error_code = $4, error_message = $6,
			organization_id = coalesce(nullif($7, 0), organization_id), finished_at = now(), updated_at = now()
		WHERE id = $1`,
		run.SetupID, stage, run.Attempt, code, run.StartedAt, ssosetup.Message(code), j.OrganizationID)
}

// FailJob fails an unfinished job with code outside any stage (retries exhausted, a task that cannot be
// run). It returns the job's flow and whether the job was changed.
func (s *Store) FailJob(ctx context.Context, id uuid.UUID, code string) (flow string, changed bool, err error) {
	err = s.pool.QueryRow(ctx, `
		UPDATE setups SET status = 'failed', error_code = $2, error_message = $3, finished_at = now(),
			updated_at = now()
		WHERE id = $1 AND status IN ('queued', 'running') RETURNING flow`, id, code, ssosetup.Message(code)).Scan(&flow)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	return flow, err == nil, err
}
