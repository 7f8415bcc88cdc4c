package postgres_test

import (
	"context"
	"testing"

	"github.com/ssosetup/ssosetup/storage/postgres"
	"github.com/ssosetup/ssosetup/storage/storagetest"
)

// Delivery is all or nothing: a signal that cannot be delivered (its args are not an object) leaves every
// signal of the round undelivered and no receiver's write behind; once it is gone, the rest are delivered.
func TestDeliverSignalsAllOrNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storagetest.Postgres(t)
	store := postgres.NewStore(pool)
	count := func(sql string) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, sql).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	_, err := pool.Exec(ctx, `
		INSERT INTO organizations (id, slug, name) VALUES (1, 'acme', 'Acme');
		INSERT INTO signals (name, organization_id, args) VALUES
			('sso_enabled', 1, '{"user_id": 7, "provider": "okta"}'),
			('member_joined', 1, '{"user_id": 8, "organization_member_id": 55}'),
			('member_joined', 1, '[55]')`)
	if err != nil {
		t.Fatal(err)
	}

	if n, err := store.DeliverSignals(ctx, 10); err == nil {
		t.Errorf("delivered %d with a malformed signal among them, want an error", n)
	}
	if n := count(`SELECT count(*) FROM signals WHERE delivered_at IS NOT NULL`); n != 0 {
		t.Errorf("%d signals marked delivered after a failed round", n)
	}
	if n := count(`SELECT (SELECT count(*) FROM feature_adoptions) + (SELECT count(*) FROM onboarding_tasks)`); n != 0 {
		t.Errorf("%d receiver rows written by a failed round", n)
	}

	if _, err := pool.Exec(ctx, `DELETE FROM signals WHERE jsonb_typeof(args) <> 'object'`); err != nil {
		t.Fatal(err)
	}
	if n, err := store.DeliverSignals(ctx, 10); err != nil || n != 2 {
		t.Fatalf("delivered %d, %v; want 2", n, err)
	}
	if n := count(`SELECT count(*) FROM feature_adoptions WHERE organization_id = 1 AND feature = 'sso' AND complete`); n != 1 {
		t.Errorf("feature_adoptions: %d rows", n)
	}
	if n := count(`SELECT count(*) FROM onboarding_tasks WHERE organization_id = 1 AND task = 'invite_member'
		AND status = 'complete' AND data->>'invited_member_id' = '55'`); n != 1 {
		t.Errorf("onboarding_tasks: %d rows", n)
	}
	if n, err := store.DeliverSignals(ctx, 10); err != nil || n != 0 {
		t.Errorf("second round delivered %d, %v; want 0", n, err)
	}
}
