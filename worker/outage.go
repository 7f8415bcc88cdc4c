package worker

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/textproto"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ssosetup/ssosetup"
)

// isOutage reports whether err means that a dependency (Postgres, Redis, ClickHouse, an SMTP server) was
// unreachable, overloaded or timed out. Such an error is retried for as long as the outage lasts and never
// counts against a task's retries (SPEC §4: outages delay jobs, they never fail them); every other error
// uses up a retry, and fails the job with internal_error once they are gone.
func isOutage(err error) bool {
	if err == nil {
		return false
	}
	if _, ok := ssosetup.AsJobError(err); ok || errors.Is(err, asynq.SkipRetry) {
		return false
	}
	var netErr net.Error
	var pgErr *pgconn.PgError
	var connectErr *pgconn.ConnectError
	var chErr *clickhouse.Exception
	var smtpErr *textproto.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, clickhouse.ErrAcquireConnTimeout),
		errors.As(err, &netErr), errors.As(err, &connectErr), pgconn.Timeout(err), pgconn.SafeToRetry(err):
		return true
	case errors.As(err, &pgErr):
		return postgresUnavailable(pgErr.Code)
	case errors.As(err, &chErr):
		return clickhouseUnavailable(chErr.Code)
	case errors.As(err, &smtpErr):
		return smtpErr.Code >= 400 && smtpErr.Code < 500 // 4xx: try again later
	}
	return redisUnavailable(err.Error())
}

// postgresUnavailable: connection exceptions (class 08), the server shutting down or starting
// (57P01–57P03), too many connections (53300).
func postgresUnavailable(code string) bool {
	return strings.HasPrefix(code, "08") || code == "57P01" || code == "57P02" || code == "57P03" || code == "53300"
}

// clickhouseUnavailable: timeouts, network errors, too many queries or parts (back-pressure), and a replica
// without ZooKeeper, which accepts no INSERT until it is back.
func clickhouseUnavailable(code int32) bool {
	switch code {
	case 159, 209, 210, 202, 252, 242, 225, 999, 319:
		return true
	}
	return false
}

// redisUnavailable recognises the replies of a Redis that cannot serve yet: loading its data, a replica
// during a failover, a cluster that is resharding or lost a node.
func redisUnavailable(msg string) bool {
	for _, prefix := range []string{"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "NOREPLICAS"} {
		if strings.Contains(msg, prefix+" ") {
			return true
		}
	}
	return strings.Contains(msg, "connection refused") || strings.Contains(msg, "i/o timeout")
}

// retryPolicy computes when a failed task runs again. Ordinary errors back off exponentially with their
// retry count, from min to max. An outage does not raise the count (it is not a failure), so its delay grows
// with how long the outage has lasted in this process instead: about a quarter of that, between min and max,
// so that a long outage is probed about once every max, and a short one is noticed at once.
type retryPolicy struct {
	min, max time.Duration

	outageSince atomic.Int64 // Unix nanoseconds of the first outage error; 0 while the dependencies answer
}

// delay is asynq's RetryDelayFunc.
func (p *retryPolicy) delay(n int, err error, _ *asynq.Task) time.Duration {
	var d time.Duration
	if isOutage(err) {
		d = p.outageDelay(time.Now())
	} else {
		d = min(p.min<<min(n, 20), p.max)
	}
	return d/2 + rand.N(d/2+1) // jitter: jobs that failed together do not all retry at the same instant
}

func (p *retryPolicy) outageDelay(now time.Time) time.Duration {
	p.outageSince.CompareAndSwap(0, now.UnixNano())
	lasted := now.Sub(time.Unix(0, p.outageSince.Load()))
	return min(max(lasted/4, p.min), p.max)
}

// succeeded ends the outage: a task that completes shows the dependencies answer again. It runs after every
// task, so it costs one atomic load while nothing is down.
func (p *retryPolicy) succeeded() {
	if p.outageSince.Load() != 0 {
		p.outageSince.Store(0)
	}
}
