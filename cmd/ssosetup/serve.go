package main

import (
	"context"
	"flag"
	"log/slog"
	"net/http"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	asynqmetrics "github.com/hibiken/asynq/x/metrics"
	"github.com/hibiken/asynqmon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ssosetup/ssosetup/api"
	"github.com/ssosetup/ssosetup/console"
	"github.com/ssosetup/ssosetup/enqueue"
	"github.com/ssosetup/ssosetup/storage/clickhouse"
	"github.com/ssosetup/ssosetup/storage/postgres"
	"github.com/ssosetup/ssosetup/tracing"
	"github.com/ssosetup/ssosetup/worker"
)

// serveFlags are the flags of serve and run.
type serveFlags struct {
	insecureDev bool
}

func parseServeFlags(name string, args []string) (serveFlags, error) {
	var f serveFlags
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.BoolVar(&f.insecureDev, "insecure-dev", false, "serve the API without a token (local development only)")
	if err := fs.Parse(args); err != nil {
		return f, errUsage
	}
	return f, nil
}

// serveHTTP runs the API until ctx is done, then drains it.
func serveHTTP(ctx context.Context, cfg config, d *deps, log *slog.Logger, token string) error {
	client := asynq.NewClient(d.redis)
	defer client.Close()
	defer registerQueueMetrics(d)()
	store := newStore(cfg, d)
	inspector := asynq.NewInspector(d.redis)
	defer inspector.Close()
	notifier := store.NewNotifier(log)
	go notifier.Run(ctx)
	submitter := enqueue.New(store, client)
	var operatorConsole http.Handler
	if cfg.DashboardUser != "" {
		operatorConsole = console.Handler(console.Config{Store: store, Submitter: submitter, Logger: log,
			ReadOnly: cfg.DashboardReadOnly, Dashboard: "/monitoring", TraceURL: cfg.TraceURL})
	}
	handler := api.Handler(api.Config{
		Notifier:  notifier,
		Console:   operatorConsole,
		Submitter: submitter,
		Store:     store,
		Logger:    log,
		Token:     token,
		Readiness: []api.Check{
			{Name: "postgres", Ping: d.pool.Ping},
			{Name: "redis", Ping: func(ctx context.Context) error { return d.rdb.Ping(ctx).Err() }},
			{Name: "clickhouse", Ping: d.ch.Ping},
		},
		Metrics:           promhttp.Handler(),
		Dashboard:         dashboard(cfg, d),
		DashboardUser:     cfg.DashboardUser,
		DashboardPassword: cfg.DashboardPassword,
		Inspector:         inspector,
		CancelJob: func(ctx context.Context, id uuid.UUID, run int) error {
			_, _, err := store.CancelJob(ctx, id, run)
			return err
		},
	})
	handler = api.Traced(handler)
	log.InfoContext(ctx, "api listening", "addr", cfg.Listen, "tracing", tracing.Enabled())
	return listen(ctx, cfg.Listen, handler)
}

// dashboard is Asynqmon at /monitoring/, or nil until credentials are configured (it has no auth of its own).
func dashboard(cfg config, d *deps) http.Handler {
	if cfg.DashboardUser == "" {
		return nil
	}
	return asynqmon.New(asynqmon.Options{
		RootPath: "/monitoring", RedisConnOpt: d.redis, ReadOnly: cfg.DashboardReadOnly,
		PrometheusAddress: cfg.PrometheusURL,
	})
}

// registerQueueMetrics exports the Asynq queues' size and latency at /metrics.
func registerQueueMetrics(d *deps) func() {
	inspector := asynq.NewInspector(d.redis)
	collector := asynqmetrics.NewQueueMetricsCollector(inspector)
	prometheus.MustRegister(collector)
	return func() {
		prometheus.Unregister(collector)
		inspector.Close()
	}
}

func serve(ctx context.Context, cfg config, log *slog.Logger, args []string) error {
	f, err := parseServeFlags("serve", args)
	if err != nil {
		return err
	}
	if cfg, err = checkAccess(cfg, f, log); err != nil {
		return err
	}
	d, err := openDeps(ctx, cfg, log, 0)
	if err != nil {
		return err
	}
	defer d.close()
	return serveHTTP(ctx, cfg, d, log, cfg.APIToken)
}

// newWorker builds the worker from the opened clients.
func newWorker(cfg config, d *deps, log *slog.Logger) (*worker.Worker, error) {
	var mailer worker.Mailer
	if cfg.SMTPURL != "" {
		m, err := worker.NewSMTPMailer(cfg.SMTPURL, cfg.SMTPFrom, nil)
		if err != nil {
			return nil, settingError("SMTP_URL", cfg.SMTPURL, err)
		}
		mailer = m
	}
	return worker.New(worker.Config{
		Redis: d.redis, Store: newStore(cfg, d), Events: clickhouse.NewEvents(d.ch), Logger: log,
		Concurrency: cfg.Concurrency, PollInterval: cfg.PollInterval, BaseURL: cfg.BaseURL, Mailer: mailer,
		ReconcileInterval: cfg.ReconcileInterval, ReconcileIdle: cfg.ReconcileIdle,
		EventBatchSize: cfg.EventBatchSize, EventBatchDelay: cfg.EventBatchDelay, EventBatchBulkDelay: cfg.EventBatchBulk,
		Metrics: worker.NewMetrics(prometheus.DefaultRegisterer), WebhookSecret: cfg.WebhookSecret,
		JobRetention: cfg.JobRetention,
	}), nil
}

// newStore is the Postgres store with the configured webhook receivers.
func newStore(cfg config, d *deps) *postgres.Store {
	store := postgres.NewStore(d.pool)
	store.SetWebhookURLs(cfg.WebhookURLs)
	return store
}
