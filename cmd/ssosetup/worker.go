package main

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"
)

// runWorker runs the worker with a small HTTP listener for /healthz and /metrics on SSOSETUP_LISTEN.
func runWorker(ctx context.Context, cfg config, log *slog.Logger) error {
	d, err := openDeps(ctx, cfg, log, workerPoolSize(cfg))
	if err != nil {
		return err
	}
	defer d.close()
	w, err := newWorker(cfg, d, log)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"status":"ok"}`)) })
	mux.Handle("GET /metrics", promhttp.Handler())
	srv := &http.Server{Addr: cfg.Listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return w.Run(ctx) })
	g.Go(func() error {
		if err := srv.ListenAndServe(); err != http.ErrServerClosed {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(shutCtx)
	})
	return g.Wait()
}

// runAll is the single-machine default: migrate, then the worker and the API in one process.
func runAll(ctx context.Context, cfg config, log *slog.Logger, args []string) error {
	f, err := parseServeFlags("run", args)
	if err != nil {
		return err
	}
	if err := checkToken(cfg, f, log); err != nil {
		return err
	}
	if err := migrate(ctx, cfg, log); err != nil {
		return err
	}
	d, err := openDeps(ctx, cfg, log, workerPoolSize(cfg)+4)
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
	g.Go(func() error { return serveHTTP(ctx, cfg, d, log, cfg.APIToken) })
	return g.Wait()
}

// workerPoolSize bounds the worker's Postgres connections: most of a high concurrency waits on the
// ClickHouse group commit or on Redis, and Postgres itself slows down with many more connections than cores.
func workerPoolSize(cfg config) int32 {
	return int32(min(cfg.Concurrency, 24) + 4)
}
