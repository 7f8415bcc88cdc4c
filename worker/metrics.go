package worker

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the worker's Prometheus collectors. One set serves every Worker of a process.
type Metrics struct {
	JobsFinished  *prometheus.CounterVec
	JobFailures   *prometheus.CounterVec
	StageDuration *prometheus.HistogramVec
	TaskRetries   *prometheus.CounterVec
	// WebhookAttempts counts webhook delivery attempts by outcome (delivered, failed, given_up).
	WebhookAttempts *prometheus.CounterVec
	BatchRows       prometheus.Histogram
	InsertDuration  prometheus.Histogram
	InsertFailures  prometheus.Counter
}

// NewMetrics creates the collectors and registers them with reg (nil: not registered, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		JobsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ssosetup_jobs_finished_total", Help: "Setup jobs that reached a final status, by flow and status.",
		}, []string{"flow", "status"}),
		JobFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ssosetup_job_failures_total", Help: "Failed setup jobs by error code.",
		}, []string{"code"}),
		StageDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ssosetup_stage_duration_seconds", Help: "Time to run one stage task, by stage and outcome.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"stage", "outcome"}),
		TaskRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ssosetup_task_retries_total",
			Help: "Task runs that failed and will be retried, by task type and reason (outage: a dependency was unavailable, which uses up no retry; error: anything else).",
		}, []string{"type", "reason"}),
		WebhookAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ssosetup_webhook_attempts_total",
			Help: "Webhook delivery attempts, by outcome: delivered, failed (tried again later), given_up (after a day).",
		}, []string{"outcome"}),
		BatchRows: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ssosetup_eventstream_batch_rows", Help: "Events per ClickHouse INSERT.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11),
		}),
		InsertDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ssosetup_eventstream_insert_duration_seconds", Help: "Duration of one ClickHouse INSERT.",
			Buckets: prometheus.ExponentialBuckets(0.002, 2, 12),
		}),
		InsertFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ssosetup_eventstream_insert_failures_total", Help: "ClickHouse INSERTs that failed (their tasks retry).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.JobsFinished, m.JobFailures, m.StageDuration, m.TaskRetries, m.WebhookAttempts, m.BatchRows,
			m.InsertDuration, m.InsertFailures)
	}
	return m
}

// observeInsert records one INSERT of the event batcher.
func (w *Worker) observeInsert(rows int, took time.Duration, err error) {
	if err != nil {
		w.metrics.InsertFailures.Inc()
		return
	}
	w.metrics.BatchRows.Observe(float64(rows))
	w.metrics.InsertDuration.Observe(took.Seconds())
}
