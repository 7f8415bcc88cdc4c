package clickhouse

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DropExpiredPartitions drops the partitions of events whose newest possible row is older than its
// retention, as Sentry's Snuba does (SPEC §15): a partition holds one retention_days value and one week
// (from toMonday(timestamp)), so its newest row is at most a week after its Monday. It returns the
// partitions it dropped.
func (e *Events) DropExpiredPartitions(ctx context.Context, now time.Time) ([]string, error) {
	rows, err := e.conn.Query(ctx, `SELECT DISTINCT partition_id FROM system.parts
		WHERE database = currentDatabase() AND table = 'events' AND active`)
	if err != nil {
		return nil, fmt.Errorf("list partitions of events: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var dropped []string
	for _, id := range ids {
		days, monday, ok := parsePartitionID(id)
		if !ok || !monday.AddDate(0, 0, 7+days).Before(now) {
			continue
		}
		// The partition expression's values, which ClickHouse 18.16 takes (it has no DROP PARTITION ID).
		sql := fmt.Sprintf("ALTER TABLE events DROP PARTITION (%d, '%s')", days, monday.Format(time.DateOnly))
		if err := e.conn.Exec(ctx, sql); err != nil {
			return dropped, fmt.Errorf("drop partition %s of events: %w", id, err)
		}
		dropped = append(dropped, id)
	}
	return dropped, nil
}

// parsePartitionID reads a partition id of events, "<retention_days>-<YYYYMMDD of the Monday>".
func parsePartitionID(id string) (days int, monday time.Time, ok bool) {
	d, m, found := strings.Cut(id, "-")
	n, err1 := strconv.Atoi(d)
	t, err2 := time.Parse("20060102", m)
	if !found || err1 != nil || err2 != nil || n < 0 || n > 65535 {
		return 0, time.Time{}, false
	}
	return n, t, true
}
