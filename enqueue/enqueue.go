// Package enqueue is what a web tier calls to start a job: it validates the request, records the job in
// Postgres (the source of truth) and enqueues its first stage. The HTTP API is a thin layer over it; a Go web
// tier can use it directly:
//
//	sub := enqueue.New(store, asynqClient)
//	id, _, err := sub.Submit(ctx, req, enqueue.Options{IdempotencyKey: key})
package enqueue

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/storage/postgres"
	"github.com/ssosetup/ssosetup/tasks"
)

// Submitter records and enqueues jobs.
type Submitter struct {
	store  *postgres.Store
	client *asynq.Client
}

// New returns a Submitter.
func New(store *postgres.Store, client *asynq.Client) *Submitter {
	return &Submitter{store: store, client: client}
}

// Options are per-submission settings.
type Options struct {
	// IdempotencyKey, when set, makes a repeat of the same request return the first job.
	IdempotencyKey string
	// Queue is tasks.QueueSetups (default) or tasks.QueueBulk for bulk work.
	Queue string
}

// Submit validates req, records the job and enqueues its start stage. created is false when an earlier job
// with the same idempotency key and request was returned. Validation errors are ssosetup.FieldErrors; a key
// used before with another request is ssosetup.ErrIdempotencyConflict.
//
// When Redis cannot take the task, the job stays recorded and Submit returns its id with an error wrapping
// ssosetup.ErrNotEnqueued: the worker's reconciler enqueues it later, and a retry with the same idempotency
// key returns the same job.
func (s *Submitter) Submit(ctx context.Context, req ssosetup.Request, opts Options) (id uuid.UUID, created bool, err error) {
	if err := req.Normalize(); err != nil {
		return uuid.Nil, false, err
	}
	queue := opts.Queue
	if queue == "" {
		queue = tasks.QueueSetups
	}
	if queue != tasks.QueueSetups && queue != tasks.QueueBulk {
		return uuid.Nil, false, fmt.Errorf("unknown queue %q", queue)
	}
	hash, err := requestHash(req)
	if err != nil {
		return uuid.Nil, false, err
	}
	id, err = uuid.NewV7()
	if err != nil {
		return uuid.Nil, false, err
	}
	id, created, err = s.store.CreateSetup(ctx, postgres.NewSetup{
		ID: id, Request: req, RequestHash: hash, IdempotencyKey: opts.IdempotencyKey, Queue: queue,
	})
	if err != nil {
		return uuid.Nil, false, fmt.Errorf("record setup: %w", err)
	}
	if err := Stage(ctx, s.client, ssosetup.StageStart, id, 0, queue); err != nil {
		return id, created, fmt.Errorf("%w: %w", ssosetup.ErrNotEnqueued, err)
	}
	return id, created, nil
}

// Cancel cancels a job at its next stage boundary and returns its status document (SPEC §10); a job that
// already succeeded or failed is a *ssosetup.ConflictError.
func (s *Submitter) Cancel(ctx context.Context, id uuid.UUID) (ssosetup.SetupStatus, error) {
	return s.store.CancelSetup(ctx, id)
}

// Retry makes a failed or cancelled job run again from where it stopped, enqueues that stage and returns the
// job's status document (SPEC §10). A repeat with the same idempotency key retries nothing again. When Redis
// cannot take the task, the job is queued all the same and the error wraps ssosetup.ErrNotEnqueued: the
// reconciler enqueues it later.
func (s *Submitter) Retry(ctx context.Context, id uuid.UUID, idempotencyKey string) (ssosetup.SetupStatus, error) {
	r, err := s.store.RetrySetup(ctx, id, idempotencyKey)
	if err != nil {
		return ssosetup.SetupStatus{}, err
	}
	var enqueueErr error
	if r.Stage != "" {
		if err := Stage(ctx, s.client, r.Stage, id, r.Run, r.Queue); err != nil {
			enqueueErr = fmt.Errorf("%w: %w", ssosetup.ErrNotEnqueued, err)
		}
	}
	st, err := s.store.SetupStatus(ctx, id)
	if err != nil {
		return st, err
	}
	return st, enqueueErr
}

// Stage enqueues a job's stage for its run (its retries) under its deterministic task id; a task that is
// already there counts as enqueued. opts override the task's own options (a worker's retry budget).
func Stage(ctx context.Context, client *asynq.Client, stage string, id uuid.UUID, run int, queue string, opts ...asynq.Option) error {
	_, err := client.EnqueueContext(ctx, tasks.NewStageRun(stage, id, run, queue), opts...)
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueue %s of setup %s: %w", stage, id, err)
	}
	return nil
}

// requestHash identifies a request body for idempotency checks.
func requestHash(req ssosetup.Request) (string, error) {
	b, err := json.Marshal(req) // struct fields in a fixed order; map keys sorted
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}
