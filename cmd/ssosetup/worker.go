package main

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/ssosetup/ssosetup/api"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"
)

// runWorker runs the worker. With WORKER_LISTEN set it serves /healthz and /metrics there; without, it
// listens nowhere, so that any number of workers and a serve (which owns SSOSETUP_LISTEN) share one host and
// one environment (SPEC §4, §6).
func runWorker(ctx context.Context, cfg config, log *slog.Logger) error {
	return withWorker(ctx, cfg, log, 0, func(ctx context.Context, _ *deps) error {
		if cfg.WorkerListen == "" {
			<-ctx.Done()
			return nil
		}
		mux := http.NewServeMux()
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"status":"ok"}`)) })
		mux.Handle("GET /metrics", promhttp.Handler())
		log.InfoContext(ctx, "worker listening", "addr", cfg.WorkerListen)
		return listen(ctx, cfg.WorkerListen, mux)
	})
}

// runAll is the single-machine default: migrate, then the worker and the API in one process.
func runAll(ctx context.Context, cfg config, log *slog.Logger, args []string) error {
	f, err := parseServeFlags("run", args)
	if err != nil {
		return err
	}
	if cfg, err = checkAccess(cfg, f, log); err != nil {
		return err
	}
	if err := migrate(ctx, cfg, log); err != nil {
		return err
	}
	return withWorker(ctx, cfg, log, 4, func(ctx context.Context, d *deps) error {
		return serveHTTP(ctx, cfg, d, log, cfg.APIToken)
	})
}

// withWorker opens the clients (the worker's Postgres pool plus extraConns), then runs the worker and
// serve side by side until ctx is done or either fails.
func withWorker(ctx context.Context, cfg config, log *slog.Logger, extraConns int32, serve func(context.Context, *deps) error) error {
	d, err := openDeps(ctx, cfg, log, workerPoolSize(cfg)+extraConns)
	if err != nil {
		return err
	}
	defer d.close()
	w, err := newWorker(cfg, d, log)
	if err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return w.Run(ctx) })
	g.Go(func() error { return serve(ctx, d) })
	return g.Wait()
}

// listen serves handler on addr until ctx is done, then drains it.
func listen(ctx context.Context, addr string, handler http.Handler) error {
	srv := api.NewServer(addr, handler)
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutCtx)
}

// workerPoolSize bounds the worker's Postgres connections: most of a high concurrency waits on the
// ClickHouse group commit or on Redis, and Postgres itself slows down with many more connections than cores.
func workerPoolSize(cfg config) int32 {
	return int32(min(cfg.Concurrency, 24) + 4)
}
