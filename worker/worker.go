package worker

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/ssosetup/ssosetup/storage/clickhouse"
	"github.com/ssosetup/ssosetup/storage/postgres"
	"github.com/ssosetup/ssosetup/tasks"
)

// Config configures a Worker. Zero values take the defaults documented on each field.
type Config struct {
	Redis        asynq.RedisConnOpt
	Store        *postgres.Store
	Events       *clickhouse.Events
	Logger       *slog.Logger
	Concurrency  int           // tasks at once; default 256 (most wait on Postgres, Redis or the group commit)
	PollInterval time.Duration // idle wait before looking for a task again; default 10 ms
	BaseURL      string        // base of links in e-mails
	Mailer       Mailer        // nil: e-mails are only recorded
	// EventBatchSize is the most events one ClickHouse INSERT carries; default 1000.
	EventBatchSize int
	// EventBatchDelay is how long an interactive job's event may wait for others before its INSERT;
	// default 5 ms.
	EventBatchDelay time.Duration
	// EventBatchBulkDelay is the same for bulk jobs, which trade latency for larger INSERTs; default 2 s.
	EventBatchBulkDelay time.Duration
	// ReconcileInterval is how often the reconciler looks for jobs whose task Redis lost; default 10 s.
	ReconcileInterval time.Duration
	// ReconcileIdle is how long a job must not have moved before the reconciler checks it; default 30 s.
	ReconcileIdle time.Duration
	// OrphanInterval is how often the worker looks for tasks whose worker died (their lease was not extended
	// for OrphanStaleAfter) and runs them again; defaults 2 s and 10 s (Asynq extends leases every 5 s).
	OrphanInterval, OrphanStaleAfter time.Duration
	// Metrics receives the worker's measurements; nil creates an unregistered set.
	Metrics *Metrics
	// ShutdownTimeout is how long in-flight tasks may run on shutdown before they are requeued; default 10 s.
	ShutdownTimeout time.Duration
	// MaxRetry is how many times a task this worker enqueues may fail before its job fails with
	// internal_error; default tasks.MaxRetry. An outage uses up none of them (SPEC §4).
	MaxRetry int
	// RetryMin and RetryMax bound the delay before a failed task runs again; defaults 500 ms and 1 min.
	RetryMin, RetryMax time.Duration
	// EventInsertTimeout bounds one ClickHouse INSERT of the event batcher, well under a task's timeout so
	// that a hanging ClickHouse fails the batch's tasks (they retry) instead of timing them out; default 10 s.
	EventInsertTimeout time.Duration
	// WebhookSecret is the key deliveries are signed with (SPEC §11); nil: this worker delivers no webhooks
	// (the store's receiver URLs decide which are written).
	WebhookSecret []byte
	// WebhookRetryMax caps the backoff between a delivery's attempts; default 10 min.
	WebhookRetryMax time.Duration
	// JobRetention is how long finished jobs are kept (SPEC §15); default 720h. RetentionInterval is how often
	// the cleanup runs, across all workers; default 1h.
	JobRetention, RetentionInterval time.Duration
	// Middleware wraps every task's handler, inside the worker's own (outermost first), as asynq's
	// ServeMux.Use does.
	Middleware []asynq.MiddlewareFunc
}

func (c *Config) setDefaults() {
	if c.Concurrency == 0 {
		c.Concurrency = 256
	}
	if c.PollInterval == 0 {
		c.PollInterval = 10 * time.Millisecond
	}
	if c.EventBatchSize == 0 {
		c.EventBatchSize = 1000
	}
	if c.EventBatchDelay == 0 {
		c.EventBatchDelay = 5 * time.Millisecond
	}
	if c.EventBatchBulkDelay == 0 {
		c.EventBatchBulkDelay = 2 * time.Second
	}
	if c.JobRetention == 0 {
		c.JobRetention = 720 * time.Hour
	}
	if c.RetentionInterval == 0 {
		c.RetentionInterval = time.Hour
	}
	if c.WebhookRetryMax == 0 {
		c.WebhookRetryMax = 10 * time.Minute
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 10 * time.Second
	}
	if c.ReconcileInterval == 0 {
		c.ReconcileInterval = 10 * time.Second
	}
	if c.ReconcileIdle == 0 {
		c.ReconcileIdle = 30 * time.Second
	}
	if c.OrphanInterval == 0 {
		c.OrphanInterval = 2 * time.Second
	}
	if c.OrphanStaleAfter == 0 {
		c.OrphanStaleAfter = 10 * time.Second
	}
	if c.MaxRetry == 0 {
		c.MaxRetry = tasks.MaxRetry
	}
	if c.RetryMin == 0 {
		c.RetryMin = 500 * time.Millisecond
	}
	if c.RetryMax == 0 {
		c.RetryMax = time.Minute
	}
	if c.EventInsertTimeout == 0 {
		c.EventInsertTimeout = 10 * time.Second
	}
	if c.Metrics == nil {
		c.Metrics = NewMetrics(nil)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Worker is the Asynq server with the product's handlers.
type Worker struct {
	cfg       Config
	log       *slog.Logger
	store     *postgres.Store
	client    *asynq.Client
	inspector *asynq.Inspector
	server    *asynq.Server
	signals   *signalForwarder
	batcher   *eventBatcher
	metrics   *Metrics
	rdb       redis.UniversalClient // the reconciler's view of Asynq's keys
	recon     *reconciler
	orphans   *orphanFinder
	retry     *retryPolicy
	webhooks  *webhookSender // nil without a webhook secret
	// taskOpts override the options of every task the worker enqueues (MaxRetry).
	taskOpts []asynq.Option
	running  atomic.Int64 // tasks being handled now
}

// New builds a worker; Run starts it.
func New(cfg Config) *Worker {
	cfg.setDefaults()
	w := &Worker{cfg: cfg, log: cfg.Logger, store: cfg.Store, client: asynq.NewClient(cfg.Redis), metrics: cfg.Metrics,
		retry: &retryPolicy{min: cfg.RetryMin, max: cfg.RetryMax}, taskOpts: []asynq.Option{asynq.MaxRetry(cfg.MaxRetry)}}
	w.rdb = cfg.Redis.MakeRedisClient().(redis.UniversalClient)
	w.signals = newSignalForwarder(cfg.Store, cfg.Logger)
	w.inspector = asynq.NewInspector(cfg.Redis)
	w.recon = &reconciler{store: cfg.Store, client: w.client, rdb: w.rdb, inspector: w.inspector, log: cfg.Logger,
		interval: cfg.ReconcileInterval, idle: cfg.ReconcileIdle, failJob: w.failJob, cancelJob: w.cancelJob,
		taskOpts: w.taskOpts, sending: cfg.Mailer != nil}
	w.orphans = &orphanFinder{rdb: w.rdb, inspector: w.inspector, client: w.client, log: cfg.Logger,
		interval: cfg.OrphanInterval, staleAfter: cfg.OrphanStaleAfter}
	w.batcher = newEventBatcher(cfg.Events, cfg.EventBatchSize, cfg.EventBatchDelay, cfg.EventBatchBulkDelay,
		w.observeInsert, func() int { return int(w.running.Load()) }, 2*cfg.PollInterval)
	w.batcher.insertTimeout = cfg.EventInsertTimeout
	if cfg.WebhookSecret != nil {
		w.webhooks = &webhookSender{w: w, key: cfg.WebhookSecret, retryMax: cfg.WebhookRetryMax,
			client: newWebhookClient()}
	}
	w.server = asynq.NewServer(cfg.Redis, asynq.Config{
		Concurrency:       cfg.Concurrency,
		Queues:            tasks.QueuePriorities,
		TaskCheckInterval: cfg.PollInterval,
		RetryDelayFunc:    w.retry.delay,
		// Retries wait for the next check of delayed tasks too (asynq's default is every 5 s).
		DelayedTaskCheckInterval: min(cfg.RetryMin, time.Second),
		IsFailure:                func(err error) bool { return !isOutage(err) }, // an outage uses up no retry
		ErrorHandler:             asynq.ErrorHandlerFunc(w.handleError),
		Logger:                   newAsynqLogger(cfg.Logger),
		LogLevel:                 asynq.WarnLevel,
		ShutdownTimeout:          cfg.ShutdownTimeout,
	})
	return w
}

// Run serves tasks until ctx is done, then shuts down gracefully: it stops taking tasks, lets in-flight
// ones finish for up to ShutdownTimeout and requeues the rest.
func (w *Worker) Run(ctx context.Context) error {
	defer w.client.Close()
	defer w.rdb.Close()
	defer w.inspector.Close()
	// The batcher outlives the server: handlers finishing during shutdown still need their INSERT.
	batcherCtx, stopBatcher := context.WithCancel(context.WithoutCancel(ctx))
	var batcher, loops sync.WaitGroup
	batcher.Go(func() { w.batcher.run(batcherCtx) })
	defer func() {
		stopBatcher()
		batcher.Wait()
	}()
	if err := w.server.Start(w.mux()); err != nil {
		return err
	}
	w.log.InfoContext(ctx, "worker started", "concurrency", w.cfg.Concurrency, "poll_interval", w.cfg.PollInterval.String())
	loops.Go(func() { w.signals.run(ctx) })
	loops.Go(func() { w.recon.run(ctx) })
	loops.Go(func() { w.orphans.run(ctx) })
	if w.webhooks != nil {
		loops.Go(func() { w.webhooks.run(ctx) })
	}
	loops.Go(func() { w.runRetention(ctx) })
	<-ctx.Done()
	w.log.Info("worker stopping: finishing in-flight tasks", "timeout", w.cfg.ShutdownTimeout.String())
	w.server.Shutdown()
	loops.Wait()
	w.log.Info("worker stopped")
	return nil
}

// permanent marks err as not worth retrying: Asynq archives the task.
func permanent(err error) error {
	if errors.Is(err, asynq.SkipRetry) {
		return err
	}
	return errors.Join(err, asynq.SkipRetry)
}
