package invariants

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ssosetup/ssosetup/eventstream"
	"github.com/ssosetup/ssosetup/storage/clickhouse"
	"github.com/ssosetup/ssosetup/storage/storagetest"
)

// A load test of 10,000 jobs checks 10,000 ids: more than one ClickHouse query may carry.
func TestCheckCountsEventsOfManyJobs(t *testing.T) {
	ctx := context.Background()
	pool := storagetest.Postgres(t)
	ch := storagetest.ClickHouse(t)
	ids := make([]uuid.UUID, 10_000)
	for i := range ids {
		ids[i] = uuid.New()
	}
	var events []eventstream.Event
	for _, i := range []int{0, eventCountChunk, len(ids) - 1} { // one in the first, second and last chunk
		events = append(events, eventstream.Build(eventstream.Job{SetupID: ids[i], OrganizationID: 1, CreatedAt: time.Now()}))
	}
	if err := clickhouse.NewEvents(ch).Insert(ctx, events); err != nil {
		t.Fatal(err)
	}

	r, err := Check(ctx, pool, ch, ids)
	if err != nil {
		t.Fatal(err)
	}
	if r.Events != 3 {
		t.Errorf("counted %d events, want 3", r.Events)
	}
	if r.OK() || !strings.Contains(strings.Join(r.Problems, "; "), "events in ClickHouse (FINAL): 3 for 10000 jobs") {
		t.Errorf("problems %q: want the missing events reported", r.Problems)
	}
}

// Each check can fail: a "succeeded" setup that left none of its effects behind breaks every one of them.
func TestChecksCanFail(t *testing.T) {
	db := storagetest.NewDB(t)
	ch := storagetest.ClickHouse(t)
	org, user := db.Org("broken", true), db.User("ada")
	member := db.Member(org, user, "owner")
	id := uuid.New()
	db.Exec(`INSERT INTO setups (id, flow, organization_id, user_id, status, stage, request, request_hash, member_id)
		VALUES ($1, 'setup', $2, $3, 'succeeded', 'finish', '{}', 'x', $4)`, id, org, user, member)
	r, err := Check(db.Ctx, db.Pool, ch, []uuid.UUID{id})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(r.Problems, "; ")
	for _, want := range []string{"without all seven stages", "still require 2FA", "sso.enable audit",
		"sso_enabled signal had no effect", "not marked sso_linked", "events in ClickHouse"} {
		if !strings.Contains(got, want) {
			t.Errorf("problems %q lack %q", got, want)
		}
	}
}
