// Package loadtest pushes bulk organization setups through the running product and reports throughput,
// latency, ClickHouse batching and the invariants (SPEC §8). It needs running workers.
package loadtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/client"
	"github.com/ssosetup/ssosetup/enqueue"
	"github.com/ssosetup/ssosetup/invariants"
	"github.com/ssosetup/ssosetup/storage/postgres"
)

// Config is one load test.
type Config struct {
	Orgs, Members int
	Baseline      bool
	API           *client.Client // nil: submit through the enqueue package
	Pool          *pgxpool.Pool
	ClickHouse    driver.Conn
	Redis         asynq.RedisConnOpt
	// Concurrency and PollInterval of the baseline's Asynq server: the workers' settings.
	Concurrency  int
	PollInterval time.Duration
	Progress     io.Writer // progress output; a terminal gets a bar
	Terminal     bool
	// Queue is where the jobs go: tasks.QueueBulk (default), submitted as batches, or tasks.QueueSetups,
	// submitted one by one as a web tier's interactive jobs are (SPEC §8).
	Queue string
	// Metrics are the workers' /metrics URLs, where the report's ClickHouse figures are read; none leaves
	// them at zero.
	Metrics []string
}

// ErrNoWorkers means no worker is connected to Redis, so nothing would run.
var ErrNoWorkers = errors.New("no workers are connected to Redis: start `ssosetup worker` (or `ssosetup run`) first")

// Run seeds, submits setups and then links, waits for every job, and reports.
func Run(ctx context.Context, cfg Config) (Report, error) {
	var rep Report
	inspector := asynq.NewInspector(cfg.Redis)
	defer inspector.Close()
	servers, err := inspector.Servers()
	if err != nil {
		return rep, fmt.Errorf("list workers: %w", err)
	}
	if len(servers) == 0 {
		return rep, ErrNoWorkers
	}
	if cfg.Baseline {
		jobs := cfg.Orgs * (1 + cfg.Members)
		rate, err := runBaseline(ctx, cfg.Redis, jobs, cfg.Concurrency, cfg.PollInterval, nil)
		if err != nil {
			return rep, fmt.Errorf("baseline: %w", err)
		}
		rep.BaselineChainsPerSecond = &rate
	}
	runID := "lt" + randomHex(4)
	orgs, err := seed(ctx, cfg.Pool, runID, cfg.Orgs, cfg.Members)
	if err != nil {
		return rep, err
	}
	insertsBefore, rowsBefore, err := insertStats(ctx, cfg.Metrics)
	if err != nil {
		return rep, err
	}

	r := &runner{cfg: cfg, total: cfg.Orgs * (1 + cfg.Members), hist: hdrhistogram.New(1, 10*60*1000*1000, 3),
		failures: map[string]int{}, pending: map[uuid.UUID]int{}}
	if cfg.API == nil {
		client := asynq.NewClient(cfg.Redis)
		defer client.Close()
		r.submitter = enqueue.New(postgres.NewStore(cfg.Pool), client)
	}
	began := time.Now()
	if err := r.run(ctx, orgs); err != nil {
		return rep, err
	}
	wall := time.Since(began)

	insertsAfter, rowsAfter, err := insertStats(ctx, cfg.Metrics)
	if err != nil {
		return rep, err
	}
	rep.Jobs, rep.Succeeded, rep.Failed, rep.FailuresByCode = r.submitted, r.succeeded, r.failed, r.failures
	rep.WallSeconds = wall.Seconds()
	rep.JobsPerSecond = float64(r.succeeded+r.failed) / wall.Seconds()
	rep.LatencyMS = Latency{P50: ms(r.hist.ValueAtQuantile(50)), P95: ms(r.hist.ValueAtQuantile(95)), P99: ms(r.hist.ValueAtQuantile(99))}
	rep.ClickHouseInserts = insertsAfter - insertsBefore
	if rep.ClickHouseInserts > 0 {
		rep.RowsPerInsert = float64(rowsAfter-rowsBefore) / float64(rep.ClickHouseInserts)
	}
	if rep.BaselineChainsPerSecond != nil && *rep.BaselineChainsPerSecond > 0 {
		ratio := rep.JobsPerSecond / *rep.BaselineChainsPerSecond
		rep.Ratio = &ratio
	}
	inv, err := invariants.Check(ctx, cfg.Pool, cfg.ClickHouse, r.ids)
	if err != nil {
		return rep, fmt.Errorf("invariant check: %w", err)
	}
	rep.InvariantsOK, rep.InvariantProblems = inv.OK(), inv.Problems
	return rep, nil
}

func ms(us int64) float64 { return float64(us) / 1000 }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// setupRequest and linkRequest are the jobs the load test submits.
func setupRequest(o org) ssosetup.Request {
	return ssosetup.Request{
		Flow: ssosetup.FlowSetup, OrganizationID: o.id, UserID: o.owner, Authenticated: true, PipelineUserID: o.owner,
		Provider: &ssosetup.Provider{Key: "okta", Config: map[string]any{"domain": "load.okta.test", "client_secret": "x"}},
		Identity: ssosetup.Identity{ID: fmt.Sprintf("idp-%d", o.owner), Data: map[string]any{"access_token": "x"}},
		Event:    json.RawMessage(`{"release": "web@1.0.0", "environment": "production", "level": "info", "message": "load"}`),
	}
}

func linkRequest(o org, user int64) ssosetup.Request {
	return ssosetup.Request{
		Flow: ssosetup.FlowLink, OrganizationID: o.id, UserID: user, Authenticated: true, PipelineUserID: user,
		Identity: ssosetup.Identity{ID: fmt.Sprintf("idp-%d", user)},
	}
}
