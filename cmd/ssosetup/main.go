// Command ssosetup runs the SSO setup worker, its HTTP API and its tools; see README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ssosetup/ssosetup/tracing"
)

const usage = `usage: ssosetup <command> [flags]

commands:
  migrate                 apply the Postgres and ClickHouse schemas (idempotent)
  worker                  run the stage handlers, side tasks, signal forwarder, reconciler and orphan
                          finder (/healthz and /metrics on WORKER_LISTEN when set)
  serve [--insecure-dev]  run the HTTP API, the dashboard and /metrics (--insecure-dev: no token, loopback only)
  run [--insecure-dev]    migrate, then worker and serve in one process
  enqueue [-f FILE] [--wait] [--idempotency-key K]
                          submit a job (JSON, stdin by default) through the API; print its id,
                          or with --wait its final status (exit 1 when it failed or was cancelled)
  status ID               print a job's status document
  list [--status S] [--org ID|SLUG] [--flow F] [--code C] [--batch ID] [--limit N] [--json]
                          list jobs, newest first, as a table (or JSON lines)
  cancel ID               cancel a job at its next stage boundary (exit 1 when refused)
  retry [--idempotency-key K] ID
                          retry a failed or cancelled job from where it stopped (exit 1 when refused)
  batch [-f FILE] [--wait] [--priority bulk|interactive] [--idempotency-key K]
                          submit {"setups": [...]} or one JSON request a line; print the batch id, or with
                          --wait show its progress and its counts (exit 1 when a job failed)
  loadtest [--orgs N] [--members M] [--baseline] [--json] [--api] [--queue bulk|interactive] [--metrics URL,...]
                          push setups and links through the running workers (as batches on the bulk queue,
                          or one by one on the interactive queue) and report
  healthcheck             exit 0 when the local listener answers /healthz (WORKER_LISTEN, else
                          SSOSETUP_LISTEN; for container probes)
`

// errUsage makes main print the usage and exit 2.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, errUsage):
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	case err != nil:
		fmt.Fprintf(os.Stderr, "ssosetup: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errUsage
	}
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	startDebug(ctx, cfg, log)
	stopTracing, err := tracing.Setup(ctx)
	if err != nil {
		return err
	}
	defer func() {
		flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := stopTracing(flushCtx); err != nil {
			log.Warn("traces not all exported at exit", "error", err.Error())
		}
	}()
	switch args[0] {
	case "migrate":
		return migrate(ctx, cfg, log)
	case "worker":
		return runWorker(ctx, cfg, log)
	case "serve":
		return serve(ctx, cfg, log, args[1:])
	case "run":
		return runAll(ctx, cfg, log, args[1:])
	case "enqueue":
		return enqueueCmd(ctx, cfg, args[1:], stdin, stdout)
	case "status":
		return statusCmd(ctx, cfg, args[1:], stdout)
	case "list":
		return listCmd(ctx, cfg, args[1:], stdout)
	case "cancel":
		return cancelCmd(ctx, cfg, args[1:], stdout)
	case "retry":
		return retryCmd(ctx, cfg, args[1:], stdout)
	case "batch":
		return batchCmd(ctx, cfg, args[1:], stdin, stdout, stderr)
	case "loadtest":
		return loadtestCmd(ctx, cfg, log, args[1:], stdout, stderr)
	case "healthcheck":
		return healthcheck(ctx, cfg)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		return errUsage
	}
}

func newLogger(cfg config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if cfg.LogFormat == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(tracing.LogHandler(h)) // a line logged in a job's span names its trace_id

}
