package postgres_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/storage/postgres"
)

// A job is finished once, whoever races to end it: four deliveries of a failing stage and two cancels at the
// same moment leave its batch counted out once, one webhook for the job and one for the batch.
func TestAJobIsFinishedOnceUnderRacingEnds(t *testing.T) {
	t.Parallel()
	for round := range 10 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			t.Parallel()
			d := newDB(t)
			d.store.SetWebhookURLs([]string{"https://hooks.example/a", "https://hooks.example/b"})
			org, user := d.Org("acme", false), d.User("ada") // ada is no member: start fails
			batch := uuid.New()
			d.Exec(`INSERT INTO batches (id, request_hash, total, unfinished) VALUES ($1, '', 2, 2)`, batch)
			failing := d.job(setupRequest(org, user), ssosetup.StageStart, ssosetup.Job{})
			other := d.job(setupRequest(org, user), ssosetup.StageStart, ssosetup.Job{})
			d.Exec(`UPDATE setups SET batch_id = $1`, batch)

			var wg sync.WaitGroup
			gate := make(chan struct{})
			for i := range 6 {
				wg.Go(func() {
					<-gate
					if i < 4 {
						_, _ = d.run(ssosetup.StageStart, failing)
					} else if _, _, err := d.store.CancelJob(d.Ctx, failing, postgres.AnyRun); err != nil {
						t.Error(err)
					}
				})
			}
			close(gate)
			wg.Wait()
			var unfinished int
			d.Scan(`SELECT unfinished FROM batches WHERE id = $1`, []any{batch}, &unfinished)
			hooks := d.QueryInt(`SELECT count(*) FROM webhook_deliveries WHERE setup_id = $1`, failing)
			if unfinished != 1 || hooks != 2 {
				t.Fatalf("after the racing ends: %d unfinished in the batch (want 1), %d job webhooks (want 1 per URL)", unfinished, hooks)
			}
			if _, err := d.run(ssosetup.StageStart, other); err == nil {
				t.Fatal("the other job did not fail")
			}
			var finished bool
			d.Scan(`SELECT unfinished = 0 AND finished_at IS NOT NULL FROM batches WHERE id = $1`, []any{batch}, &finished)
			batchHooks := d.QueryInt(`SELECT count(*) FROM webhook_deliveries WHERE batch_id = $1 AND event_type = 'batch.finished'
				AND (payload->'data'->'counts'->>'running')::int = 0
				AND (payload->'data'->'counts'->>'failed')::int + (payload->'data'->'counts'->>'cancelled')::int = 2`, batch)
			if !finished || batchHooks != 2 {
				t.Errorf("batch finished %v, %d batch webhooks with its final counts (want 1 per URL)", finished, batchHooks)
			}
		})
	}
}
