package postgres_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ssosetup/ssosetup/storage/postgres"
	"github.com/ssosetup/ssosetup/storage/storagetest"
)

// specColumns is SPEC §7.1: every table and the columns it names.
var specColumns = map[string][]string{
	"organizations":        {"id", "slug", "name", "require_2fa", "invite_members_enabled", "default_role", "created_at"},
	"users":                {"id", "username", "email", "name", "is_active", "created_at"},
	"organization_members": {"id", "organization_id", "user_id", "email", "role", "sso_linked", "sso_invalid", "member_limit_restricted", "idp_provisioned", "idp_role_restricted", "token", "token_expires_at", "invite_status", "created_at"},
	"auth_providers":       {"id", "organization_id", "provider", "config", "allow_unlinked", "scim_enabled", "created_at"},
	"auth_identities":      {"id", "auth_provider_id", "user_id", "ident", "data", "last_verified", "last_synced", "created_at"},
	"audit_log_entries":    {"id", "organization_id", "setup_id", "event", "actor_user_id", "actor_label", "target_object_id", "target_user_id", "ip_address", "data", "created_at"},
	"releases":             {"id", "organization_id", "version", "created_at"},
	"environments":         {"id", "organization_id", "name", "created_at"},
	"release_environments": {"id", "organization_id", "release_id", "environment_id", "first_seen", "last_seen"},
	"setups":               {"id", "flow", "organization_id", "user_id", "status", "stage", "error_code", "error_message", "result", "idempotency_key", "created_at", "updated_at", "finished_at", "retries", "cancel_requested", "provider_key", "batch_id", "trace_id"},
	"batches":              {"id", "idempotency_key", "total", "created_at", "finished_at"},
	"webhook_deliveries":   {"id", "event_type", "setup_id", "batch_id", "payload", "attempts", "created_at", "next_attempt_at", "delivered_at", "last_status", "last_error"},
	"setup_stages":         {"setup_id", "stage", "status", "attempts", "detail", "started_at", "finished_at"},
	"signals":              {"id", "setup_id", "name", "organization_id", "args", "created_at", "delivered_at"},
	"feature_adoptions":    {"organization_id", "feature", "complete"},
	"onboarding_tasks":     {"organization_id", "task", "status", "data"},
	"outbound_emails":      {"id", "setup_id", "organization_id", "member_id", "to_address", "subject", "body", "created_at", "sent_at", "error"},
}

// specUnique is every uniqueness SPEC §7.1 names (and the per-setup ones of §4), as table → column lists.
var specUnique = map[string][]string{
	"organizations":        {"slug"},
	"users":                {"username"},
	"organization_members": {"organization_id,user_id", "organization_id,email", "token"},
	"auth_providers":       {"organization_id"},
	"auth_identities":      {"auth_provider_id,ident", "auth_provider_id,user_id"},
	"releases":             {"organization_id,version"},
	"environments":         {"name,organization_id"},
	"release_environments": {"environment_id,organization_id,release_id"},
	"setups":               {"idempotency_key"},
	"batches":              {"idempotency_key"},
	"setup_stages":         {"setup_id,stage"},
	"audit_log_entries":    {"setup_id,run,step,event"}, // per setup and retry (SPEC §2 v2), and the step that wrote it
	"signals":              {"setup_id,name"},
	"outbound_emails":      {"setup_id,member_id"},
}

func TestMigrateMatchesSpec(t *testing.T) {
	t.Parallel()
	pool := storagetest.Postgres(t)
	ctx := context.Background()

	before := schemaSnapshot(t, pool)
	n, err := postgres.Migrate(ctx, pool)
	if err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	if n != 0 {
		t.Errorf("second migrate applied %d migrations, want 0", n)
	}
	if after := schemaSnapshot(t, pool); !slices.Equal(before, after) {
		t.Errorf("second migrate changed the schema:\nbefore %v\nafter  %v", before, after)
	}

	cols := map[string][]string{}
	for _, row := range before {
		table, col, _ := strings.Cut(row, ".")
		cols[table] = append(cols[table], strings.Fields(col)[0])
	}
	for table, want := range specColumns {
		for _, c := range want {
			if !slices.Contains(cols[table], c) {
				t.Errorf("table %s lacks column %s (have %v)", table, c, cols[table])
			}
		}
	}

	unique := uniqueColumnSets(t, pool)
	for table, sets := range specUnique {
		for _, set := range sets {
			if !slices.Contains(unique[table], sortedSet(set)) {
				t.Errorf("table %s has no unique constraint on (%s); has %v", table, set, unique[table])
			}
		}
	}
}

func sortedSet(cols string) string {
	s := strings.Split(cols, ",")
	slices.Sort(s)
	return strings.Join(s, ",")
}

// schemaSnapshot lists "table.column type nullable default" for the current schema, sorted.
func schemaSnapshot(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
		SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '')
		FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// uniqueColumnSets maps each table to its unique indexes, as comma-joined sorted column names.
func uniqueColumnSets(t *testing.T, pool *pgxpool.Pool) map[string][]string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
		SELECT c.relname, string_agg(a.attname, ',' ORDER BY a.attname)
		FROM pg_index i
		JOIN pg_class c ON c.oid = i.indrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (i.indkey)
		WHERE i.indisunique
		GROUP BY c.relname, i.indexrelid`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for rows.Next() {
		var table, cols string
		if err := rows.Scan(&table, &cols); err != nil {
			t.Fatal(err)
		}
		out[table] = append(out[table], cols)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
