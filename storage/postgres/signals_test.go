package postgres_test

import (
	"fmt"
	"testing"
)

// A signal that can never be delivered (its args are not an object) is set aside with its error in the same
// round, and the others are delivered: one poison row does not block the signals after it.
func TestDeliverSignalsSetsPoisonAside(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	d.Exec(`
		INSERT INTO organizations (id, slug, name) VALUES (1, 'acme', 'Acme');
		INSERT INTO signals (name, organization_id, args) VALUES
			('member_joined', 1, '[55]'),
			('sso_enabled', 1, '{"user_id": 7, "provider": "okta"}'),
			('member_joined', 1, '{"user_id": 8, "organization_member_id": 55}')`)

	n, poison, err := d.store.DeliverSignals(d.Ctx, 10)
	if err != nil || n != 2 || len(poison) != 1 || poison[0].Name != "member_joined" || poison[0].Error == "" {
		t.Fatalf("delivered %d, set aside %+v, %v; want 2 and the malformed one", n, poison, err)
	}
	if n := d.QueryInt(`SELECT count(*) FROM signals WHERE failed_at IS NOT NULL AND error <> '' AND delivered_at IS NULL
		AND jsonb_typeof(args) = 'array'`); n != 1 {
		t.Errorf("%d signals set aside with their error, want the malformed one", n)
	}
	if n := d.QueryInt(`SELECT count(*) FROM feature_adoptions WHERE organization_id = 1 AND feature = 'sso' AND complete`); n != 1 {
		t.Errorf("feature_adoptions: %d rows", n)
	}
	if n := d.QueryInt(`SELECT count(*) FROM onboarding_tasks WHERE organization_id = 1 AND task = 'invite_member'
		AND status = 'complete' AND data->>'invited_member_id' = '55'`); n != 1 {
		t.Errorf("onboarding_tasks: %d rows", n)
	}
	// The next rounds neither deliver nor report anything again.
	if n, poison, err := d.store.DeliverSignals(d.Ctx, 10); err != nil || n != 0 || len(poison) != 0 {
		t.Errorf("second round delivered %d, set aside %v, %v; want nothing", n, poison, err)
	}
}

// member_joined completes the invite_member onboarding task as Sentry's record_member_joined does: a pending
// task is completed by the member who joined, an absent one is created complete, a complete one stays as it
// was.
func TestMemberJoinedCompletesOnboarding(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, before string // the task's row before: "" for none, else status and invited_member_id
		want         string
	}{
		{"absent", "", "complete 55"},
		{"pending", "pending 0", "complete 55"},
		{"complete", "complete 12", "complete 12"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := newDB(t)
			d.Exec(`INSERT INTO organizations (id, slug, name) VALUES (1, 'acme', 'Acme')`)
			if tc.before != "" {
				var status string
				var member int
				if _, err := fmt.Sscan(tc.before, &status, &member); err != nil {
					t.Fatal(err)
				}
				d.Exec(`INSERT INTO onboarding_tasks (organization_id, task, status, data, date_completed)
					VALUES (1, 'invite_member', $1, jsonb_build_object('invited_member_id', $2::int), now() - interval '1 day')`,
					status, member)
			}
			d.Exec(`INSERT INTO signals (name, organization_id, args) VALUES
				('member_joined', 1, '{"user_id": 8, "organization_member_id": 55}')`)
			for range 2 { // delivered at least once: a second delivery changes nothing
				if _, _, err := d.store.DeliverSignals(d.Ctx, 10); err != nil {
					t.Fatal(err)
				}
				d.Exec(`UPDATE signals SET delivered_at = NULL`)
			}
			var status string
			var member int
			var fresh bool
			d.Scan(`SELECT status, (data->>'invited_member_id')::int, date_completed > now() - interval '1 hour'
				FROM onboarding_tasks WHERE organization_id = 1 AND task = 'invite_member'`, nil, &status, &member, &fresh)
			if got := fmt.Sprint(status, " ", member); got != tc.want {
				t.Errorf("task %q, want %q", got, tc.want)
			}
			if wantFresh := tc.name != "complete"; fresh != wantFresh {
				t.Errorf("date_completed moved: %v, want %v", fresh, wantFresh)
			}
		})
	}
}
