package clickhouse_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/ssosetup/ssosetup/storage/clickhouse"
	"github.com/ssosetup/ssosetup/storage/storagetest"
)

// specEvents is the events table of SPEC §7.2, as ClickHouse reports it (Nested becomes two arrays).
var specEvents = []string{
	"event_id UUID", "organization_id UInt64", "setup_id String", "timestamp DateTime", "received DateTime",
	"type String", "platform String", "level String", "logger String", "message String", "release String",
	"environment String", "user_id String", "user_email String", "tags.key Array(String)",
	"tags.value Array(String)", "contexts String", "errors String", "data String", "retention_days UInt16",
	"deleted UInt8",
}

func TestMigrateMatchesSpec(t *testing.T) {
	t.Parallel()
	dbURL := storagetest.ClickHouseURL(t) // migrates once
	if err := clickhouse.Migrate(context.Background(), dbURL); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	u, _ := url.Parse(dbURL)
	db := strings.TrimPrefix(u.Path, "/")
	conn := storagetest.ClickHouse(t)
	ctx := context.Background()

	rows, err := conn.Query(ctx, "SELECT name, type FROM system.columns WHERE database = ? AND table = 'events'", db)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			t.Fatal(err)
		}
		got = append(got, name+" "+typ)
	}
	if strings.Join(got, ", ") != strings.Join(specEvents, ", ") {
		t.Errorf("events columns:\n got  %v\n want %v", got, specEvents)
	}

	var engine, partition, sorting string
	err = conn.QueryRow(ctx, "SELECT engine_full, partition_key, sorting_key FROM system.tables WHERE database = ? AND name = 'events'", db).
		Scan(&engine, &partition, &sorting)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(engine, "ReplacingMergeTree(deleted)") {
		t.Errorf("engine = %q, want ReplacingMergeTree(deleted)", engine)
	}
	if strings.ReplaceAll(partition, " ", "") != "(retention_days,toMonday(timestamp))" {
		t.Errorf("partition key = %q", partition)
	}
	if strings.ReplaceAll(sorting, " ", "") != "organization_id,toStartOfDay(timestamp),event_id" {
		t.Errorf("sorting key = %q", sorting)
	}
}
