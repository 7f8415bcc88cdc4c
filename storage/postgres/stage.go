package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ssosetup/ssosetup"
)

// stageFunc is one stage's logic, the same shape for all seven; each lives in the file named after its stage.
// It runs inside the job's transaction with the job's row locked. It may change j's fact fields (the frame
// writes them back with the stage's record), runs the statements whose answers it needs through tx, and
// queues the writes it needs nothing back from with tx.later. A *ssosetup.JobError fails the job: the frame
// then rolls back everything the stage wrote and records the failure on its own.
type stageFunc func(ctx context.Context, tx *stageTx, j *ssosetup.Job) (status, detail string, err error)

var stageFuncs = map[string]stageFunc{
	ssosetup.StageStart:          start,
	ssosetup.StageDisable2FA:     disable2FA,
	ssosetup.StageAttachIdentity: attachIdentity,
	ssosetup.StageNewMembership:  newMembership,
	ssosetup.StageAcceptInvite:   acceptInvite,
	ssosetup.StageSaveEvent:      saveEvent,
	ssosetup.StageFinish:         finish,
}

// Prepare is a stage's step outside Postgres that must be durable before the stage commits (save_event's
// ClickHouse INSERT). It runs on the job as read without a lock and outside any transaction, so that no
// connection or row lock is held while it waits; it must be idempotent, because a crash before the commit
// runs it again.
type Prepare func(ctx context.Context, j ssosetup.Job) error

// stageTx is a stage's transaction. Statements whose answer the stage needs run at once through the querier;
// writes it needs nothing back from (audit entries, signals) are queued with later and travel with the stage
// record and COMMIT, in the same round trip.
type stageTx struct {
	querier
	stage     string
	deferred  *pgx.Batch
	notice    string
	signalled bool
}

// later queues a write to run, in order, just before the stage record.
func (tx *stageTx) later(sql string, args ...any) { tx.deferred.Queue(sql, args...) }

// RunStage is the exactly-once frame of every stage: lock the job; if the stage is already recorded return
// ssosetup.ErrStageDone; otherwise run the stage's logic and record the stage and the job's new facts in the
// same transaction. A permanent failure is rolled back, recorded on its own and returned. prepare, when not
// nil, runs first (see Prepare).
//
// Stages are the hot path (seven per job), so the transaction is a pipelinedTx: BEGIN travels with the lock
// and the job's read, and the stage's deferred writes with its record and COMMIT — two round trips plus the
// statements the stage needs answers from.
func (s *Store) RunStage(ctx context.Context, stage string, run ssosetup.Run, prepare Prepare) (ssosetup.Outcome, error) {
	fn, ok := stageFuncs[stage]
	if !ok {
		return ssosetup.Outcome{}, fmt.Errorf("unknown stage %q", stage)
	}
	if prepare != nil {
		out, err := s.loadJob(ctx, run, stage)
		if err != nil {
			return out, err
		}
		if err := prepare(ctx, out.Job); err != nil {
			return out, err
		}
	}
	out, err := s.runInTx(ctx, stage, run, fn)
	if je, failed := ssosetup.AsJobError(err); failed {
		return s.recordFailure(ctx, stage, run, out, je)
	}
	return out, err
}

func (s *Store) runInTx(ctx context.Context, stage string, run ssosetup.Run, fn stageFunc) (out ssosetup.Outcome, err error) {
	var recorded bool
	err = s.pipelinedTx(ctx, func(b *pgx.Batch) {
		// The lock comes first, in a statement of its own: the read after it then takes its snapshot once the
		// lock is held, so a run that waited for a concurrent run of the same stage sees that run's record.
		b.Queue(`SELECT 1 FROM setups WHERE id = $1 FOR UPDATE`, run.SetupID)
		queueJobRead(b, run.SetupID, stage, &out, &recorded)
	}, func(q querier, last *pgx.Batch) error {
		if err := stageDone(run, out.Job, recorded); err != nil {
			return err
		}
		tx := &stageTx{querier: q, stage: stage, deferred: last}
		status, detail, err := fn(ctx, tx, &out.Job)
		if err != nil {
			return err
		}
		out.Status, out.Detail, out.Notice, out.Signalled = status, detail, tx.notice, tx.signalled
		if err := queueRecord(last, stage, run, &out.Job, status, detail); err != nil {
			return err
		}
		if out.Job.Result != nil {
			s.queueFinished(last, run.SetupID)
		}
		return nil
	})
	return out, err
}

// loadJob reads the job without a lock, for a stage's prepare step; like the frame, it returns
// ssosetup.ErrStageDone or ErrJobFinished when there is nothing to prepare.
func (s *Store) loadJob(ctx context.Context, run ssosetup.Run, stage string) (out ssosetup.Outcome, err error) {
	var recorded bool
	b := &pgx.Batch{}
	queueJobRead(b, run.SetupID, stage, &out, &recorded)
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return out, err
	}
	return out, stageDone(run, out.Job, recorded)
}

// stageDone tells a run that finds its stage recorded, its job no longer running, or its task left over
// from an earlier run of a retried job, that it has nothing to do.
func stageDone(run ssosetup.Run, j ssosetup.Job, recorded bool) error {
	switch {
	case run.Retry != j.Retries:
		return ssosetup.ErrStaleRun
	case recorded:
		return ssosetup.ErrStageDone
	case ssosetup.IsFinished(j.Status):
		return ssosetup.ErrJobFinished
	}
	return nil
}

// recordFailure records a stage's permanent failure and fails the job, in one statement of its own after the
// stage's transaction was rolled back, so that nothing the stage wrote before it failed can commit. Of the
// facts only the organization is kept, for the redirect; the request is kept without its secrets. A run that finds the stage recorded by another run
// meanwhile returns ssosetup.ErrStageDone, as the frame would.
func (s *Store) recordFailure(ctx context.Context, stage string, run ssosetup.Run, out ssosetup.Outcome, je *ssosetup.JobError) (ssosetup.Outcome, error) {
	scrubbed, err := json.Marshal(out.Job.Request.Scrubbed())
	if err != nil {
		return out, err
	}
	// One round trip: the failure, then the 2FA compensation it may call for, in one transaction.
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	// The lock is a statement of its own, so that the statement after it sees what a concurrent end of the
	// job (a cancel, another run's failure) committed while this one waited: then it records nothing.
	b.Queue(`SELECT 1 FROM setups WHERE id = $1 FOR UPDATE`, run.SetupID)
	var recorded bool
	b.Queue(`
		WITH rec AS (
			INSERT INTO setup_stages (setup_id, stage, status, attempts, detail, started_at, run)
			SELECT id, $2, 'failed', $3, $4, $5, $9 FROM setups WHERE id = $1 AND status IN ('queued', 'running') AND retries = $9
			ON CONFLICT (setup_id, stage) DO UPDATE SET status = 'failed', attempts = excluded.attempts,
				detail = excluded.detail, started_at = excluded.started_at, finished_at = now(), run = excluded.run
			WHERE setup_stages.status = 'failed' AND setup_stages.run < excluded.run -- an earlier run's failure
			RETURNING setup_id
		)
		UPDATE setups SET stage = $2, status = 'failed', error_code = $4, error_message = $6,
			organization_id = coalesce(nullif($7, 0), organization_id), request = $8, finished_at = now(),
			updated_at = now()
		WHERE id IN (SELECT setup_id FROM rec) AND status IN ('queued', 'running')`,
		run.SetupID, stage, run.Attempt, je.Code, run.StartedAt, ssosetup.Message(je.Code), out.Job.OrganizationID,
		scrubbed, run.Retry).Exec(func(tag pgconn.CommandTag) error {
		recorded = tag.RowsAffected() == 1
		return nil
	})
	b.Queue(compensate2FASQL, run.SetupID)
	s.queueFinished(b, run.SetupID)
	b.Queue("COMMIT")
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return out, err
	}
	if !recorded {
		return out, ssosetup.ErrStageDone
	}
	out.Status, out.Detail = ssosetup.StageFailed, je.Code
	return out, je
}

// queueRecord queues the stage record and the job's facts as one statement.
func queueRecord(batch *pgx.Batch, stage string, run ssosetup.Run, j *ssosetup.Job, status, detail string) error {
	messages, err := json.Marshal(j.Messages)
	if err != nil {
		return err
	}
	jobStatus, nextStage := ssosetup.StatusRunning, ssosetup.NextStage(stage)
	var result, scrubbed []byte
	if j.Result != nil { // the job succeeded: it keeps its result, and its request without secrets
		jobStatus, nextStage = ssosetup.StatusSucceeded, stage
		if result, err = json.Marshal(j.Result); err != nil {
			return err
		}
		if scrubbed, err = json.Marshal(j.Request.Scrubbed()); err != nil {
			return err
		}
	}
	batch.Queue(`
		WITH rec AS (
			INSERT INTO setup_stages (setup_id, stage, status, attempts, detail, started_at, run)
			VALUES ($1, $2, $3, $4, $5, $6, $19)
			ON CONFLICT (setup_id, stage) DO UPDATE SET status = excluded.status, attempts = excluded.attempts,
				detail = excluded.detail, started_at = excluded.started_at, finished_at = now(), run = excluded.run
			WHERE setup_stages.status = 'failed' AND setup_stages.run < excluded.run -- an earlier run's failure
		)
		UPDATE setups SET stage = $7, status = $8, result = $9,
			finished_at = CASE WHEN $8 = 'succeeded' THEN now() END,
			organization_id = nullif($10, 0), auth_provider_id = nullif($11, 0), identity_id = nullif($12, 0),
			member_id = nullif($13, 0), invite_member_id = nullif($14, 0), was_member = $15, messages = $16,
			request = coalesce($17, request), provider_key = nullif($18, ''), updated_at = now()
		WHERE id = $1`,
		run.SetupID, stage, status, run.Attempt, detail, run.StartedAt,
		nextStage, jobStatus, result,
		j.OrganizationID, j.AuthProviderID, j.IdentityID, j.MemberID, j.InviteMemberID, j.WasMember, messages,
		scrubbed, j.Provider, run.Retry)
	return nil
}

// jobStateSQL reads job $1 with whether stage $2 and the stage after it, $3, are recorded.
const jobStateSQL = `
	SELECT s.id, s.flow, s.status, s.queue, s.created_at, s.request, coalesce(s.organization_id, 0),
		coalesce(o.slug, ''), coalesce(s.auth_provider_id, 0), coalesce(s.identity_id, 0),
		coalesce(s.member_id, 0), coalesce(s.invite_member_id, 0), coalesce(s.was_member, false), s.messages,
		coalesce(u.email, ''), s.retries, coalesce(s.provider_key, ''),
		EXISTS (SELECT 1 FROM setup_stages WHERE setup_id = s.id AND stage = $2 AND (status <> 'failed' OR run = s.retries)),
		EXISTS (SELECT 1 FROM setup_stages WHERE setup_id = s.id AND stage = $3 AND (status <> 'failed' OR run = s.retries))
	FROM setups s LEFT JOIN organizations o ON o.id = s.organization_id LEFT JOIN users u ON u.id = s.user_id
	WHERE s.id = $1`

// queueJobRead queues the read of a job, with whether stage is recorded, into out.Job, out.NextRecorded and
// recorded; storage's ErrNotFound when there is no such job.
func queueJobRead(b *pgx.Batch, id uuid.UUID, stage string, out *ssosetup.Outcome, recorded *bool) {
	b.Queue(jobStateSQL, id, stage, ssosetup.NextStage(stage)).QueryRow(func(row pgx.Row) error {
		j := &out.Job
		var request, messages []byte
		err := row.Scan(&j.ID, &j.Flow, &j.Status, &j.Queue, &j.CreatedAt, &request, &j.OrganizationID,
			&j.OrgSlug, &j.AuthProviderID, &j.IdentityID, &j.MemberID, &j.InviteMemberID, &j.WasMember, &messages,
			&j.UserEmail, &j.Retries, &j.Provider, recorded, &out.NextRecorded)
		if err != nil {
			return translate(err)
		}
		if err := json.Unmarshal(request, &j.Request); err != nil {
			return fmt.Errorf("decode stored request: %w", err)
		}
		if err := json.Unmarshal(messages, &j.Messages); err != nil {
			return fmt.Errorf("decode stored messages: %w", err)
		}
		return nil
	})
}

// pipelinedTx runs a transaction with BEGIN and COMMIT riding on the first and last round trips: BEGIN
// travels with the statements read queues; then work (which may use what read's callbacks scanned) may run
// statements of its own through q, and queues on last what travels with COMMIT. work returning an error,
// or any statement failing, rolls the transaction back. Without statements of work's own, that is two round
// trips where pgx.BeginFunc takes four plus one per statement. The stage frame, e-mails and signals use it.
func (s *Store) pipelinedTx(ctx context.Context, read func(*pgx.Batch), work func(q querier, last *pgx.Batch) error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	committed := false
	defer func() {
		if !committed {
			rollback(ctx, conn)
		}
	}()
	batch := &pgx.Batch{}
	batch.Queue("BEGIN")
	read(batch)
	if err := conn.SendBatch(ctx, batch).Close(); err != nil {
		return err
	}
	batch = &pgx.Batch{}
	if err := work(conn, batch); err != nil {
		return err
	}
	batch.Queue("COMMIT")
	if err := conn.SendBatch(ctx, batch).Close(); err != nil {
		return err
	}
	committed = true
	return nil
}

// rollback ends a transaction that could not commit; a connection that cannot even roll back is closed, so
// that the pool never hands out a connection inside a transaction.
func rollback(ctx context.Context, conn *pgxpool.Conn) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
		_ = conn.Conn().Close(ctx)
	}
}
