package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ssosetup/ssosetup/redact"
	"github.com/ssosetup/ssosetup/webhook"
)

// config is the whole environment of SPEC §6, read once at start.
type config struct {
	RedisURL          string
	RedisClusterAddrs []string
	DatabaseURL       string
	ClickHouseURL     string
	APIToken          string
	Listen            string
	WorkerListen      string
	APIURL            string
	DashboardUser     string
	DashboardPassword string
	DashboardReadOnly bool
	PrometheusURL     string
	DebugListen       string
	BaseURL           string
	SMTPURL           string
	SMTPFrom          string
	Concurrency       int
	PollInterval      time.Duration
	ReconcileInterval time.Duration
	EventBatchSize    int
	EventBatchDelay   time.Duration
	EventBatchBulk    time.Duration
	ReconcileIdle     time.Duration
	LogLevel          slog.Level
	LogFormat         string
	WebhookURLs       []string
	WebhookSecret     []byte // the key of SSOSETUP_WEBHOOK_SECRET's whsec_ form
	JobRetention      time.Duration
	TraceURL          string // the console's link to a job's trace, with {trace_id}
}

// loadConfig reads the environment, applies defaults and validates; the error names the bad variable.
func loadConfig() (config, error) {
	c := config{
		RedisURL:          env("REDIS_URL", "redis://127.0.0.1:6379/0"),
		DatabaseURL:       env("DATABASE_URL", "postgres://ssosetup:ssosetup@127.0.0.1:5432/ssosetup?sslmode=disable"),
		ClickHouseURL:     env("CLICKHOUSE_URL", "clickhouse://127.0.0.1:9000/ssosetup"),
		APIToken:          os.Getenv("SSOSETUP_API_TOKEN"),
		Listen:            env("SSOSETUP_LISTEN", ":8080"),
		WorkerListen:      os.Getenv("WORKER_LISTEN"),
		APIURL:            strings.TrimRight(env("SSOSETUP_API_URL", "http://127.0.0.1:8080"), "/"),
		DashboardUser:     os.Getenv("SSOSETUP_DASHBOARD_USER"),
		DashboardPassword: os.Getenv("SSOSETUP_DASHBOARD_PASSWORD"),
		PrometheusURL:     os.Getenv("SSOSETUP_PROMETHEUS_URL"),
		DebugListen:       os.Getenv("SSOSETUP_DEBUG_LISTEN"),
		BaseURL:           strings.TrimRight(env("SSOSETUP_BASE_URL", "http://localhost:8080"), "/"),
		SMTPURL:           os.Getenv("SMTP_URL"),
		SMTPFrom:          env("SMTP_FROM", "ssosetup@localhost"),
		LogFormat:         env("LOG_FORMAT", "json"),
		TraceURL:          os.Getenv("SSOSETUP_TRACE_URL"),
	}
	if urls := os.Getenv("SSOSETUP_WEBHOOK_URL"); urls != "" {
		c.WebhookURLs = splitList(urls)
	}
	if secret := os.Getenv("SSOSETUP_WEBHOOK_SECRET"); secret != "" {
		key, err := webhook.ParseSecret(secret)
		if err != nil {
			return c, fmt.Errorf("SSOSETUP_WEBHOOK_SECRET: %w", err)
		}
		c.WebhookSecret = key
	}
	if addrs := os.Getenv("REDIS_CLUSTER_ADDRS"); addrs != "" {
		c.RedisClusterAddrs = splitList(addrs)
	}
	var err error
	if c.Concurrency, err = envInt("WORKER_CONCURRENCY", 256); err != nil {
		return c, err
	}
	if c.DashboardReadOnly, err = envBool("SSOSETUP_DASHBOARD_READONLY"); err != nil {
		return c, err
	}
	if c.PollInterval, err = envDuration("WORKER_POLL_INTERVAL", 10*time.Millisecond); err != nil {
		return c, err
	}
	if c.EventBatchSize, err = envInt("EVENT_BATCH_MAX_SIZE", 1000); err != nil {
		return c, err
	}
	if c.EventBatchDelay, err = envDuration("EVENT_BATCH_MAX_DELAY", 5*time.Millisecond); err != nil {
		return c, err
	}
	if c.EventBatchBulk, err = envDuration("EVENT_BATCH_BULK_DELAY", 2*time.Second); err != nil {
		return c, err
	}
	if c.ReconcileInterval, err = envDuration("WORKER_RECONCILE_INTERVAL", 10*time.Second); err != nil {
		return c, err
	}
	if c.ReconcileIdle, err = envDuration("WORKER_RECONCILE_IDLE", 30*time.Second); err != nil {
		return c, err
	}
	if c.JobRetention, err = envDuration("SSOSETUP_JOB_RETENTION", 720*time.Hour); err != nil {
		return c, err
	}
	if err := c.LogLevel.UnmarshalText([]byte(env("LOG_LEVEL", "info"))); err != nil {
		return c, fmt.Errorf("LOG_LEVEL: %q is not one of debug, info, warn, error", os.Getenv("LOG_LEVEL"))
	}
	return c, c.validate()
}

func (c config) validate() error {
	for _, u := range []struct{ name, value string }{
		{"REDIS_URL", c.RedisURL}, {"DATABASE_URL", c.DatabaseURL}, {"CLICKHOUSE_URL", c.ClickHouseURL},
		{"SSOSETUP_API_URL", c.APIURL}, {"SSOSETUP_BASE_URL", c.BaseURL},
	} {
		if p, err := url.Parse(u.value); err != nil || p.Scheme == "" || p.Host == "" {
			return fmt.Errorf("%s: %q is not a URL with a scheme and a host", u.name, maskURL(u.value))
		}
	}
	if c.Concurrency < 1 {
		return fmt.Errorf("WORKER_CONCURRENCY: must be at least 1, got %d", c.Concurrency)
	}
	if c.PollInterval < time.Millisecond || c.PollInterval > 5*time.Second {
		return fmt.Errorf("WORKER_POLL_INTERVAL: must be between 1ms and 5s, got %s", c.PollInterval)
	}
	if c.EventBatchSize < 1 || c.EventBatchDelay <= 0 || c.EventBatchBulk <= 0 {
		return fmt.Errorf("EVENT_BATCH_MAX_SIZE, EVENT_BATCH_MAX_DELAY and EVENT_BATCH_BULK_DELAY: must be positive")
	}
	if c.ReconcileInterval < 100*time.Millisecond || c.ReconcileIdle < 100*time.Millisecond {
		return fmt.Errorf("WORKER_RECONCILE_INTERVAL and WORKER_RECONCILE_IDLE: must be at least 100ms")
	}
	for _, u := range c.WebhookURLs {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("SSOSETUP_WEBHOOK_URL: %q is not an http or https URL", maskURL(u))
		}
	}
	if len(c.WebhookURLs) > 0 && c.WebhookSecret == nil {
		return fmt.Errorf("SSOSETUP_WEBHOOK_SECRET: required when SSOSETUP_WEBHOOK_URL is set (whsec_ and the base64 of 24 to 64 random bytes)")
	}
	if c.JobRetention < time.Hour {
		return fmt.Errorf("SSOSETUP_JOB_RETENTION: must be at least 1h, got %s", c.JobRetention)
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		return fmt.Errorf("LOG_FORMAT: %q is not json or text", c.LogFormat)
	}
	if c.DebugListen != "" {
		if host, _, err := net.SplitHostPort(c.DebugListen); err != nil || !isLoopback(host) {
			return fmt.Errorf("SSOSETUP_DEBUG_LISTEN: %q must be a loopback address such as 127.0.0.1:6060 (pprof shows the process's memory)", c.DebugListen)
		}
	}
	if (c.DashboardUser == "") != (c.DashboardPassword == "") {
		return fmt.Errorf("SSOSETUP_DASHBOARD_USER and SSOSETUP_DASHBOARD_PASSWORD: set both or neither")
	}
	return nil
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

func envInt(name string, def int) (int, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a whole number", name, v)
	}
	return n, nil
}

func envBool(name string) (bool, error) {
	v := os.Getenv(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s: %q is not true or false", name, v)
	}
	return b, nil
}

func envDuration(name string, def time.Duration) (time.Duration, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a duration such as 50ms", name, v)
	}
	return d, nil
}

// maskURL hides a URL's password and secret-looking query parameters, so that it can be printed in an error.
func maskURL(raw string) string { return redact.URL(raw) }

// oneLine flattens a multi-line driver error (pgx lists every address it tried) into one line, dropping
// repeated parts.
func oneLine(err error) string {
	var parts []string
	seen := map[string]bool{}
	for _, p := range strings.Split(err.Error(), "\n") {
		p = strings.TrimSpace(p)
		if p != "" && !seen[p] {
			seen[p] = true
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, " ")
}

// splitList splits a comma-separated setting, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
