package clickhouse_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ssosetup/ssosetup/eventstream"
	"github.com/ssosetup/ssosetup/storage/clickhouse"
	"github.com/ssosetup/ssosetup/storage/storagetest"
)

// BenchmarkInsertEvents compares one INSERT per event with batched INSERTs; compare the rows/s metrics.
func BenchmarkInsertEvents(b *testing.B) {
	for _, size := range []int{1, 100, 1000} {
		b.Run(map[int]string{1: "one-per-insert", 100: "batch-100", 1000: "batch-1000"}[size], func(b *testing.B) {
			events := clickhouse.NewEvents(storagetest.ClickHouse(b))
			batch := make([]eventstream.Event, size)
			rows := 0
			for b.Loop() {
				for i := range batch {
					batch[i] = eventstream.Build(eventstream.Job{SetupID: uuid.New(), OrganizationID: 1, Flow: "setup",
						Provider: "okta", UserID: 7, CreatedAt: time.Now()})
				}
				if err := events.Insert(context.Background(), batch); err != nil {
					b.Fatal(err)
				}
				rows += size
			}
			b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

func TestInsertIsIdempotent(t *testing.T) {
	t.Parallel()
	conn := storagetest.ClickHouse(t)
	events := clickhouse.NewEvents(conn)
	ev := eventstream.Build(eventstream.Job{SetupID: uuid.New(), OrganizationID: 9, CreatedAt: time.Now()})
	for range 3 {
		if err := events.Insert(context.Background(), []eventstream.Event{ev}); err != nil {
			t.Fatal(err)
		}
	}
	var n uint64
	if err := conn.QueryRow(context.Background(), `SELECT count() FROM events FINAL`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d rows after writing one event three times, want 1", n)
	}
}
