package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func TestMigrateBadConfigFailsFastWithOneLine(t *testing.T) {
	cases := []struct {
		name, env, value, want string
	}{
		{"unreachable postgres", "DATABASE_URL", "postgres://u:hunter2@127.0.0.1:1/db", "DATABASE_URL postgres://u:xxxxx@127.0.0.1:1/db"},
		{"malformed postgres", "DATABASE_URL", "postgres://u:hunter2@127.0.0.1:notaport/db", "DATABASE_URL"},
		{"not a url", "DATABASE_URL", "nonsense", `DATABASE_URL: "nonsense" is not a URL`},
		{"unreachable clickhouse", "CLICKHOUSE_URL", "clickhouse://u:hunter2@127.0.0.1:1/db", "CLICKHOUSE_URL clickhouse://u:xxxxx@127.0.0.1:1/db"},
		{"http clickhouse", "CLICKHOUSE_URL", "http://127.0.0.1:8123/db", "CLICKHOUSE_URL"},
		{"bad concurrency", "WORKER_CONCURRENCY", "many", "WORKER_CONCURRENCY"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(tc.env, tc.value)
			if tc.env != "DATABASE_URL" {
				// Reach ClickHouse only after a Postgres that certainly fails fast is out of the way.
				t.Setenv("DATABASE_URL", "postgres://ssosetup:ssosetup@127.0.0.1:5432/ssosetup?sslmode=disable")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := run(ctx, []string{"migrate"}, nil, io.Discard, io.Discard)
			if err == nil {
				t.Fatal("migrate succeeded with a bad setting")
			}
			if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
				t.Fatalf("migrate did not give up within 10s: %v", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not contain %q", msg, tc.want)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans several lines: %q", msg)
			}
			if strings.Contains(msg, "hunter2") {
				t.Errorf("error shows the password: %q", msg)
			}
		})
	}
}
