package clickhouse

import (
	"context"
	"fmt"
	"regexp"
)

// eventsDDL is the events table of SPEC §7.2. ReplacingMergeTree keyed on (org, day, event_id) is what makes
// a re-run of save_event harmless: the duplicate row collapses on merge and FINAL hides it before then.
const eventsDDL = `CREATE TABLE IF NOT EXISTS %s.events (
    event_id        UUID,
    organization_id UInt64,
    setup_id        String,
    timestamp       DateTime,
    received        DateTime,
    type            String,
    platform        String,
    level           String,
    logger          String,
    message         String,
    release         String,
    environment     String,
    user_id         String,
    user_email      String,
    tags            Nested(key String, value String),
    contexts        String,
    errors          String,
    data            String,
    retention_days  UInt16,
    deleted         UInt8
) ENGINE = ReplacingMergeTree(deleted)
PARTITION BY (retention_days, toMonday(timestamp))
ORDER BY (organization_id, toStartOfDay(timestamp), event_id)`

var databaseName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Migrate creates the database named in url and its tables when they are missing; running it again changes
// nothing. It connects without a default database, because the server refuses a session whose database does
// not exist yet.
func Migrate(ctx context.Context, url string) error {
	opts, err := Options(url)
	if err != nil {
		return err
	}
	db := opts.Auth.Database
	if db == "" {
		db = "default"
	}
	if !databaseName.MatchString(db) {
		return fmt.Errorf("database name %q: use letters, digits and underscores", db)
	}
	opts.Auth.Database = ""
	conn, err := open(ctx, opts)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, stmt := range []string{
		"CREATE DATABASE IF NOT EXISTS " + db,
		fmt.Sprintf(eventsDDL, db),
	} {
		if err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("apply schema: %w", err)
		}
	}
	return nil
}
