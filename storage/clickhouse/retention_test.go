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

// A partition is dropped once its week's last possible event is older than its retention_days, and not a
// day before.
func TestDropExpiredPartitions(t *testing.T) {
	t.Parallel()
	conn := storagetest.ClickHouse(t)
	events := clickhouse.NewEvents(conn)
	ctx := context.Background()
	at := func(day string) eventstream.Event {
		ts, err := time.Parse(time.DateOnly, day)
		if err != nil {
			t.Fatal(err)
		}
		ev := eventstream.Build(eventstream.Job{SetupID: uuid.New(), OrganizationID: 9, CreatedAt: ts})
		ev.RetentionDays = 30
		return ev
	}
	// The week of Monday 2026-10-05 ends on 2026-10-12; with 30 days' retention it expires after 2026-11-11.
	if err := events.Insert(ctx, []eventstream.Event{at("2026-10-05"), at("2026-10-11"), at("2026-11-02")}); err != nil {
		t.Fatal(err)
	}
	count := func() (n uint64) {
		if err := conn.QueryRow(ctx, `SELECT count() FROM events`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	dropped, err := events.DropExpiredPartitions(ctx, time.Date(2026, 11, 11, 0, 0, 0, 0, time.UTC))
	if err != nil || len(dropped) != 0 || count() != 3 {
		t.Fatalf("on the last day of retention: dropped %v, %v, %d events left", dropped, err, count())
	}
	dropped, err = events.DropExpiredPartitions(ctx, time.Date(2026, 11, 12, 1, 0, 0, 0, time.UTC))
	if err != nil || len(dropped) != 1 || dropped[0] != "30-20261005" || count() != 1 {
		t.Fatalf("a day later: dropped %v, %v, %d events left; want the week of 2026-10-05 gone", dropped, err, count())
	}
}
