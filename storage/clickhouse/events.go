package clickhouse

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/ssosetup/ssosetup/eventstream"
)

// insertEvents names every column: ClickHouse 18.16 refuses a batch INSERT without a column list.
const insertEvents = `INSERT INTO events (event_id, organization_id, setup_id, timestamp, received, type, platform,
	level, logger, message, release, environment, user_id, user_email, tags.key, tags.value, contexts, errors, data,
	retention_days, deleted)`

// Events writes events into the eventstream.
type Events struct {
	conn driver.Conn
}

// NewEvents returns the events writer on conn.
func NewEvents(conn driver.Conn) *Events { return &Events{conn: conn} }

// Insert writes events in one INSERT. Writing an event twice is harmless: rows with the same sort key
// collapse into one (queries that count use FINAL).
func (e *Events) Insert(ctx context.Context, events []eventstream.Event) error {
	if len(events) == 0 {
		return nil
	}
	batch, err := e.conn.PrepareBatch(ctx, insertEvents)
	if err != nil {
		return fmt.Errorf("prepare events insert: %w", err)
	}
	for _, ev := range events {
		err := batch.Append(ev.EventID, ev.OrganizationID, ev.SetupID, ev.Timestamp, ev.Received, ev.Type,
			ev.Platform, ev.Level, ev.Logger, ev.Message, ev.Release, ev.Environment, ev.UserID, ev.UserEmail,
			nonNilStrings(ev.TagKeys), nonNilStrings(ev.TagValues), ev.Contexts, ev.Errors, ev.Data,
			ev.RetentionDays, uint8(0))
		if err != nil {
			_ = batch.Abort()
			return fmt.Errorf("append event %s: %w", ev.EventID, err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("insert %d events: %w", len(events), err)
	}
	return nil
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
