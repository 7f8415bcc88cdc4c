package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"net/url"
	"syscall"
	"testing"
	"time"

	chgo "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/storage/clickhouse"
	"github.com/ssosetup/ssosetup/storage/postgres"
	"github.com/ssosetup/ssosetup/storage/storagetest"
	"github.com/ssosetup/ssosetup/tasks"
)

func TestIsOutage(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("attach_identity for setup x: %w", err) }
	for _, tc := range []struct {
		name   string
		err    error
		outage bool
	}{
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{"wrapped connection reset", wrap(syscall.ECONNRESET), true},
		{"a dropped connection", wrap(io.ErrUnexpectedEOF), true},
		{"a task deadline", wrap(context.DeadlineExceeded), true},
		{"shutdown", context.Canceled, true},
		{"postgres connect error", wrap(&pgconn.ConnectError{}), true},
		{"postgres shutting down", wrap(&pgconn.PgError{Code: "57P01"}), true},
		{"postgres starting", &pgconn.PgError{Code: "57P03"}, true},
		{"postgres connection exception", &pgconn.PgError{Code: "08006"}, true},
		{"postgres too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"postgres unique violation", wrap(&pgconn.PgError{Code: "23505"}), false},
		{"postgres syntax error", &pgconn.PgError{Code: "42601"}, false},
		{"clickhouse socket timeout", wrap(&chgo.Exception{Code: 209}), true},
		{"clickhouse too many parts", &chgo.Exception{Code: 252}, true},
		{"clickhouse readonly replica", &chgo.Exception{Code: 242}, true},
		{"clickhouse no pool connection", wrap(chgo.ErrAcquireConnTimeout), true},
		{"clickhouse unknown table", &chgo.Exception{Code: 60}, false},
		{"redis loading", errors.New("LOADING Redis is loading the dataset in memory"), true},
		{"redis replica during failover", wrap(errors.New("READONLY You can't write against a read only replica.")), true},
		{"redis cluster down", errors.New("CLUSTERDOWN The cluster is down"), true},
		{"smtp 421", wrap(&textproto.Error{Code: 421, Msg: "try later"}), true},
		{"smtp 550", &textproto.Error{Code: 550, Msg: "no such user"}, false},
		{"a job error", wrap(ssosetup.Fail(ssosetup.CodeOrgNotFound)), false},
		{"skip retry", errors.Join(errors.New("bad payload"), asynq.SkipRetry), false},
		{"a plain bug", errors.New("decode stored request: unexpected end of JSON"), false},
		{"nil", nil, false},
	} {
		if got := isOutage(tc.err); got != tc.outage {
			t.Errorf("%s: isOutage(%v) = %v, want %v", tc.name, tc.err, got, tc.outage)
		}
	}
}

// An outage's delay grows with how long it has lasted, within the bounds, and a success resets it; ordinary
// errors back off with their retry count.
func TestRetryPolicy(t *testing.T) {
	p := &retryPolicy{min: time.Second, max: time.Minute}
	t0 := time.Now()
	for _, tc := range []struct {
		after time.Duration
		want  time.Duration
	}{{0, time.Second}, {2 * time.Second, time.Second}, {40 * time.Second, 10 * time.Second}, {time.Hour, time.Minute}} {
		if got := p.outageDelay(t0.Add(tc.after)); got != tc.want {
			t.Errorf("%s into an outage: delay %s, want %s", tc.after, got, tc.want)
		}
	}
	p.succeeded()
	if got := p.outageDelay(t0.Add(2 * time.Hour)); got != time.Second {
		t.Errorf("a new outage after a success: delay %s, want %s", got, time.Second)
	}
	for n, want := range map[int]time.Duration{0: time.Second, 3: 8 * time.Second, 10: time.Minute, 1000: time.Minute} {
		for range 20 {
			if d := p.delay(n, errors.New("bug"), nil); d < want/2 || d > want {
				t.Fatalf("retry %d: delay %s, want within [%s, %s]", n, d, want/2, want)
			}
		}
	}
}

// outageRetries counts the task runs that failed on an unavailable dependency and were retried.
func (h *harness) outageRetries() float64 {
	var n float64
	for _, stage := range ssosetup.Stages {
		n += testutil.ToFloat64(h.worker.metrics.TaskRetries.WithLabelValues(tasks.StageType(stage), "outage"))
	}
	return n
}

// budgetWorker is the tests' worker with a retry budget of well under a second (three retries at most 50 ms
// apart), so that an outage of a few seconds outlasts it many times over; Postgres and ClickHouse are reached
// through proxies that the test cuts.
func (h *harness) budgetWorker(insertTimeout time.Duration) (pg, ch *storagetest.Proxy) {
	h.T.Helper()
	pgURL, err := url.Parse(h.URL)
	if err != nil {
		h.T.Fatal(err)
	}
	pg = storagetest.NewProxy(h.T, pgURL.Host)
	pgURL.Host = pg.Addr()
	pool, err := postgres.Open(h.Ctx, pgURL.String(), 8)
	if err != nil {
		h.T.Fatal(err)
	}
	h.T.Cleanup(pool.Close)
	chURL, err := url.Parse(h.chURL)
	if err != nil {
		h.T.Fatal(err)
	}
	ch = storagetest.NewProxy(h.T, chURL.Host)
	chURL.Host = ch.Addr()
	conn, err := clickhouse.Open(h.Ctx, chURL.String())
	if err != nil {
		h.T.Fatal(err)
	}
	h.T.Cleanup(func() { conn.Close() })
	cfg := h.workerConfig(10 * time.Millisecond)
	cfg.Store, cfg.Events = postgres.NewStore(pool), clickhouse.NewEvents(conn)
	cfg.MaxRetry, cfg.RetryMin, cfg.RetryMax, cfg.EventInsertTimeout = budgetRetries, 10*time.Millisecond, 50*time.Millisecond, insertTimeout
	h.worker = New(cfg)
	return pg, ch
}

// budgetRetries is budgetWorker's retry budget; an outage lasts outageLength, at least ten times as long as
// the budget's delays add up to.
const (
	budgetRetries = 3
	outageLength  = 4 * time.Second
)

// Outages longer than the whole retry budget delay jobs and never fail them (SPEC §4): Postgres refusing
// connections, then ClickHouse accepting them and never answering.
func TestOutagesOutlastingTheRetryBudget(t *testing.T) {
	t.Parallel()
	for _, dep := range []string{"postgres", "clickhouse hangs"} {
		t.Run(dep, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			pg, ch := h.budgetWorker(300 * time.Millisecond)
			org := h.Org("outage", false)
			h.Provider(org, "okta", false)
			h.start()
			ids := make([]uuid.UUID, 20)
			for i := range ids {
				ids[i] = h.submit(linkRequest(org, h.User(fmt.Sprintf("u%d", i)), fmt.Sprintf("idp-%d", i)))
			}
			outage := outageLength
			if dep == "postgres" {
				pg.Cut()
			} else {
				ch.Hang()
			}
			time.Sleep(outage)
			if n := h.QueryInt(`SELECT count(*) FROM setups WHERE status NOT IN ('queued', 'running')`); n == int64(len(ids)) {
				t.Fatal("every job finished during the outage: it was not exercised")
			}
			pg.Restore()
			ch.Restore()
			for _, id := range ids {
				if st := h.wait(id); st.Status != ssosetup.StatusSucceeded {
					t.Errorf("job %s after a %s outage of %s: %s %+v", id, dep, outage, st.Status, st.Error)
				}
			}
			if n := h.outageRetries(); n == 0 {
				t.Error("no task failed on the unavailable dependency: the outage was not exercised")
			} else {
				t.Logf("%v task runs failed during the %s outage of %s and were retried", n, dep, outage)
			}
			if dep != "postgres" && testutil.ToFloat64(h.worker.metrics.InsertFailures) == 0 {
				t.Error("no INSERT timed out against the hanging ClickHouse")
			}
		})
	}
}
