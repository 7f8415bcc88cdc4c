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
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/storage/postgres"
	"github.com/ssosetup/ssosetup/tasks"
	"github.com/ssosetup/ssosetup/tracing"
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
	// The job's trace: the caller's, when ctx carries its span (the API's request), else one of its own.
	ctx, span := tracing.Tracer().Start(ctx, "submit setup", trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.String("ssosetup.setup_id", id.String()), attribute.String("ssosetup.flow", req.Flow)))
	defer span.End()
	id, created, err = s.store.CreateSetup(ctx, postgres.NewSetup{
		ID: id, Request: req, RequestHash: hash, IdempotencyKey: opts.IdempotencyKey, Queue: queue,
		TraceID: tracing.TraceID(ctx), Traceparent: tracing.Traceparent(ctx),
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
		// The new run goes on in the job's own trace.
		jobCtx := trace.ContextWithSpanContext(ctx, trace.SpanContextFromContext(tracing.FromTraceparent(context.Background(), r.Traceparent)))
		if err := Stage(jobCtx, s.client, r.Stage, id, r.Run, r.Queue); err != nil {
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
	ctx, span := tracing.ParentOnly().Tracer(tracing.Name).Start(ctx, "enqueue "+stage, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.String("ssosetup.setup_id", id.String()), attribute.String("ssosetup.stage", stage)))
	defer span.End()
	_, err := client.EnqueueContext(ctx, tasks.NewStageRun(stage, id, run, queue, tracing.Headers(ctx)), opts...)
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

// BatchItem is one item of a batch: a decoded request, or the error that kept it from being one.
type BatchItem struct {
	Request        *ssosetup.Request // nil when Error is set
	IdempotencyKey string
	Error          map[string]any
}

// BatchOptions are a batch's settings.
type BatchOptions struct {
	IdempotencyKey string // the whole batch's
	BodyHash       string // identifies the batch's body for its key
	Queue          string // tasks.QueueBulk (default) or tasks.QueueSetups
	// OwnTraces gives each job a trace of its own, linked to the batch's span: for a batch whose caller sent
	// no trace context, so that a thousand jobs are not one trace. Otherwise they continue the caller's.
	OwnTraces bool
}

// batchJobSpan is the span that submits one job of a batch.
func (s *Submitter) batchJobSpan(ctx context.Context, id uuid.UUID, flow string, own bool) (context.Context, trace.Span) {
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.String("ssosetup.setup_id", id.String()), attribute.String("ssosetup.flow", flow))}
	if own {
		opts = append(opts, trace.WithNewRoot(), trace.WithLinks(trace.LinkFromContext(ctx)))
	}
	return tracing.Tracer().Start(ctx, "submit setup", opts...)
}

// Batch is a recorded batch: its id and each item's answer.
type Batch struct {
	ID      uuid.UUID
	Results []postgres.BatchResult
	Created bool // false for a repeat under the batch's idempotency key
}

// SubmitBatch validates each item, records the batch and its jobs in one transaction and enqueues the jobs
// it created (SPEC §10). An invalid item gets its own error and does not reject the others. Jobs Redis could
// not take stay recorded, and the reconciler enqueues them; the error then wraps ssosetup.ErrNotEnqueued.
func (s *Submitter) SubmitBatch(ctx context.Context, items []BatchItem, opts BatchOptions) (Batch, error) {
	queue := opts.Queue
	if queue == "" {
		queue = tasks.QueueBulk
	}
	jobCtxs := map[uuid.UUID]context.Context{}
	n := postgres.NewBatch{IdempotencyKey: opts.IdempotencyKey, RequestHash: opts.BodyHash,
		Setups: make([]*postgres.NewSetup, len(items)), Results: make([]postgres.BatchResult, len(items))}
	var err error
	if n.ID, err = uuid.NewV7(); err != nil {
		return Batch{}, err
	}
	for i, item := range items {
		if item.Request == nil {
			n.Results[i].Error = item.Error
			continue
		}
		req := *item.Request
		if err := req.Normalize(); err != nil {
			n.Results[i].Error = FieldError(err)
			continue
		}
		hash, err := requestHash(req)
		if err != nil {
			return Batch{}, err
		}
		id, err := uuid.NewV7()
		if err != nil {
			return Batch{}, err
		}
		n.Setups[i] = &postgres.NewSetup{ID: id, Request: req, RequestHash: hash, IdempotencyKey: item.IdempotencyKey, Queue: queue}
		jobCtx, span := s.batchJobSpan(ctx, id, req.Flow, opts.OwnTraces)
		n.Setups[i].TraceID, n.Setups[i].Traceparent = tracing.TraceID(jobCtx), tracing.Traceparent(jobCtx)
		jobCtxs[id] = jobCtx
		span.End()
	}
	id, results, jobs, created, err := s.store.CreateBatch(ctx, n)
	if err != nil {
		return Batch{}, fmt.Errorf("record batch: %w", err)
	}
	var enqueueErr error
	for _, job := range jobs {
		if err := Stage(jobCtxs[job], s.client, ssosetup.StageStart, job, 0, queue); err != nil && enqueueErr == nil {
			enqueueErr = fmt.Errorf("%w: %w", ssosetup.ErrNotEnqueued, err)
		}
	}
	return Batch{ID: id, Results: results, Created: created}, enqueueErr
}

// FieldError is an item's error document for a request that failed validation.
func FieldError(err error) map[string]any {
	var fe ssosetup.FieldErrors
	if errors.As(err, &fe) {
		return map[string]any{"code": "invalid_request", "message": "the request is invalid; see fields", "fields": fe}
	}
	return map[string]any{"code": "invalid_request", "message": err.Error()}
}

// CancelBatch cancels every unfinished job of a batch and returns how many it cancelled.
func (s *Submitter) CancelBatch(ctx context.Context, id uuid.UUID) (int, error) {
	jobs, err := s.store.BatchJobs(ctx, id, ssosetup.StatusQueued, ssosetup.StatusRunning)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, job := range jobs {
		_, changed, err := s.store.CancelJob(ctx, job, postgres.AnyRun)
		if err != nil {
			return n, err
		}
		if changed {
			n++
		}
	}
	return n, nil
}

// Refused is a job of a batch that could not be retried, and why.
type Refused struct {
	SetupID uuid.UUID `json:"setup_id"`
	Message string    `json:"message"`
}

// RetryBatch retries every failed or cancelled job of a batch; a job whose retry is refused is reported, not
// an error.
func (s *Submitter) RetryBatch(ctx context.Context, id uuid.UUID) (retried int, refused []Refused, err error) {
	jobs, err := s.store.BatchJobs(ctx, id, ssosetup.StatusFailed, ssosetup.StatusCancelled)
	if err != nil {
		return 0, nil, err
	}
	for _, job := range jobs {
		_, err := s.Retry(ctx, job, "")
		var conflict *ssosetup.ConflictError
		switch {
		case errors.As(err, &conflict):
			refused = append(refused, Refused{SetupID: job, Message: conflict.Message})
		case err != nil && !errors.Is(err, ssosetup.ErrNotEnqueued):
			return retried, refused, err
		default:
			retried++
		}
	}
	return retried, refused, nil
}
