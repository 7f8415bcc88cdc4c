package worker

import (
	"testing"
	"time"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/enqueue"
)

// The cleanup deletes finished jobs older than the retention with everything that belongs to them but the
// audit log, keeps younger and unfinished ones, deletes batches left empty, and runs once per interval
// however many workers ask.
func TestRetentionCleanup(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start()
	org, admin := h.Org("acme", false), h.User("ada")
	h.Member(org, admin, "owner")
	req := plainSetupRequest(org, admin)
	b, err := h.submitter.SubmitBatch(h.Ctx, []enqueue.BatchItem{{Request: &req}}, enqueue.BatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	old := *b.Results[0].SetupID
	if st := h.wait(old); st.Status != ssosetup.StatusSucceeded {
		t.Fatalf("old job %s", st.Status)
	}
	h.eventually("its e-mails and signals written", func() bool {
		return h.QueryInt(`SELECT count(*) FROM signals WHERE setup_id = $1`, old) > 0
	})
	young := h.wait(h.submit(plainSetupRequest(h.Org("young", false), admin))).SetupID // fails: not a member
	h.Exec(`UPDATE setups SET finished_at = now() - interval '31 days' WHERE id = $1`, old)
	h.Exec(`UPDATE batches SET finished_at = now() - interval '31 days' WHERE id = $1`, b.ID)
	audits := h.QueryInt(`SELECT count(*) FROM audit_log_entries WHERE setup_id = $1`, old)

	c, ran, err := h.store.CleanUp(h.Ctx, 720*time.Hour, time.Hour)
	if err != nil || !ran || c.Setups != 1 || c.Batches != 1 {
		t.Fatalf("cleanup: %+v ran %v, %v; want the old job and its batch", c, ran, err)
	}
	for table, n := range map[string]int64{
		"setups":       h.QueryInt(`SELECT count(*) FROM setups WHERE id = $1`, old),
		"setup_stages": h.QueryInt(`SELECT count(*) FROM setup_stages WHERE setup_id = $1`, old),
		"signals":      h.QueryInt(`SELECT count(*) FROM signals WHERE setup_id = $1`, old),
		"batches":      h.QueryInt(`SELECT count(*) FROM batches WHERE id = $1`, b.ID),
	} {
		if n != 0 {
			t.Errorf("%s: %d rows of the old job left", table, n)
		}
	}
	if n := h.QueryInt(`SELECT count(*) FROM audit_log_entries WHERE setup_id = $1`, old); n != audits || n == 0 {
		t.Errorf("audit entries of the old job: %d, want all %d kept", n, audits)
	}
	if n := h.QueryInt(`SELECT count(*) FROM setups WHERE id = $1`, young); n != 1 {
		t.Error("a young job was deleted")
	}
	if _, ran, err := h.store.CleanUp(h.Ctx, 720*time.Hour, time.Hour); err != nil || ran {
		t.Errorf("a second cleanup within the hour ran: %v, %v", ran, err)
	}
}
