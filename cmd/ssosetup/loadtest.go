package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"golang.org/x/term"

	"github.com/ssosetup/ssosetup/client"
	"github.com/ssosetup/ssosetup/loadtest"
	"github.com/ssosetup/ssosetup/tasks"
)

// loadtestCmd runs `ssosetup loadtest` (SPEC §8) against the running workers.
func loadtestCmd(ctx context.Context, cfg config, log *slog.Logger, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	orgs := fs.Int("orgs", 100, "organizations to seed and set up")
	members := fs.Int("members", 2, "users per organization who link after its setup")
	baseline := fs.Bool("baseline", false, "first run as many no-op 7-task Asynq chains and print the throughput ratio")
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	overAPI := fs.Bool("api", false, "submit over the HTTP API (SSOSETUP_API_URL, SSOSETUP_API_TOKEN) instead of the enqueue package")
	queue := fs.String("queue", "bulk", "bulk: submit as batches on the bulk queue; interactive: one by one on the interactive queue")
	timeout := fs.Duration("timeout", 30*time.Minute, "give up after this long")
	metrics := fs.String("metrics", cfg.APIURL+"/metrics",
		"comma-separated /metrics URLs of every worker, where the ClickHouse INSERT figures are read (`ssosetup run` serves them on SSOSETUP_LISTEN); empty: not reported")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	queues := map[string]string{"bulk": tasks.QueueBulk, "interactive": tasks.QueueSetups}
	if queues[*queue] == "" {
		return errors.New(`loadtest: --queue must be "bulk" or "interactive"`)
	}
	if *orgs < 1 || *members < 0 {
		return errors.New("loadtest: --orgs must be at least 1 and --members at least 0")
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	d, err := openDeps(ctx, cfg, log, 8)
	if err != nil {
		return err
	}
	defer d.close()
	lt := loadtest.Config{
		Orgs: *orgs, Members: *members, Baseline: *baseline, Pool: d.pool, ClickHouse: d.ch, Redis: d.redis,
		Concurrency: cfg.Concurrency, PollInterval: cfg.PollInterval, Progress: stderr,
		Terminal: isTerminal(stderr), Metrics: splitList(*metrics), Queue: queues[*queue],
	}
	if *overAPI {
		lt.API = client.New(cfg.APIURL, cfg.APIToken)
	}
	rep, err := loadtest.Run(ctx, lt)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		rep.Print(stdout)
	}
	if rep.Failed > 0 || !rep.InvariantsOK {
		return fmt.Errorf("loadtest: %d jobs failed, invariants ok: %v", rep.Failed, rep.InvariantsOK)
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
